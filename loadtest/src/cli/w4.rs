//! `loadtest w4`: its flags and its table.

use super::{Common, cpu, errors_text, latency_chart, opt, row, save};
use loadtest::report::{Latency, ServerUsage, print_table};
use loadtest::workloads::{W4Options, W4Result, w4};

/// W4 cluster: W2 with each room's players split over two instances sharing one Redis.
///
/// First runs plain W2 with the same sizes on --url alone (the baseline),
/// then the split run: rooms created on --url, half of each room's players
/// joining through --url and half through --url2.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    common: Common,
    /// Second instance's base URL (loopback only), sharing Redis with --url.
    #[arg(long)]
    url2: String,
    /// Second instance's pid, to read its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid2: Option<u32>,
    /// Redis host:port (loopback only); its pid comes from `INFO server`, its CPU from /proc.
    #[arg(long, default_value = "127.0.0.1:6379")]
    redis: String,
    /// Rooms.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Players per room, split half and half over the two instances.
    #[arg(long, default_value_t = 10)]
    players: usize,
    /// Messages per second per player.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of sending, in each of the two runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds to wait for the last deliveries after sending.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
}

pub(super) async fn run(args: Args) -> Result<(), String> {
    let common = args.common;
    let result = w4(W4Options {
        url: common.url.clone(),
        url2: args.url2,
        rooms: args.rooms,
        players: args.players,
        rate_hz: args.rate,
        seconds: args.seconds,
        drain_secs: args.drain,
        server_pid: common.server_pid,
        server_pid2: args.server_pid2,
        redis: args.redis,
        progress: !common.quiet,
    })
    .await?;
    print_table("W4 cluster", &rows(&result));
    let title = format!(
        "W4 latency by percentile, one instance vs split over two ({} x {} @ {} Hz)",
        result.options.rooms, result.options.players, result.options.rate_hz
    );
    let series = [
        ("one instance".to_owned(), result.baseline.latency),
        ("split over two + Redis".to_owned(), result.split.latency),
    ];
    latency_chart(&common, "w4", &title, &series)?;
    save(&common, "w4", &result)
}

fn latency(l: &Latency) -> String {
    format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms)
}

fn rows(r: &W4Result) -> Vec<(String, String)> {
    let o = &r.options;
    let (b, s) = (&r.baseline, &r.split);
    let redis = |usage: Option<ServerUsage>| match (&r.redis_note, usage) {
        (_, Some(u)) => format!("{:.2} s", u.cpu_secs),
        (Some(note), None) => format!("- ({note})"),
        (None, None) => "-".to_owned(),
    };
    vec![
        row(
            "rooms x players @ rate",
            format!(
                "{} x {} @ {} Hz for {} s per run",
                o.rooms, o.players, o.rate_hz, o.seconds
            ),
        ),
        row("instances", format!("{} and {}", o.url, o.url2)),
        row(
            "baseline (one instance): deliveries",
            format!("{} of {}", b.deliveries, b.expected_deliveries),
        ),
        row(
            "baseline: delivery ratio, deliveries/s",
            format!("{:.6}, {:.0}", b.delivery_ratio, b.deliveries_per_sec),
        ),
        row("baseline: p50 / p99 / max", latency(&b.latency)),
        row("baseline: instance CPU", cpu(b.server)),
        row("baseline: Redis CPU", redis(r.redis_baseline)),
        row(
            "split: setup joins retried after `unavailable`",
            s.setup_retries,
        ),
        row(
            "split (two instances): deliveries",
            format!("{} of {}", s.deliveries, s.expected_deliveries),
        ),
        row(
            "split: delivery ratio, deliveries/s",
            format!("{:.6}, {:.0}", s.delivery_ratio, s.deliveries_per_sec),
        ),
        row("split: players that received nothing", s.silent_members),
        row("split: p50 / p99 / max", latency(&s.latency)),
        row(
            "added p50 / p99",
            format!("{:+.2} / {:+.2} ms", r.added_p50_ms, r.added_p99_ms),
        ),
        row(
            "split: instance 1 / instance 2 CPU",
            format!("{} / {}", cpu(s.server), cpu(s.server2)),
        ),
        row(
            "CPU-s per 1M deliveries: baseline / split (both instances)",
            format!(
                "{} / {}",
                opt(b.cpu_secs_per_million_deliveries, |c| format!("{c:.2}")),
                opt(s.cpu_secs_per_million_deliveries, |c| format!("{c:.2}"))
            ),
        ),
        row("split: Redis CPU", redis(r.redis_split)),
        row(
            "Redis CPU-s per 1M deliveries (split)",
            opt(r.redis_split.filter(|_| s.deliveries > 0), |u| {
                format!("{:.2}", u.cpu_secs / s.deliveries as f64 * 1e6)
            }),
        ),
        row(
            "errors: baseline / split",
            format!(
                "{} / {}",
                errors_text(b.errors.count, &b.errors.first),
                errors_text(s.errors.count, &s.errors.first)
            ),
        ),
    ]
}
