//! The `gamehub` binary: parse the command line, then serve (handing over to
//! [`gamehub::run`]), or back up or restore the database.

use clap::{Parser, Subcommand};
use gamehub::Config;
use gamehub::store::backup::{self, BackupError, Report};
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Copy the database at DB_PATH to FILE, also while a server runs on it, and check the copy.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the database at DB_PATH with the backup FILE; the server must be stopped.
    Restore {
        /// The backup to restore.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Backup { file, force } => {
            let db = &config.db_path;
            finish(
                "backup",
                backup::backup(db, &file, force),
                format!("backed up {} to {}", db.display(), file.display()),
            )
        }
        Command::Restore { file } => {
            let db = &config.db_path;
            finish(
                "restore",
                backup::restore(db, &file),
                format!("restored {} from {}", db.display(), file.display()),
            )
        }
    }
}

/// Prints what a backup or restore did (stdout) or why it did not (stderr).
fn finish(command: &str, result: Result<Report, BackupError>, done: String) -> ExitCode {
    match result {
        Ok(report) => {
            println!("{done}\n{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gamehub {command} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> ExitCode {
    gamehub::telemetry::init_logs(config.log_format);
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> ExitCode {
    if let Err(e) = config.validate() {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    let addr = SocketAddr::new(config.host, config.port);
    let listener = match listen(addr) {
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

/// Connections the kernel may hold for us before we accept them. The usual
/// default (128) overflowed when a few thousand clients connected at once
/// (W1; a restart's reconnect storm is the same), and each dropped handshake
/// costs its client a retransmit a second later. The kernel caps it at
/// `net.core.somaxconn` (4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's and tokio's `bind` do: a restart may bind while old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
