//! The end-of-run tables: each server's figures side by side, then gamehub's as ratios to each other server.

use super::play;
use super::{CompareReport, ServerKind, ServerReport, Step, Suite};

/// Prints the W1, W2, W3, W4, W6 and ratio tables.
pub fn print(report: &CompareReport) {
    let servers = &report.servers;
    let o = &report.options;
    println!("\n{} on {}", report.date, report.machine);
    for s in servers {
        println!("  {:<8} {}", s.kind.to_string(), s.version);
    }

    let w1: Vec<&ServerReport> = servers
        .iter()
        .filter(|s| s.kind.speaks_socketio())
        .collect();
    if o.workloads.contains(&Suite::W1) && !w1.is_empty() {
        let rows = vec![
            row("sockets held", &w1, |s| s.w1.map(|w| w.sockets.to_string())),
            row("RSS per socket (KiB)", &w1, |s| {
                s.w1.and_then(|w| w.rss_per_socket_kb)
                    .map(|v| format!("{v:.1}"))
            }),
            row("connects/s", &w1, |s| {
                s.w1.map(|w| format!("{:.0}", w.connects_per_sec))
            }),
            row("idle CPU (% of a core)", &w1, |s| {
                s.w1.and_then(|w| w.idle_cpu_percent)
                    .map(|v| format!("{v:.2}"))
            }),
            row("errors", &w1, |s| s.w1.map(|w| w.errors.to_string())),
        ];
        grid(
            &format!(
                "W1 idle: {} sockets held {} s",
                o.w1_sockets, o.w1_hold_secs
            ),
            &w1,
            &rows,
        );
    }

    if o.workloads.contains(&Suite::W2) {
        print_w2(report);
    }
    if o.workloads.contains(&Suite::W3) {
        print_w3(report);
    }
    if o.workloads.contains(&Suite::W4) {
        print_w4(report);
    }
    if o.workloads.contains(&Suite::W6) {
        print_w6(report);
    }

    if let Some(hub) = servers.iter().find(|s| s.kind == ServerKind::Gamehub) {
        let others: Vec<&ServerReport> = servers
            .iter()
            .filter(|s| s.kind != ServerKind::Gamehub)
            .collect();
        if !others.is_empty() {
            print_ratios(hub, &others);
        }
    }
    for s in servers {
        for problem in &s.problems {
            println!("! {}: {problem}", s.kind);
        }
    }
}

fn print_w2(report: &CompareReport) {
    let o = &report.options;
    let all: Vec<&ServerReport> = report.servers.iter().collect();
    let rows = vec![
        row("max sustained deliveries/s", &all, |s| {
            s.w2_max().map(|m| {
                if s.generator_bound() {
                    format!("≥{:.0} (generator-bound)", m.deliveries_per_sec)
                } else {
                    format!("{:.0}", m.deliveries_per_sec)
                }
            })
        }),
        row("  at rate (Hz per player)", &all, |s| {
            s.w2_max().map(|m| m.rate_hz.to_string())
        }),
        row("80% run: deliveries/s", &all, |s| {
            s.w2_at_80
                .as_ref()
                .map(|m| format!("{:.0}", m.deliveries_per_sec))
        }),
        row("80% run: p50 / p99 (ms)", &all, |s| {
            s.w2_at_80
                .as_ref()
                .map(|m| format!("{:.2} / {:.2}", m.latency.p50_ms, m.latency.p99_ms))
        }),
        row("80% run: CPU-s per 1M deliveries", &all, |s| {
            s.w2_at_80
                .as_ref()
                .and_then(|m| m.cpu_secs_per_million)
                .map(|c| format!("{c:.2}"))
        }),
        row("80% run: delivery ratio", &all, |s| {
            s.w2_at_80
                .as_ref()
                .map(|m| format!("{:.5}", m.delivery_ratio))
        }),
    ];
    grid(
        &format!(
            "W2 fan-out: {} rooms x {} players, ladder {:?} Hz, {} s steps",
            o.w2_rooms, o.w2_players, o.w2_rates, o.w2_step_secs
        ),
        &all,
        &rows,
    );
}

fn print_w3(report: &CompareReport) {
    let o = &report.options;
    let players: Vec<&ServerReport> = report
        .servers
        .iter()
        .filter(|s| s.kind.plays_games())
        .collect();
    if players.is_empty() {
        return;
    }
    let mut rows = vec![row("acks", &players, |s| {
        Some(if s.kind == ServerKind::Gamehub {
            "durable (SQLite)".to_owned()
        } else {
            "in memory".to_owned()
        })
    })];
    for &rate in &o.w3_rates {
        let at = |s: &ServerReport| {
            s.w3_steps
                .iter()
                .find(|p| p.target_per_sec == rate)
                .cloned()
        };
        rows.push(row(&format!("{rate}/s: moves/s"), &players, |s| {
            at(s).map(|p| {
                let mark = if p.reached { "" } else { " (not reached)" };
                format!("{:.0}{mark}", p.actions_per_sec)
            })
        }));
        rows.push(row(
            &format!("{rate}/s: ack p50 / p99 (ms)"),
            &players,
            |s| at(s).map(|p| format!("{:.2} / {:.2}", p.ack.p50_ms, p.ack.p99_ms)),
        ));
        rows.push(row(
            &format!("{rate}/s: CPU-s per 1,000 moves"),
            &players,
            |s| {
                at(s)
                    .and_then(|p| p.cpu_secs_per_thousand)
                    .map(|c| format!("{c:.3}"))
            },
        ));
    }
    grid(
        &format!(
            "W3 play: {} tic-tac-toe rooms (two bots each), {} s per rate after {} s of warm-up, a fresh server per rate",
            o.w3_rooms, o.w3_secs, o.w3_warmup_secs
        ),
        &players,
        &rows,
    );
}

fn print_w4(report: &CompareReport) {
    let o = &report.options;
    let clustered: Vec<&ServerReport> = report
        .servers
        .iter()
        .filter(|s| s.kind.clusters())
        .collect();
    if clustered.is_empty() {
        return;
    }
    let w4 = |f: fn(&super::ClusterFigures) -> String| move |s: &ServerReport| s.w4.as_ref().map(f);
    let rows = vec![
        row(
            "one instance: deliveries/s",
            &clustered,
            w4(|w| format!("{:.0}", w.baseline_per_sec)),
        ),
        row(
            "one instance: p50 / p99 (ms)",
            &clustered,
            w4(|w| {
                format!(
                    "{:.2} / {:.2}",
                    w.baseline_latency.p50_ms, w.baseline_latency.p99_ms
                )
            }),
        ),
        row(
            "split over two: deliveries/s",
            &clustered,
            w4(|w| format!("{:.0}", w.split_per_sec)),
        ),
        row(
            "split: delivery ratio",
            &clustered,
            w4(|w| format!("{:.5}", w.split_delivery)),
        ),
        row(
            "split: p50 / p99 (ms)",
            &clustered,
            w4(|w| {
                format!(
                    "{:.2} / {:.2}",
                    w.split_latency.p50_ms, w.split_latency.p99_ms
                )
            }),
        ),
        row(
            "added p50 / p99 (ms)",
            &clustered,
            w4(|w| format!("{:+.2} / {:+.2}", w.added_p50_ms, w.added_p99_ms)),
        ),
        row("split: CPU-s per 1M (both instances)", &clustered, |s| {
            s.w4.as_ref()
                .and_then(|w| w.split_cpu_secs_per_million)
                .map(|c| format!("{c:.2}"))
        }),
        row("split: Redis CPU-s per 1M", &clustered, |s| {
            s.w4.as_ref()
                .and_then(|w| w.redis_cpu_secs_per_million)
                .map(|c| format!("{c:.2}"))
        }),
    ];
    grid(
        &format!(
            "W4 cluster: {} rooms x {} players @ {} Hz, {} s per run, Redis {}",
            o.w4_rooms, o.w2_players, o.w4_rate_hz, o.w4_secs, o.redis
        ),
        &clustered,
        &rows,
    );
}

fn print_w6(report: &CompareReport) {
    let o = &report.options;
    let hub: Vec<&ServerReport> = report
        .servers
        .iter()
        .filter(|s| s.kind == ServerKind::Gamehub)
        .collect();
    if hub.is_empty() {
        return;
    }
    let w6 = |f: fn(&super::StoreFigures) -> String| move |s: &ServerReport| s.w6.as_ref().map(f);
    let rows = vec![
        row(
            "group commit: durable actions/s",
            &hub,
            w6(|w| format!("{:.0}", w.group_per_sec)),
        ),
        row("group commit: writes per commit", &hub, |s| {
            s.w6.as_ref()
                .and_then(|w| w.group_batch_mean)
                .map(|b| format!("{b:.1}"))
        }),
        row(
            "group commit: ack wait p99 (ms)",
            &hub,
            w6(|w| format!("{:.2}", w.group_ack_p99_ms)),
        ),
        row(
            "one transaction per action: actions/s",
            &hub,
            w6(|w| format!("{:.0}", w.single_per_sec)),
        ),
        row(
            "one transaction per action: p99 (ms)",
            &hub,
            w6(|w| format!("{:.2}", w.single_ack_p99_ms)),
        ),
    ];
    grid(
        &format!(
            "W6 store: {} rooms, {} s per mode (gamehub only: the peers keep no journal)",
            o.w6_rooms, o.w6_secs
        ),
        &hub,
        &rows,
    );
}

/// gamehub's figures over (or under) each other server's, oriented so that > 1 means gamehub is better.
fn print_ratios(hub: &ServerReport, others: &[&ServerReport]) {
    let ratio = |h: Option<f64>, p: Option<f64>, higher_is_better: bool| match (h, p) {
        (Some(h), Some(p)) if h > 0.0 && p > 0.0 => Some(format!(
            "{:.2}x",
            if higher_is_better { h / p } else { p / h }
        )),
        _ => None,
    };
    let rss = |s: &ServerReport| s.w1.and_then(|w| w.rss_per_socket_kb);
    let connects = |s: &ServerReport| s.w1.map(|w| w.connects_per_sec);
    let max = |s: &ServerReport| s.w2_max().map(|m| m.deliveries_per_sec);
    let p99 = |s: &ServerReport| s.w2_at_80.as_ref().map(|m| m.latency.p99_ms);
    let cpu = |s: &ServerReport| s.w2_at_80.as_ref().and_then(|m| m.cpu_secs_per_million);
    let rows = vec![
        row("W1 memory per socket (less)", others, |p| {
            ratio(rss(hub), rss(p), false)
        }),
        row("W1 connects/s (more)", others, |p| {
            ratio(connects(hub), connects(p), true)
        }),
        row("W2 max sustained deliveries/s (more)", others, |p| {
            ratio(max(hub), max(p), true)
        }),
        row("W2 p99 at 80% (less)", others, |p| {
            ratio(p99(hub), p99(p), false)
        }),
        row("W2 CPU-s per 1M at 80% (less)", others, |p| {
            ratio(cpu(hub), cpu(p), false)
        }),
        row("W2 CPU-s per 1M at a common rate (less)", others, |p| {
            common_rate(hub, p).and_then(|(h, o)| {
                ratio(h.cpu_secs_per_million, o.cpu_secs_per_million, false)
                    .map(|r| format!("{r} @{} Hz", h.rate_hz))
            })
        }),
        row("W3 highest move rate reached (more)", others, |p| {
            let best = |s: &ServerReport| play::best(&s.w3_steps).map(|b| b.actions_per_sec);
            ratio(best(hub), best(p), true)
        }),
        row("W3 ack p99 at a common rate (less)", others, |p| {
            play::common(&hub.w3_steps, &p.w3_steps).and_then(|(h, o)| {
                ratio(Some(h.ack.p99_ms), Some(o.ack.p99_ms), false)
                    .map(|r| format!("{r} @{}/s", h.target_per_sec))
            })
        }),
        row(
            "W3 CPU-s per 1,000 moves at a common rate (less)",
            others,
            |p| {
                play::common(&hub.w3_steps, &p.w3_steps).and_then(|(h, o)| {
                    ratio(h.cpu_secs_per_thousand, o.cpu_secs_per_thousand, false)
                        .map(|r| format!("{r} @{}/s", h.target_per_sec))
                })
            },
        ),
        row("W4 split deliveries/s (more)", others, |p| {
            let split = |s: &ServerReport| s.w4.as_ref().map(|w| w.split_per_sec);
            ratio(split(hub), split(p), true)
        }),
        row("W4 split p99 (less)", others, |p| {
            let p99 = |s: &ServerReport| s.w4.as_ref().map(|w| w.split_latency.p99_ms);
            ratio(p99(hub), p99(p), false)
        }),
        row(
            "W4 split CPU-s per 1M, both instances (less)",
            others,
            |p| {
                let cpu =
                    |s: &ServerReport| s.w4.as_ref().and_then(|w| w.split_cpu_secs_per_million);
                ratio(cpu(hub), cpu(p), false)
            },
        ),
    ];
    grid(
        "gamehub versus each (>1: gamehub better; for the floor, the share of the floor's result)",
        others,
        &rows,
    );
}

/// The highest ladder rate that both servers passed, with both steps.
fn common_rate<'a>(a: &'a ServerReport, b: &'a ServerReport) -> Option<(&'a Step, &'a Step)> {
    a.w2_steps.iter().filter(|s| s.passed).rev().find_map(|sa| {
        b.w2_steps
            .iter()
            .find(|sb| sb.passed && sb.rate_hz == sa.rate_hz)
            .map(|sb| (sa, sb))
    })
}

type Row = (String, Vec<String>);

fn row(
    label: &str,
    servers: &[&ServerReport],
    cell: impl Fn(&ServerReport) -> Option<String>,
) -> Row {
    let cells = servers
        .iter()
        .map(|s| cell(s).unwrap_or_else(|| "-".to_owned()))
        .collect();
    (label.to_owned(), cells)
}

fn grid(title: &str, servers: &[&ServerReport], rows: &[Row]) {
    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut widths: Vec<usize> = servers.iter().map(|s| s.kind.to_string().len()).collect();
    for (_, cells) in rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    println!("\n{title}");
    print!("{:<label_width$}", "");
    for (s, w) in servers.iter().zip(&widths) {
        print!("  {:>w$}", s.kind.to_string());
    }
    println!();
    for (label, cells) in rows {
        print!("{label:<label_width$}");
        for (c, w) in cells.iter().zip(&widths) {
            print!("  {c:>w$}");
        }
        println!();
    }
}
