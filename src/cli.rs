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
    /// Create the database if missing, apply migrations, exit.
    Migrate,
}

pub fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_command(
        cli.command.unwrap_or(Command::Serve),
        cli.config,
    )) {
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
            crate::db::connect_and_migrate(&config.database_url, 2)
                .await
                .map_err(|err| StartError::Database {
                    url: crate::config::redact_url(&config.database_url),
                    reason: format!("{err:#}"),
                })?;
            tracing::info!("database is migrated");
            Ok(())
        }
        Command::Serve | Command::Api => {
            let listener = app::bind(config.bind_addr).await?;
            let state = AppState::connect(config).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            tracing::info!(addr = %state.config.bind_addr, "listening; API docs at /docs");
            if let Err(err) = app::serve(state, listener, shutdown).await {
                tracing::error!(error = %err, "server stopped with an error");
            }
            tracing::info!("stopped");
            Ok(())
        }
    }
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
