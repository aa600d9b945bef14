//! The cluster cases (issue 27): `scripts/cluster.sh`'s topology (three
//! RabbitMQ nodes, Redis with a replica and three Sentinels, HAProxy before
//! two APIs, two workers) on the machine's PostgreSQL, a sale through
//! HAProxy, and parts of it killed with SIGKILL mid-sale. The same checks as
//! every case (nothing lost, nothing applied twice, nothing oversold, one
//! email per confirmed booking), and the killed parts' peers go on without
//! them: the parts are started again only after the sale was checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::checks::{self, EmailIndex, ensure, verdict};
use crate::load::{Load, Tally};
use crate::smtp::SmtpSink;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum ClusterFault {
    RabbitLeader,
    RedisPrimary,
    ApiAndWorker,
    AllAtOnce,
}

impl ClusterFault {
    pub const ALL: [ClusterFault; 4] =
        [ClusterFault::RabbitLeader, ClusterFault::RedisPrimary, ClusterFault::ApiAndWorker, ClusterFault::AllAtOnce];

    pub fn name(self) -> &'static str {
        match self {
            ClusterFault::RabbitLeader => "cluster-rabbitmq-leader",
            ClusterFault::RedisPrimary => "cluster-redis-primary",
            ClusterFault::ApiAndWorker => "cluster-api-and-worker",
            ClusterFault::AllAtOnce => "cluster-all-at-once",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ClusterFault::RabbitLeader => "the RabbitMQ node leading the booking queue killed (SIGKILL)",
            ClusterFault::RedisPrimary => "the Redis primary killed (SIGKILL); Sentinel promotes the replica",
            ClusterFault::ApiAndWorker => "one of two APIs and one of two workers killed (SIGKILL)",
            ClusterFault::AllAtOnce => {
                "the three at once; then, with them still down, a second sale through HAProxy sells out"
            }
        }
    }
}

pub struct ClusterRow {
    fault: ClusterFault,
    tally: Tally,
    verdict: checks::Verdict,
    killed: Vec<String>,
    recovery: Duration,
    second_sale: Option<(i64, i64)>,
}

impl ClusterRow {
    pub const HEADER: &str = "| fault | killed | 202 | bookings | lost | applied twice | 503s | decided again after | second sale (sold of capacity) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |";

    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} bookings, {} seats | {} | {} | {} | {:.1} s | {} |",
            self.fault.description(),
            self.killed.join(", "),
            self.tally.accepted.len(),
            self.verdict.confirmed_bookings,
            self.verdict.confirmed_seats,
            self.verdict.lost,
            self.verdict.applied_twice,
            self.tally.statuses.get(&503).copied().unwrap_or(0),
            self.recovery.as_secs_f64(),
            self.second_sale.map_or("-".to_owned(), |(sold, of)| format!("{sold} of {of}")),
        )
    }
}

/// The topology, started by `scripts/cluster.sh` in a folder and on ports
/// of its own; stopped and removed on drop.
pub struct Cluster {
    env: Vec<(String, String)>,
    settings: HashMap<String, String>,
    pub client: reqwest::Client,
    pub db: sqlx::PgPool,
    organizer: String,
    buyers: Vec<String>,
    emails: EmailIndex,
}

const SEATS: i64 = 3000;
const BUYERS: usize = 6;

impl Cluster {
    pub async fn up(dir: &Path, sink: &SmtpSink) -> Result<Self> {
        let dir: PathBuf = dir.join("cluster");
        let env = vec![
            ("CLUSTER_DIR".to_owned(), dir.display().to_string()),
            ("CLUSTER_PORT_BASE".to_owned(), "21000".to_owned()),
            ("CLUSTER_DB".to_owned(), format!("boxoffice_faults_cluster_{}", std::process::id())),
            ("BOXOFFICE_BIN".to_owned(), env!("CARGO_BIN_EXE_boxoffice").to_owned()),
            ("SMTP_URL".to_owned(), sink.url()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ];
        let mut cluster = Self {
            env,
            settings: HashMap::new(),
            client: reqwest::Client::new(),
            db: sqlx::PgPool::connect_lazy("postgres://postgres@127.0.0.1:5432/postgres")?,
            organizer: String::new(),
            buyers: Vec::new(),
            emails: EmailIndex::default(),
        };
        let out = tokio::task::block_in_place(|| cluster.script(&["up"]))?;
        cluster.settings =
            out.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let database_url = cluster.setting("DATABASE_URL")?;
        cluster.db = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&database_url).await?;
        cluster.organizer = cluster.user().await?;
        for _ in 0..BUYERS {
            let token = cluster.user().await?;
            cluster.buyers.push(token);
        }
        Ok(cluster)
    }

    fn setting(&self, key: &str) -> Result<String> {
        self.settings.get(key).cloned().with_context(|| format!("scripts/cluster.sh up printed no {key}"))
    }

    pub fn base(&self) -> String {
        self.settings.get("BASE").cloned().unwrap_or_default()
    }

    /// Runs `scripts/cluster.sh` with `args`; what it printed.
    fn script(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .context("running scripts/cluster.sh")?;
        if !output.status.success() {
            bail!("scripts/cluster.sh {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn pid(&self, part: &str) -> Result<Option<u32>> {
        let pids = self.script(&["pids"])?;
        let pid = pids.lines().filter_map(|l| l.split_once(' ')).find(|(name, _)| *name == part).map(|(_, p)| p);
        Ok(pid.and_then(|p| p.trim().parse().ok()))
    }

    fn kill9(&self, part: &str) -> Result<()> {
        let pid = self.pid(part)?.with_context(|| format!("{part} is not running"))?;
        Command::new("kill").args(["-9", &pid.to_string()]).status()?;
        Ok(())
    }

    /// Every part running again, so the next case starts whole.
    pub fn repair(&self) -> Result<()> {
        self.script(&["up"]).map(|_| ())
    }

    async fn call(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        crate::api::call(&self.client, &self.base(), path, token, body).await
    }

    async fn user(&self) -> Result<String> {
        crate::api::user(&self.client, &self.base()).await
    }

    async fn sale(&self, title: &str, capacity: i64) -> Result<Uuid> {
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let event = self
            .call(
                "/api/v1/events",
                Some(&self.organizer),
                json!({"title": title, "venue": "Loopback Hall", "starts_at": starts_at, "status": "published",
                       "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": capacity,
                                         "max_per_order": 2, "max_per_buyer": capacity}]}),
            )
            .await?;
        Ok(event["ticket_types"][0]["id"].as_str().context("ticket type id")?.parse()?)
    }

    /// The parts this fault kills, found as they are now (the queue's
    /// leader and the Redis primary move).
    fn victims(&self, fault: ClusterFault) -> Result<Vec<String>> {
        let leader = || self.script(&["leader"]).map(|s| s.trim().to_owned());
        let primary = || self.script(&["primary"]).map(|s| s.trim().to_owned());
        Ok(match fault {
            ClusterFault::RabbitLeader => vec![leader()?],
            ClusterFault::RedisPrimary => vec![primary()?],
            ClusterFault::ApiAndWorker => vec!["api1".into(), "worker1".into()],
            ClusterFault::AllAtOnce => vec![leader()?, primary()?, "api2".into(), "worker2".into()],
        })
    }

    async fn ready(&self) -> bool {
        let ready = self.client.get(format!("{}/readyz", self.base())).send().await;
        ready.is_ok_and(|r| r.status().is_success())
    }

    pub async fn case(&mut self, fault: ClusterFault, sink: &SmtpSink) -> Result<ClusterRow> {
        let tt = self.sale(&format!("Fault: {}", fault.name()), SEATS).await?;
        let load = Load::start(&self.client, &self.base(), &tt.to_string(), &self.buyers);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let killed = tokio::task::block_in_place(|| self.victims(fault))?;
        let members = tokio::task::block_in_place(|| self.script(&["members"]))?;
        println!("faults: the booking queue's members: {}", members.trim());
        let down = Instant::now();
        tokio::task::block_in_place(|| killed.iter().try_for_each(|part| self.kill9(part)))?;
        println!("faults: killed {}", killed.join(", "));
        // The sale goes on without them: a booking accepted after the kill
        // is decided, and HAProxy's door answers ready.
        let recovery = loop {
            let fresh = load.snapshot().accepted_ids(Some(down + Duration::from_millis(200)));
            let decided = !fresh.is_empty() && checks::wait_final(&self.db, &fresh, Duration::ZERO).await < fresh.len();
            if decided && self.ready().await {
                break down.elapsed();
            }
            if down.elapsed() > Duration::from_secs(120) {
                let tally = load.snapshot();
                bail!(
                    "no booking decided within 120 s of the kill ({} accepted since, answers {:?}, {} without one)",
                    fresh.len(),
                    tally.statuses,
                    tally.no_answer
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tally = load.stop().await;
        let v = verdict(&self.db, tt, &tally, &mut self.emails, sink).await?;
        let mut problems = v.problems.clone();
        if tally.unexpected_server_errors() > 0 {
            problems.push(format!("5xx other than 503: {:?}", tally.statuses));
        }
        if !tally.unexpected.is_empty() {
            problems.push(format!("{} unexpected answers, e.g. {}", tally.unexpected.len(), tally.unexpected[0]));
        }
        let second_sale = if fault == ClusterFault::AllAtOnce {
            Some(self.sell_out_on_what_is_left(sink, &mut problems).await?)
        } else {
            None
        };
        tokio::task::block_in_place(|| self.repair())?;
        let row = ClusterRow { fault, tally, verdict: v, killed, recovery, second_sale };
        println!("{}", row.markdown());
        ensure(&problems).map(|()| row)
    }

    /// With the killed parts still down: a new sale through HAProxy sells
    /// every seat, and the checks hold.
    async fn sell_out_on_what_is_left(&mut self, sink: &SmtpSink, problems: &mut Vec<String>) -> Result<(i64, i64)> {
        const CAPACITY: i64 = 400;
        let tt = self.sale("Fault: the second sale", CAPACITY).await?;
        let load = Load::start(&self.client, &self.base(), &tt.to_string(), &self.buyers);
        let started = Instant::now();
        loop {
            let seats = boxoffice::db::invariants::seats(&self.db, tt).await?;
            if seats.remaining == 0 && seats.held == 0 {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                problems.push(format!("the second sale did not sell out within 120 s: {seats:?}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let tally = load.stop().await;
        let v = verdict(&self.db, tt, &tally, &mut self.emails, sink).await?;
        problems.extend(v.problems.iter().map(|p| format!("second sale: {p}")));
        Ok((v.confirmed_seats, CAPACITY))
    }

    /// The last lines of every Boxoffice process's log, for a failed case.
    pub fn log_tails(&self, lines: usize) -> String {
        let dir = self.env.iter().find(|(k, _)| k == "CLUSTER_DIR").map(|(_, v)| PathBuf::from(v)).unwrap_or_default();
        ["api1", "api2", "worker1", "worker2"]
            .iter()
            .map(|part| {
                let text = std::fs::read_to_string(dir.join(part).join("out.log")).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                format!("{part}:\n{}", all[all.len().saturating_sub(lines)..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn down(&self) {
        let _ = self.script(&["down"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.down();
    }
}
