//! `process` checks: processes whose name or command line matches a pattern, with their count.
//!
//! The process table comes straight from `/proc` (one `stat` read per process, plus `cmdline`
//! when a check matches command lines), on a blocking thread. Many checks share one reading: a
//! table younger than [`TABLE_MAX_AGE`] is reused, and checks that arrive while it is being read
//! wait for it, so 500 process checks every 10 s cost about one scan a second.
//!
//! A process matches when its name contains the pattern, or with `full_command_line` when its
//! command line (arguments joined by spaces) does. Zombies and opsdeck itself never count. The
//! kernel cuts names at 15 bytes; such a name is completed from the program in the command line
//! when that starts with it, so `php-fpm-worker-pool` can be matched whole.

use std::fs;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::CheckOutcome;
use crate::core::model::Unit;
use crate::core::sources::failure::timed_out;
use crate::core::text::printable;

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessCheck {
    /// Matched against the process name, and against the full command line when `full`.
    pub pattern: String,
    pub full_command_line: bool,
    pub min_count: u32,
}

/// How long one reading of the process table serves later checks.
const TABLE_MAX_AGE: Duration = Duration::from_secs(1);
/// Names the kernel keeps are at most this long (TASK_COMM_LEN - 1).
const COMM_LEN: usize = 15;

pub async fn check(check: &ProcessCheck, timeout: Duration) -> CheckOutcome {
    if check.pattern.is_empty() {
        return CheckOutcome::failed("empty process pattern");
    }
    let full = check.full_command_line;
    let reading = tokio::task::spawn_blocking(move || process_table(full));
    let table = match tokio::time::timeout(timeout, reading).await {
        Err(_) => return CheckOutcome::failed(timed_out(timeout)),
        Ok(Err(_)) => return CheckOutcome::failed("reading the process table failed"),
        Ok(Ok(Err(error))) => {
            return CheckOutcome::failed(format!("cannot list processes in /proc: {error}"));
        }
        Ok(Ok(Ok(table))) => table,
    };
    let own = std::process::id();
    let count = table
        .iter()
        .filter(|process| process.pid != own && process.matches(&check.pattern, full))
        .count();
    outcome(check, count)
}

/// The verdict for `count` matching processes.
fn outcome(check: &ProcessCheck, count: usize) -> CheckOutcome {
    let wanted = check.min_count.max(1) as usize;
    let detail = match count {
        0 => format!("no process matches \"{}\"", printable(&check.pattern)),
        1 => "1 process".to_owned(),
        n => format!("{n} processes"),
    };
    let detail = if count > 0 && count < wanted {
        format!("{detail}, expected at least {wanted}")
    } else {
        detail
    };
    CheckOutcome {
        ok: count >= wanted,
        latency: None,
        detail,
        metrics: vec![("service.process_count", count as f64, Unit::Count)],
    }
}

/// One live (non-zombie) process.
#[derive(Debug, Clone, PartialEq)]
struct Process {
    pid: u32,
    name: String,
    /// Arguments joined by spaces; read only for tables that need it.
    cmdline: Option<String>,
}

impl Process {
    fn matches(&self, pattern: &str, full: bool) -> bool {
        if full {
            self.cmdline
                .as_deref()
                .is_some_and(|cmdline| cmdline.contains(pattern))
        } else {
            self.name.contains(pattern)
        }
    }
}

struct Table {
    taken: Instant,
    with_cmdlines: bool,
    processes: Arc<Vec<Process>>,
}

/// The process table, from the shared reading when it is recent enough. Blocking.
fn process_table(with_cmdlines: bool) -> io::Result<Arc<Vec<Process>>> {
    static LAST: Mutex<Option<Table>> = Mutex::new(None);
    // Held while reading: checks that arrive meanwhile wait and reuse this reading.
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(table) = last.as_ref()
        && table.taken.elapsed() < TABLE_MAX_AGE
        && (table.with_cmdlines || !with_cmdlines)
    {
        return Ok(Arc::clone(&table.processes));
    }
    let taken = Instant::now();
    let processes = Arc::new(read_processes(with_cmdlines)?);
    *last = Some(Table {
        taken,
        with_cmdlines,
        processes: Arc::clone(&processes),
    });
    Ok(processes)
}

/// Reads `/proc`. Processes that end while it is read are skipped.
fn read_processes(with_cmdlines: bool) -> io::Result<Vec<Process>> {
    let mut processes = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let stat = String::from_utf8_lossy(&stat);
        let Some((name, state)) = parse_stat(&stat) else {
            continue;
        };
        if state == 'Z' {
            continue;
        }
        let cmdline = if with_cmdlines || name.len() >= COMM_LEN {
            fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .map(|raw| join_cmdline(&raw))
        } else {
            None
        };
        let name = match cmdline.as_deref() {
            Some(cmdline) if name.len() >= COMM_LEN => full_name(name, cmdline),
            _ => name.to_owned(),
        };
        processes.push(Process {
            pid,
            name,
            cmdline: cmdline.filter(|_| with_cmdlines),
        });
    }
    Ok(processes)
}

/// Name and state from `/proc/PID/stat`: `1234 (name) S 1 …`. The name may hold spaces and
/// parentheses, so it ends at the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, char)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let state = stat.get(close + 1..)?.trim_start().chars().next()?;
    Some((name, state))
}

/// `/proc/PID/cmdline` (NUL-separated arguments) as one line.
fn join_cmdline(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.trim_end_matches('\0').replace('\0', " ")
}

/// A name the kernel cut at 15 bytes, completed from the program in the command line when that
/// starts with it (`php-fpm-worker-` + `/usr/sbin/php-fpm-worker-pool …`).
fn full_name(comm: &str, cmdline: &str) -> String {
    let program = cmdline.split(' ').next().unwrap_or_default();
    let base = program.rsplit('/').next().unwrap_or(program);
    if base.len() > comm.len() && base.starts_with(comm) {
        base.to_owned()
    } else {
        comm.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pattern: &str, min_count: u32) -> ProcessCheck {
        ProcessCheck {
            pattern: pattern.to_owned(),
            full_command_line: false,
            min_count,
        }
    }

    #[test]
    fn stat_lines_parse() {
        assert_eq!(
            parse_stat("1234 (nginx) S 1 1234 1234 0 -1"),
            Some(("nginx", 'S'))
        );
        assert_eq!(
            parse_stat("77 (odd) name)) Z 1 77"),
            Some(("odd) name)", 'Z'))
        );
        assert_eq!(
            parse_stat("9 (tmux: server) R 1"),
            Some(("tmux: server", 'R'))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn cmdlines_and_long_names() {
        assert_eq!(join_cmdline(b"sleep\x0031.5\x00"), "sleep 31.5");
        assert_eq!(
            join_cmdline(b"nginx: worker process\x00\x00"),
            "nginx: worker process"
        );
        assert_eq!(
            full_name(
                "php-fpm-worker-",
                "/usr/sbin/php-fpm-worker-pool --nodaemonize"
            ),
            "php-fpm-worker-pool"
        );
        assert_eq!(full_name("kworker/0:1-eve", ""), "kworker/0:1-eve");
        assert_eq!(full_name("abcdefghijklmno", "other"), "abcdefghijklmno");
    }

    #[test]
    fn matching() {
        let process = Process {
            pid: 1,
            name: "nginx".into(),
            cmdline: Some("nginx: master process /usr/sbin/nginx -g daemon on;".into()),
        };
        assert!(process.matches("nginx", false));
        assert!(process.matches("ngi", false));
        assert!(!process.matches("master", false));
        assert!(process.matches("master process", true));
        assert!(!process.matches("apache", true));
    }

    #[test]
    fn verdicts() {
        let none = outcome(&spec("nginx", 1), 0);
        assert!(!none.ok);
        assert_eq!(none.detail, "no process matches \"nginx\"");
        assert_eq!(
            none.metrics,
            vec![("service.process_count", 0.0, Unit::Count)]
        );
        let one = outcome(&spec("nginx", 0), 1);
        assert!(one.ok);
        assert_eq!(one.detail, "1 process");
        let few = outcome(&spec("worker", 4), 3);
        assert!(!few.ok);
        assert_eq!(few.detail, "3 processes, expected at least 4");
        let enough = outcome(&spec("worker", 3), 3);
        assert!(enough.ok);
        assert_eq!(enough.detail, "3 processes");
    }

    #[test]
    fn the_table_has_this_process() {
        let table = process_table(true).unwrap();
        let own = std::process::id();
        let me = table.iter().find(|process| process.pid == own).unwrap();
        assert!(me.cmdline.as_deref().is_some_and(|line| !line.is_empty()));
    }
}
