//! The command line: subcommands, start-up and shutdown of the process.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{self, AppState, StartError};
use crate::config::Config;

#[derive(Debug, Parser)]
#[command(name = "boxoffice", version, about = "Event ticketing backend")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// API, worker and mailer in one process (the default).
    Serve,
    /// The HTTP API only.
    Api,
    /// The booking worker only (run as many as you like).
    Worker,
    /// Create the database if missing, apply migrations, exit.
    Migrate,
    /// Inspect or replay the booking dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// The email outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum OutboxCommand {
    /// Put the emails given up on (status `failed`) back in line, after fixing the cause.
    RetryFailed,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DlqCommand {
    /// Print the parked messages, one JSON object per line, leaving them in place.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Send parked messages back to the booking queue.
    Replay {
        /// Every parked message.
        #[arg(long, conflicts_with = "booking")]
        all: bool,
        /// Only the message of this booking.
        #[arg(long, required_unless_present = "all")]
        booking: Option<uuid::Uuid>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_command(cli.command.unwrap_or(Command::Serve), cli.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run_command(command: Command, config: Config) -> Result<(), StartError> {
    match command {
        Command::Migrate => {
            config.validate().map_err(StartError::Config)?;
            crate::db::connect_and_migrate(&config.database_url, 2).await.map_err(|err| StartError::Database {
                url: crate::config::redact_url(&config.database_url),
                reason: format!("{err:#}"),
            })?;
            tracing::info!("database is migrated");
            Ok(())
        }
        Command::Worker => {
            // Only what the worker, the mailer and the webhook sender use: nothing of the API.
            let retention = config.retention();
            let allow_local = config.webhooks_allow_http;
            let (worker, mailer) = app::background(config).await?;
            let webhooks = crate::webhooks::send::SenderContext { db: worker.db.clone(), allow_local };
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            let housekeeping = crate::worker::housekeeping::run(worker.db.clone(), retention, shutdown.clone());
            let tasks = [
                tokio::spawn(housekeeping),
                tokio::spawn(crate::mail::run(mailer, shutdown.clone())),
                tokio::spawn(crate::webhooks::send::run(webhooks, shutdown.clone())),
                tokio::spawn(crate::worker::run(worker, shutdown.clone())),
            ];
            for task in tasks {
                let _ = task.await;
            }
            tracing::info!("stopped");
            Ok(())
        }
        Command::Serve | Command::Api => {
            let mut config = config;
            if config.jwt_secret.is_none() {
                let secret = config.local_jwt_secret(matches!(command, Command::Api)).map_err(StartError::Config)?;
                config.jwt_secret = Some(secret);
            }
            // Bound first: a taken port fails before anything else starts.
            let listener = app::bind(config.bind_addr).await?;
            // Metrics are for the operator: without their port (a second
            // process on one machine, say) the service still runs.
            let metrics = match config.metrics_addr.0 {
                Some(addr) => match app::bind(addr).await {
                    Ok(listener) => Some(listener),
                    Err(err) => {
                        tracing::warn!(error = %err, "/metrics is not served (set METRICS_ADDR to another port, or off)");
                        None
                    }
                },
                None => None,
            };
            let state = AppState::connect(config).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            if let Some(listener) = metrics {
                tracing::info!(addr = ?listener.local_addr().ok(), "metrics at /metrics");
                tokio::spawn(app::serve_metrics(state.clone(), listener, shutdown.clone()));
            }
            // The worker, the mailer and the webhook sender run in `serve` too.
            let background = match command {
                Command::Api => Vec::new(),
                _ => vec![
                    tokio::spawn(crate::worker::run(state.worker(), shutdown.clone())),
                    tokio::spawn(crate::mail::run(state.mailer(), shutdown.clone())),
                    tokio::spawn(crate::webhooks::send::run(state.webhook_sender(), shutdown.clone())),
                    tokio::spawn(crate::worker::housekeeping::run(
                        state.db.clone(),
                        state.config.retention(),
                        shutdown.clone(),
                    )),
                ],
            };
            tracing::info!(addr = %state.config.bind_addr, "listening; API docs at /docs");
            if let Err(err) = app::serve(state, listener, shutdown.clone()).await {
                tracing::error!(error = %err, "server stopped with an error");
            }
            // The API is done: stop the worker too, whatever stopped the server.
            shutdown.cancel();
            for task in background {
                let _ = task.await;
            }
            tracing::info!("stopped");
            Ok(())
        }
        Command::Dlq(dlq) => run_dlq(dlq, config).await,
        Command::Outbox(OutboxCommand::RetryFailed) => {
            let url = crate::config::redact_url(&config.database_url);
            let unreachable = |err: sqlx::Error| StartError::Database { url: url.clone(), reason: err.to_string() };
            let pool = crate::db::pool(&config.database_url, 1).await.map_err(unreachable)?;
            let mut conn = pool.acquire().await.map_err(unreachable)?;
            let count = crate::db::outbox::retry_failed(&mut conn).await.map_err(unreachable)?;
            eprintln!("{count} email(s) back in the outbox");
            Ok(())
        }
    }
}

async fn run_dlq(command: DlqCommand, config: Config) -> Result<(), StartError> {
    let topology = crate::queue::Topology::from_config(&config);
    let broker = crate::queue::Broker::connect(&config.amqp_url, topology.clone(), 1).await;
    let connection = broker
        .connection()
        .map_err(|reason| StartError::Broker { url: crate::config::redact_url(&config.amqp_url), reason })?;
    let failed = |err: lapin::Error| StartError::Broker {
        url: crate::config::redact_url(&config.amqp_url),
        reason: err.to_string(),
    };
    match command {
        DlqCommand::List { limit } => {
            let letters = crate::worker::dlq::list(&connection, &topology, limit).await.map_err(failed)?;
            for letter in &letters {
                println!("{}", serde_json::to_string(letter).unwrap_or_default());
            }
            eprintln!("{} message(s) in {}", letters.len(), topology.dead_queue());
        }
        DlqCommand::Replay { all, booking } => {
            let selection = match (all, booking) {
                (_, Some(id)) => crate::worker::dlq::Selection::Booking(id),
                _ => crate::worker::dlq::Selection::All,
            };
            let count = crate::worker::dlq::replay(&connection, &topology, selection).await.map_err(failed)?;
            eprintln!("replayed {count} message(s) to {}", topology.queue());
        }
    }
    Ok(())
}

/// Cancels `token` on Ctrl-C or SIGTERM.
async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
    token.cancel();
}
