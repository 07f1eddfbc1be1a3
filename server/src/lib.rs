//! gamehub: a real-time multiplayer game server.
//!
//! Players connect over socket.io; each game room is an actor task that owns
//! its state; SQLite keeps players' results. [`run`] serves a configured hub
//! on a bound listener, so tests run the real server on port 0.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod error;
pub mod game;
pub mod http;
pub mod hub;
pub mod room;
mod server;
pub mod socket;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use server::{run, shutdown_signal};
