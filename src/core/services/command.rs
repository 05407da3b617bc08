//! `command` checks: run an argv (no shell); exit status 0 is up, anything else is down, with
//! the first line of its output as the detail.
//!
//! The program runs with stdin from /dev/null and stdout and stderr on one pipe (as `2>&1`
//! would), in its own process group. When the timeout passes, the whole group gets SIGKILL, so
//! nothing the check started lingers. Output beyond [`OUTPUT_LIMIT`] is read and dropped, so a
//! chatty program never blocks on a full pipe. A program that exits while something it started
//! in the background still holds the pipe open is judged [`DRAIN_GRACE`] after its exit.
//!
//! [`run`] is shared with the `systemd` kind, which runs `systemctl` the same way.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;

use super::CheckOutcome;
use super::tcp::millis;
use crate::core::model::Unit;
use crate::core::sources::failure::{timed_out, without_os_code};
use crate::core::sources::process::{Process, SpawnError, not_found};
use crate::core::text::printable;

#[derive(Debug, Clone, PartialEq)]
pub struct CommandCheck {
    pub argv: Vec<String>,
}

/// Output kept for the detail (and for `systemctl show`); the rest is read and dropped.
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;
/// Longest detail taken from the output, in characters.
const DETAIL_CHARS: usize = 200;
/// How long the output may stay open after the program has exited.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

pub async fn check(check: &CommandCheck, timeout: Duration) -> CheckOutcome {
    let started = Instant::now();
    let finished = match run(&check.argv, timeout).await {
        Ok(finished) => finished,
        Err(failure) => return CheckOutcome::failed(failure.describe(timeout)),
    };
    let latency = started.elapsed();
    let line = first_line(&finished.output);
    let (ok, detail) = match (finished.status.code(), line) {
        (Some(0), Some(line)) => (true, line),
        (Some(0), None) => (true, "exit 0".to_owned()),
        (Some(code), Some(line)) => (false, format!("exit {code}: {line}")),
        (Some(code), None) => (false, format!("exit {code}")),
        (None, line) => {
            let signal = finished.status.signal().unwrap_or_default();
            let killed = format!("killed by signal {signal}");
            (
                false,
                match line {
                    Some(line) => format!("{killed}: {line}"),
                    None => killed,
                },
            )
        }
    };
    CheckOutcome {
        ok,
        latency: Some(latency),
        detail,
        metrics: vec![("service.latency_ms", millis(latency), Unit::Count)],
    }
}

/// How a program ended, with the start of its combined stdout and stderr.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    /// Up to [`OUTPUT_LIMIT`] bytes of output, as lossy UTF-8.
    pub output: String,
}

/// Why a program gave no exit status.
#[derive(Debug)]
pub(crate) enum RunFailure {
    /// The argv is empty.
    Empty,
    /// No such program.
    NotFound(String),
    /// The program exists but cannot be started (permissions, not an executable…).
    CannotStart(String, io::Error),
    /// It did not end within the timeout; its process group was killed.
    TimedOut,
}

impl RunFailure {
    /// A line for the table: "`prog` was not found: install it …", "timed out after 5s"…
    pub fn describe(&self, timeout: Duration) -> String {
        match self {
            RunFailure::Empty => "no command given".to_owned(),
            RunFailure::NotFound(program) => not_found(program, None),
            RunFailure::CannotStart(program, error) => format!(
                "cannot start `{}`: {}",
                printable(program),
                without_os_code(&error.to_string())
            ),
            RunFailure::TimedOut => timed_out(timeout),
        }
    }
}

/// Runs `argv` without a shell, stdin from /dev/null, stdout and stderr captured together, in a
/// process group of its own that is killed when `timeout` passes (or when the future is dropped
/// half-way: the child is killed on drop).
pub(crate) async fn run(argv: &[String], timeout: Duration) -> Result<Finished, RunFailure> {
    let deadline = tokio::time::Instant::now() + timeout;
    let (program, args) = argv.split_first().ok_or(RunFailure::Empty)?;
    let cannot_start = |error: io::Error| RunFailure::CannotStart(program.clone(), error);
    // One pipe for both streams keeps their lines in the order they were written.
    let (writer, mut reader) = pipe::pipe().map_err(cannot_start)?;
    let writer = writer.into_blocking_fd().map_err(cannot_start)?;
    let writer_too = writer.try_clone().map_err(cannot_start)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer_too));
    let spawned = Process::spawn(&mut command);
    // The command holds our copies of the write end: without dropping it the pipe never ends.
    drop(command);
    let mut process = spawned.map_err(|error| match error {
        SpawnError::NotFound(_) => RunFailure::NotFound(program.clone()),
        SpawnError::CannotStart(_, error) => cannot_start(error),
    })?;

    let mut output = Vec::new();
    let status = {
        let reading = read_capped(&mut reader, &mut output);
        tokio::pin!(reading);
        let mut reading_done = false;
        let status = loop {
            tokio::select! {
                () = &mut reading, if !reading_done => reading_done = true,
                status = process.wait() => match status {
                    Ok(status) => break status,
                    Err(error) => {
                        process.kill().await;
                        return Err(cannot_start(error));
                    }
                },
                () = tokio::time::sleep_until(deadline) => {
                    process.kill().await;
                    return Err(RunFailure::TimedOut);
                }
            }
        };
        if !reading_done {
            // Something the program started may keep the pipe open: do not wait for it.
            let grace = (tokio::time::Instant::now() + DRAIN_GRACE).min(deadline);
            let _ = tokio::time::timeout_at(grace, &mut reading).await;
        }
        status
    };
    Ok(Finished {
        status,
        output: String::from_utf8_lossy(&output).into_owned(),
    })
}

/// Reads until end of file or a read error, keeping the first [`OUTPUT_LIMIT`] bytes.
async fn read_capped(reader: &mut pipe::Receiver, output: &mut Vec<u8>) {
    let mut buffer = [0_u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                let room = OUTPUT_LIMIT.saturating_sub(output.len());
                output.extend_from_slice(&buffer[..read.min(room)]);
            }
        }
    }
}

/// The first line with something on it, made printable and cut to [`DETAIL_CHARS`] characters.
fn first_line(output: &str) -> Option<String> {
    let line = output
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    let line = printable(line);
    if line.chars().count() <= DETAIL_CHARS {
        return Some(line);
    }
    let cut: String = line.chars().take(DETAIL_CHARS - 1).collect();
    Some(format!("{cut}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_skips_blank_lines_and_is_cut() {
        assert_eq!(
            first_line("\n  \n bad thing \nmore"),
            Some("bad thing".into())
        );
        assert_eq!(first_line(" \n\t\n"), None);
        assert_eq!(first_line("a\x1b[2Jb"), Some("a\\x1b[2Jb".into()));
        let long = "x".repeat(300);
        let cut = first_line(&long).unwrap();
        assert_eq!(cut.chars().count(), DETAIL_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn failures_read_well() {
        let timeout = Duration::from_secs(5);
        assert_eq!(RunFailure::TimedOut.describe(timeout), "timed out after 5s");
        assert_eq!(RunFailure::Empty.describe(timeout), "no command given");
    }

    #[tokio::test]
    async fn output_beyond_the_limit_is_dropped_without_blocking() {
        let argv: Vec<String> = ["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; exit 2"]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
        let finished = run(&argv, Duration::from_secs(10)).await.unwrap();
        assert_eq!(finished.status.code(), Some(2));
        assert_eq!(finished.output.len(), OUTPUT_LIMIT);
    }

    #[tokio::test]
    async fn a_background_child_holding_the_pipe_does_not_hold_the_check() {
        let argv: Vec<String> = ["sh", "-c", "echo started; sleep 3 & exit 0"]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
        let started = Instant::now();
        let outcome = check(&CommandCheck { argv }, Duration::from_secs(2)).await;
        assert!(outcome.ok, "{outcome:?}");
        assert_eq!(outcome.detail, "started");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
