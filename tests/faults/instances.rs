//! Private PostgreSQL, Redis and RabbitMQ instances on ports of their own, in
//! a temporary folder: the fault suite stops and starts them at will without
//! touching the machine's shared services (which the main suite uses).
//!
//! PostgreSQL refuses to run as root, and RabbitMQ's start script switches to
//! its own user, so when we are root the folders are handed to those users.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

pub fn wait_for_port(what: &str, port: u16, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    while !port_open(port) {
        if Instant::now() > deadline {
            bail!("{what} did not open port {port} within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Runs `command`, as `user` when we are root; fails with its output.
fn run_as(user: &str, program: &Path, args: &[&str]) -> Result<()> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command.args(args).stdin(Stdio::null()).output().with_context(|| format!("running {program:?}"))?;
    if !output.status.success() {
        bail!(
            "{program:?} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn give_to(user: &str, path: &Path) -> Result<()> {
    if is_root() {
        let status = Command::new("chown").arg("-R").arg(format!("{user}:")).arg(path).status()?;
        if !status.success() {
            bail!("chown {user} {path:?} failed");
        }
    }
    Ok(())
}

/// A PostgreSQL cluster made with `initdb` in a temporary folder.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn create(dir: &Path) -> Result<Self> {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL's server programs (/usr/lib/postgresql/*/bin; apt-get install postgresql)")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .context("no initdb under /usr/lib/postgresql")?;
        let root = dir.join("postgres");
        fs::create_dir_all(&root)?;
        give_to("postgres", &root)?;
        let data = root.join("data");
        let log = root.join("server.log");
        run_as(
            "postgres",
            &bin.join("initdb"),
            &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        )?;
        let pg = Self { bin, data, log, port: free_port() };
        pg.start()?;
        Ok(pg)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn start(&self) -> Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            self.data.parent().unwrap().display()
        );
        let pg_ctl = self.bin.join("pg_ctl");
        let (data, log) = (self.data.to_str().unwrap(), self.log.to_str().unwrap());
        run_as("postgres", &pg_ctl, &["-D", data, "-o", &options, "-l", log, "-w", "-t", "60", "start"])
    }

    /// Stops at once, like a crash: the next start replays the write-ahead log.
    pub fn stop(&self) -> Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        run_as("postgres", &pg_ctl, &["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A `redis-server` child process that keeps nothing on disk (as the machine's does).
pub struct Redis {
    child: Option<Child>,
    log: PathBuf,
    pub port: u16,
}

impl Redis {
    pub fn create(dir: &Path) -> Result<Self> {
        let mut redis = Self { child: None, log: dir.join("redis.log"), port: free_port() };
        redis.start()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")?;
        self.child = Some(child);
        wait_for_port("redis-server", self.port, Duration::from_secs(20))
    }

    /// Killed: everything it held is gone, as after a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A RabbitMQ node of its own (own node name, ports, data folder, no plugins).
pub struct RabbitMq {
    node: String,
    dir: PathBuf,
    child: Option<Child>,
    pub port: u16,
    dist_port: u16,
}

impl RabbitMq {
    pub fn create(dir: &Path) -> Result<Self> {
        let dir = dir.join("rabbitmq");
        fs::create_dir_all(dir.join("mnesia"))?;
        fs::create_dir_all(dir.join("log"))?;
        fs::write(dir.join("enabled_plugins"), "[].\n")?;
        // An empty env file, so the machine's rabbitmq-env.conf (node name) is not read.
        fs::write(dir.join("rabbitmq-env.conf"), "")?;
        let port = free_port();
        fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.local = 127.0.0.1:{port}\n"))?;
        give_to("rabbitmq", &dir)?;
        let node = format!("boxoffice-faults-{}@localhost", std::process::id());
        let mut rabbit = Self { node, dir, child: None, port, dist_port: free_port() };
        rabbit.start()?;
        Ok(rabbit)
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Starts the node (its data folder is kept, so durable queues and
    /// persistent messages come back) and waits for its AMQP port.
    pub fn start(&mut self) -> Result<()> {
        let d = |name: &str| self.dir.join(name).display().to_string();
        let out = fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.out"))?;
        let child = Command::new("rabbitmq-server")
            .current_dir(&self.dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_CONF_ENV_FILE", d("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", d("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", d("mnesia"))
            .env("RABBITMQ_LOG_BASE", d("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins"))
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_PID_FILE", d("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting rabbitmq-server (apt-get install rabbitmq-server)")?;
        self.child = Some(child);
        wait_for_port("rabbitmq-server", self.port, Duration::from_secs(90))
    }

    /// Shuts the node down (as an operator would) and waits until it is gone.
    pub fn stop(&mut self) -> Result<()> {
        let status = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "shutdown"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            // Debian's wrapper runs the server under `su` without exec, so
            // killing our child would leave the server running: its pid file
            // names the real process.
            if let Ok(pid) = fs::read_to_string(self.dir.join("pid")) {
                let _ = Command::new("kill").args(["-9", pid.trim()]).status();
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !status.success() {
            bail!("rabbitmqctl shutdown of {} failed", self.node);
        }
        Ok(())
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}
