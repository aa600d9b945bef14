//! Boxoffice as it runs in production: `boxoffice api` and `boxoffice worker`
//! as separate processes of the real binary, so they can be killed with
//! SIGKILL and started again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::instances::{free_port, wait_for_port};

pub struct Process {
    role: &'static str,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    pub fn new(role: &'static str, env: Vec<(String, String)>, dir: &Path) -> Self {
        Self { role, env, log: dir.join(format!("{role}.log")), child: None }
    }

    pub fn start(&mut self) -> Result<()> {
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
            .arg(self.role)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting boxoffice {}", self.role))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown, no cleanup, whatever was in flight is cut.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether it died by itself (it must not: it reconnects instead).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The API and one worker, with settings pointing at the private instances.
pub struct Boxoffice {
    pub api: Process,
    pub worker: Process,
    pub port: u16,
}

impl Boxoffice {
    pub fn new(
        dir: &Path,
        database_url: String,
        redis_url: String,
        amqp_url: String,
        smtp_url: String,
        extra: &[(&str, String)],
    ) -> Self {
        let port = free_port();
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url),
            ("REDIS_URL", redis_url),
            ("AMQP_URL", amqp_url),
            ("SMTP_URL", smtp_url),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            ("JWT_SECRET", "fault-suite-secret-0123456789abcdef0123".into()),
            ("RATE_LIMITS", "off".into()),
            ("EMAIL_VERIFICATION", "off".into()),
            ("MAIL_DIR", dir.join("mail").display().to_string()),
            ("RUST_LOG", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        Self { api: Process::new("api", env.clone(), dir), worker: Process::new("worker", env, dir), port }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn start_api(&mut self) -> Result<()> {
        self.api.start()?;
        wait_for_port("boxoffice api", self.port, Duration::from_secs(60))
            .with_context(|| format!("api log:\n{}", self.api.log_tail(20)))
    }
}
