//! Server CPU time and resident memory, read from Linux `/proc/<pid>/stat` and `/proc/<pid>/status`;
//! for in-process benchmarks (W6) also one thread's CPU and scheduling, a
//! process's I/O counters, the whole machine's CPU time, and the filesystem
//! holding a path.
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

/// CPU time (user + system) of thread `tid` of process `pid`, in seconds.
pub fn thread_cpu_secs(pid: u32, tid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))?;
    cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / CLOCK_TICKS_PER_SEC)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable task stat"))
}

/// Ids of the threads of `pid` named `name`; the kernel keeps only the
/// first 15 bytes of a thread's name, so a longer `name` is compared so cut.
pub fn threads_named(pid: u32, name: &str) -> Vec<u32> {
    let name = &name.as_bytes()[..name.len().min(15)];
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read(e.path().join("comm")).ok()?;
            (comm.trim_ascii_end() == name).then_some(tid)
        })
        .collect()
}

/// A thread's scheduling so far, from `/proc/<pid>/task/<tid>/sched`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ThreadSched {
    /// Seconds it ran on a CPU (`se.sum_exec_runtime`, exact, unlike ticks).
    pub run_secs: f64,
    /// Times it blocked (`nr_voluntary_switches`).
    pub voluntary_switches: u64,
    /// Times it was preempted (`nr_involuntary_switches`).
    pub involuntary_switches: u64,
}

/// Reads thread `tid` of `pid`'s scheduling figures.
pub fn thread_sched(pid: u32, tid: u32) -> io::Result<ThreadSched> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/sched"))?;
    parse_sched(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable task sched"))
}

fn parse_sched(text: &str) -> Option<ThreadSched> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    Some(ThreadSched {
        run_secs: field("se.sum_exec_runtime")?.parse::<f64>().ok()? / 1000.0,
        voluntary_switches: field("nr_voluntary_switches")?.parse().ok()?,
        involuntary_switches: field("nr_involuntary_switches")?.parse().ok()?,
    })
}

/// A process's I/O so far, from `/proc/<pid>/io`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct IoCounters {
    /// Bytes read through read syscalls, page-cache hits included (`rchar`).
    pub read_bytes: u64,
    /// Bytes written through write syscalls (`wchar`).
    pub write_bytes: u64,
    /// Read syscalls (`syscr`).
    pub read_calls: u64,
    /// Write syscalls (`syscw`).
    pub write_calls: u64,
    /// Bytes sent to the block device (`write_bytes`).
    pub device_write_bytes: u64,
}

impl IoCounters {
    /// What happened between `self` (earlier) and `later`.
    pub fn until(&self, later: &IoCounters) -> IoCounters {
        IoCounters {
            read_bytes: later.read_bytes.saturating_sub(self.read_bytes),
            write_bytes: later.write_bytes.saturating_sub(self.write_bytes),
            read_calls: later.read_calls.saturating_sub(self.read_calls),
            write_calls: later.write_calls.saturating_sub(self.write_calls),
            device_write_bytes: later
                .device_write_bytes
                .saturating_sub(self.device_write_bytes),
        }
    }
}

/// Reads `pid`'s I/O counters.
pub fn io_counters(pid: u32) -> io::Result<IoCounters> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    parse_io(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable io"))
}

fn parse_io(text: &str) -> Option<IoCounters> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .trim()
            .parse()
            .ok()
    };
    Some(IoCounters {
        read_bytes: field("rchar")?,
        write_bytes: field("wchar")?,
        read_calls: field("syscr")?,
        write_calls: field("syscw")?,
        device_write_bytes: field("write_bytes")?,
    })
}

/// CPU seconds of the whole machine (every core) since boot, from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MachineCpu {
    /// Busy: user, nice, system, irq and softirq.
    pub busy_secs: f64,
    /// Taken by the hypervisor for other guests.
    pub steal_secs: f64,
}

/// Reads the machine's CPU time.
pub fn machine_cpu() -> io::Result<MachineCpu> {
    let text = std::fs::read_to_string("/proc/stat")?;
    parse_machine_cpu(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/stat"))
}

fn parse_machine_cpu(text: &str) -> Option<MachineCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    Some(MachineCpu {
        busy_secs: (at(0) + at(1) + at(2) + at(5) + at(6)) / CLOCK_TICKS_PER_SEC,
        steal_secs: at(7) / CLOCK_TICKS_PER_SEC,
    })
}

/// The mounted filesystem a path is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filesystem {
    /// Its type: `ext4`, `tmpfs`, ...
    pub kind: String,
    /// The device (or `tmpfs`, `overlay`, ...).
    pub device: String,
    /// Where it is mounted.
    pub mount: String,
}

/// The filesystem holding `path` (the longest mount point above it, from
/// `/proc/self/mounts`), or `None` when that cannot be read.
pub fn filesystem_of(path: &std::path::Path) -> Option<Filesystem> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    longest_mount(&mounts, &path)
}

fn longest_mount(mounts: &str, path: &std::path::Path) -> Option<Filesystem> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (device, mount, kind) = (f.next()?, f.next()?, f.next()?);
            let mount = mount.replace("\\040", " ");
            path.starts_with(&mount).then(|| Filesystem {
                kind: kind.to_owned(),
                device: device.to_owned(),
                mount,
            })
        })
        .max_by_key(|fs| fs.mount.len())
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
    #[test]
    fn sched_io_stat_and_mounts_parse() {
        let sched = "gamehub-store-w (77, #threads: 9)\n---\nse.exec_start   :  1.5\n\
                     se.sum_exec_runtime  :   2500.250000\nnr_switches  :  30\n\
                     nr_voluntary_switches  :  20\nnr_involuntary_switches  :  10\n";
        let s = parse_sched(sched).unwrap();
        assert_eq!((s.voluntary_switches, s.involuntary_switches), (20, 10));
        assert!((s.run_secs - 2.50025).abs() < 1e-9);
        let io = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 4096\n";
        let io = parse_io(io).unwrap();
        assert_eq!(
            (io.write_bytes, io.write_calls, io.device_write_bytes),
            (20, 4, 4096)
        );
        let stat = "cpu  100 0 50 1000 5 2 3 7 0 0\ncpu0 1 2 3\n";
        let m = parse_machine_cpu(stat).unwrap();
        assert!((m.busy_secs - 1.55).abs() < 1e-9 && (m.steal_secs - 0.07).abs() < 1e-9);
        let mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n";
        let fs = longest_mount(mounts, std::path::Path::new("/tmp/x/y.db")).unwrap();
        assert_eq!((fs.kind.as_str(), fs.mount.as_str()), ("tmpfs", "/tmp"));
        let root = longest_mount(mounts, std::path::Path::new("/work/db")).unwrap();
        assert_eq!(root.kind, "ext4");
    }

    #[test]
    fn this_thread_and_process_can_be_read() {
        let pid = std::process::id();
        assert!(io_counters(pid).is_ok());
        assert!(machine_cpu().unwrap().busy_secs > 0.0);
        let main = threads_named(pid, &std::fs::read_to_string("/proc/self/comm").unwrap());
        for tid in main {
            thread_cpu_secs(pid, tid).unwrap();
        }
    }
}
