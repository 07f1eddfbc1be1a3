//! The end-of-run tables: each server's figures side by side, then gamehub's as ratios to each other server.

use super::{CompareReport, ServerKind, ServerReport, Step};

/// Prints the W1, W2 and ratio tables.
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
    if o.w1_sockets > 0 && !w1.is_empty() {
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

    let all: Vec<&ServerReport> = servers.iter().collect();
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
