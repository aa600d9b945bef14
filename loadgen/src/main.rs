//! `boxoffice-loadgen`: drives a running Boxoffice like a crowd does, measures
//! it, and checks from the outside that it kept its promises.

mod browse;
mod buyers;
mod ceilings;
mod client;
mod direct;
mod drain;
mod flash_sale;
mod ledger;
mod on_sale;
mod plot;
mod report;
mod watchers;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "boxoffice-loadgen", version, about = "Load generator for Boxoffice")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A popular event goes on sale: many buyers, few seats.
    FlashSale(flash_sale::Args),
    /// The on-sale: a pre-queue drawn at the open, later arrivals behind, places followed.
    OnSale(on_sale::Args),
    /// Many buyers watching their place (event streams) through an on-sale.
    Watchers(watchers::Args),
    /// Reads: one event and the first page of the list, at a fixed concurrency.
    Browse(browse::Args),
    /// The worker alone: fill the queue straight through RabbitMQ, then time the drain.
    Drain(drain::Args),
    /// What the parts alone can do on this machine.
    Ceilings(ceilings::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::FlashSale(args) => flash_sale::run(args).await,
            Command::OnSale(args) => on_sale::run(args).await,
            Command::Watchers(args) => watchers::run(args).await,
            Command::Browse(args) => browse::run(args).await,
            Command::Drain(args) => drain::run(args).await,
            Command::Ceilings(args) => ceilings::run(args).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("FAILED: see the violations above");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
