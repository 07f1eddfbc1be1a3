//! gamehub's load generator: a lean socket.io client and the benchmark workloads.
//!
//! [`client`] is a socket.io v5 client over WebSocket, used by the server's
//! integration tests and by the load generator; [`http`] is a minimal HTTP
//! client for the JSON API (guest tokens, lobby, leaderboard); [`workloads`]
//! holds the benchmarks (W1 idle, W2 fan-out; W6 store in-process), [`report`] their result
//! pieces and output, [`procfs`] the server's CPU and RSS, [`target`] the
//! loopback-only guard.

#![warn(missing_docs)]

pub mod chart;
pub mod client;
pub mod compare;
pub mod floor;
pub mod http;
pub mod procfs;
pub mod report;
pub mod target;
pub mod workloads;

pub use client::{
    Client, ClientConfig, ClientError, ClientStats, DisconnectReason, Event, Overflow,
};
pub use http::guest_token;
