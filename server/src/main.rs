//! The `gamehub` binary: parse the command line, bind, and hand over to [`gamehub::run`].

use clap::{Parser, Subcommand};
use gamehub::Config;
use std::net::SocketAddr;
use std::process::ExitCode;

/// A real-time multiplayer game server.
#[derive(Parser)]
#[command(name = "gamehub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the hub (the default).
    Serve,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config;
    gamehub::telemetry::init_logs(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
    }
}

async fn serve(config: Config) -> ExitCode {
    if let Err(e) = config.validate() {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    let addr = SocketAddr::new(config.host, config.port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {addr} (HOST/PORT): {e}");
            return ExitCode::FAILURE;
        }
    };
    match gamehub::run(listener, config, gamehub::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
