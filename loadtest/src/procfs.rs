//! Server CPU time and resident memory, read from Linux `/proc/<pid>/stat` and `/proc/<pid>/status`.
//!
//! CPU times in `stat` are in clock ticks. Reading the tick rate needs
//! `sysconf(_SC_CLK_TCK)` (libc, unsafe); every Linux build this runs on uses
//! 100, so [`CLOCK_TICKS_PER_SEC`] assumes it.

use serde::Serialize;
use std::io;

/// Assumed `getconf CLK_TCK`: 100 on Linux (x86-64 and arm64 alike).
pub const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process: CPU used so far and memory resident now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcSample {
    /// User plus system CPU time since the process started, in seconds.
    pub cpu_secs: f64,
    /// Resident set size (`VmRSS`), in KiB.
    pub rss_kb: u64,
}

/// Reads `pid`'s CPU time and RSS.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("pid {pid}: {what}"));
    let ticks = cpu_ticks(&stat).ok_or_else(|| bad("unreadable /proc/<pid>/stat"))?;
    let rss_kb = vm_rss_kb(&status).ok_or_else(|| bad("no VmRSS in /proc/<pid>/status"))?;
    Ok(ProcSample {
        cpu_secs: ticks as f64 / CLOCK_TICKS_PER_SEC,
        rss_kb,
    })
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line, in ticks.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself, so count fields from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after `)`
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS:  1234 kB` line of `/proc/<pid>/status`, in KiB.
fn vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_an_odd_command_name() {
        let stat = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 75 0 0 20 0 9 0 1000 123456 789 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn vm_rss_line() {
        let status = "Name:\tgamehub\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kb(status), Some(5120));
        assert_eq!(vm_rss_kb("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let own = sample(std::process::id()).unwrap();
        assert!(own.rss_kb > 0);
        assert!(own.cpu_secs >= 0.0);
    }
}
