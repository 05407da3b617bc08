//! The systemd journal as a log source: [`JournalReader`] runs `journalctl --output=json` (the
//! system journal, or a journal file or directory given by path), optionally for one unit, and
//! turns each entry into a [`JournalEntry`]. It resumes after the last cursor it read (stored
//! across restarts by `Store::save_journal_cursor`), and a first read starts the source's
//! back-scan window ago.
//!
//! Everything is bounded whatever the journal holds: at most [`MAX_ENTRIES_PER_POLL`] entries per
//! call (the rest comes on the next calls, in order), messages cut at [`MAX_MESSAGE_BYTES`],
//! journalctl's own output lines read up to [`MAX_JSON_LINE`] bytes, and a journalctl that stops
//! answering is killed after [`POLL_TIMEOUT`]. A poll blocks, so it runs on a blocking thread.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use super::format::Level;

/// Entries one [`JournalReader::poll`] returns at most; a backlog is read over several polls.
pub const MAX_ENTRIES_PER_POLL: usize = 5_000;
/// Bytes of a message kept; the rest is cut (at a character boundary) and marked.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Bytes of one JSON line of journalctl's output read at most. journalctl writes fields over
/// 4096 bytes as `null` (it is not run with `--all`), and only a handful of fields is asked
/// for, so a real entry is far below this; a longer line is skipped, never buffered whole.
pub const MAX_JSON_LINE: usize = 64 * 1024;
/// How long one journalctl run may take before it is killed.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// What is appended to a cut message.
const CUT_MARKER: &str = " […]";
/// What stands for a message journalctl did not print (over 4096 bytes without `--all`).
const UNSHOWN_MESSAGE: &str = "[message not shown: longer than journalctl prints]";
/// Bytes of journalctl's stderr kept for an error message.
const MAX_STDERR: usize = 2048;
/// The fields asked for besides the cursor and timestamps journalctl always writes.
const FIELDS: &str = "MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_PID,_HOSTNAME";

#[derive(Debug, Error)]
pub enum JournalError {
    #[error(
        "cannot run journalctl: it is not installed\n  fix: install systemd (Debian/Ubuntu: apt-get install systemd), or use a file source instead of the journal"
    )]
    Missing,
    #[error("cannot run journalctl: {reason}\n  fix: check that this user may execute journalctl")]
    Spawn { reason: std::io::Error },
    #[error("`{command}` failed ({status}): {stderr}\n  fix: {fix}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
        fix: String,
    },
    #[error(
        "journalctl rejected the stored cursor {cursor:?}: {stderr}\n  fix: none needed, the next read starts over from the back-scan window (entries in it may be counted again)"
    )]
    BadCursor { cursor: String, stderr: String },
    #[error(
        "`{command}` gave no answer within {} s and was stopped\n  fix: check that the journal (or the file given) is readable and not on a hung mount",
        POLL_TIMEOUT.as_secs()
    )]
    TimedOut { command: String },
}

/// One journal entry, with the fields the findings use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub at: DateTime<Utc>,
    /// syslog priority 0 (emerg) … 7 (debug), when the entry has one.
    pub priority: Option<u8>,
    pub unit: Option<String>,
    pub identifier: Option<String>,
    pub pid: Option<u32>,
    pub hostname: Option<String>,
    /// The message, lossily decoded when it was binary, cut at [`MAX_MESSAGE_BYTES`].
    pub message: String,
    /// Where this entry is in the journal: reading resumes after it.
    pub cursor: String,
}

impl JournalEntry {
    /// The level the priority stands for: 0–3 error, 4 warning, 5–6 info, 7 debug.
    pub fn level(&self) -> Option<Level> {
        match self.priority? {
            0..=3 => Some(Level::Error),
            4 => Some(Level::Warn),
            5 | 6 => Some(Level::Info),
            7 => Some(Level::Debug),
            _ => None,
        }
    }

    /// The entry as a syslog line (`Dec  5 02:41:07 host sshd[123]: message`, time in UTC), so
    /// the recipes and formats written for auth.log and syslog read the journal the same way.
    pub fn line(&self) -> String {
        let host = self.hostname.as_deref().map_or("-".into(), tag_word);
        let program = self
            .identifier
            .as_deref()
            .or(self.unit.as_deref())
            .map_or("journal".into(), tag_word);
        let stamp = self.at.format("%b %e %H:%M:%S");
        match self.pid {
            Some(pid) => format!("{stamp} {host} {program}[{pid}]: {}", self.message),
            None => format!("{stamp} {host} {program}: {}", self.message),
        }
    }
}

/// A host or program name as one word of a syslog line (a space would end it early).
fn tag_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Reads one journal (the system's, or a file or directory) from a cursor on.
#[derive(Debug, Clone)]
pub struct JournalReader {
    unit: Option<String>,
    file: Option<PathBuf>,
    cursor: Option<String>,
    back_scan: Duration,
}

impl JournalReader {
    /// A reader of `unit`'s entries (all when `None`) in `file` (a journal file, or a directory
    /// of them; the system journal when `None`), resuming after `cursor`, or starting
    /// `back_scan` ago when there is none.
    pub fn new(
        unit: Option<String>,
        file: Option<PathBuf>,
        cursor: Option<String>,
        back_scan: Duration,
    ) -> JournalReader {
        JournalReader {
            unit,
            file,
            cursor,
            back_scan,
        }
    }

    /// The cursor of the last entry read (or the one the reader started from): what to store
    /// so a restart resumes here.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The entries after the cursor, oldest first, at most [`MAX_ENTRIES_PER_POLL`]; an empty
    /// list when nothing new was written. Blocks for up to [`POLL_TIMEOUT`].
    pub fn poll(&mut self) -> Result<Vec<JournalEntry>, JournalError> {
        let args = self.args(Utc::now());
        let command = format!("journalctl {}", args.join(" "));
        let mut child = match Command::new("journalctl")
            .args(&args)
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(JournalError::Missing);
            }
            Err(reason) => return Err(JournalError::Spawn { reason }),
        };
        let (sender, entries) = mpsc::sync_channel(256);
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            if let Some(stdout) = stdout {
                read_entries(stdout, &sender);
            }
        });
        let stderr = child.stderr.take();
        let errors = std::thread::spawn(move || stderr.map(read_stderr).unwrap_or_default());

        let deadline = Instant::now() + POLL_TIMEOUT;
        let mut read = Vec::new();
        let mut timed_out = false;
        while read.len() < MAX_ENTRIES_PER_POLL {
            let left = deadline.saturating_duration_since(Instant::now());
            match entries.recv_timeout(left) {
                Ok(entry) => read.push(entry),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    break;
                }
            }
        }
        // Enough entries, or too long: the rest is for the next poll (or nobody). Dropping the
        // receiver ends the reader thread at its next send.
        let stopped = read.len() >= MAX_ENTRIES_PER_POLL || timed_out;
        drop(entries);
        let (status, stderr) = if stopped {
            let _ = child.kill();
            // Reaped in the background: a journalctl stuck in the kernel (a hung mount) outlives
            // a kill until its I/O returns, and the poll must not wait for that.
            std::thread::spawn(move || child.wait());
            (None, String::new())
        } else {
            // Its output ended, so it has exited or is about to.
            let status = child.wait().ok();
            let _ = reader.join();
            (status, errors.join().unwrap_or_default())
        };

        if let Some(last) = read.last() {
            self.cursor = Some(last.cursor.clone());
        }
        if timed_out && read.is_empty() {
            return Err(JournalError::TimedOut { command });
        }
        match status {
            Some(status) if !status.success() && !stopped && read.is_empty() => {
                let stderr = stderr.trim().to_owned();
                if let Some(cursor) = self.cursor.take_if(|_| stderr.contains("cursor")) {
                    // A cursor journalctl cannot seek to never will be: start over rather than
                    // fail on every poll.
                    return Err(JournalError::BadCursor { cursor, stderr });
                }
                Err(JournalError::Failed {
                    fix: self.fix(&stderr),
                    command,
                    status: status.to_string(),
                    stderr,
                })
            }
            _ => Ok(read),
        }
    }

    /// journalctl's arguments for the next read.
    fn args(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut args = vec![
            "--output=json".to_owned(),
            "--no-pager".to_owned(),
            "--quiet".to_owned(),
            format!("--output-fields={FIELDS}"),
        ];
        match &self.cursor {
            Some(cursor) => args.push(format!("--after-cursor={cursor}")),
            None => {
                let back =
                    chrono::Duration::from_std(self.back_scan).unwrap_or(chrono::Duration::MAX);
                let since = now
                    .checked_sub_signed(back)
                    .map_or(0, |since| since.timestamp().max(0));
                args.push(format!("--since=@{since}"));
            }
        }
        if let Some(unit) = &self.unit {
            args.push(format!("--unit={unit}"));
        }
        if let Some(file) = &self.file {
            if file.is_dir() {
                args.push(format!("--directory={}", file.display()));
            } else {
                args.push(format!("--file={}", file.display()));
            }
        }
        args
    }

    /// What to do about a failed journalctl, from what it said.
    fn fix(&self, stderr: &str) -> String {
        let lower = stderr.to_ascii_lowercase();
        if lower.contains("permission") || lower.contains("access denied") {
            return match &self.file {
                Some(file) => format!("make {} readable by this user", file.display()),
                None => "run as root or add this user to the systemd-journal group".to_owned(),
            };
        }
        match &self.file {
            Some(file) => format!(
                "check that {} exists and is a journal file (*.journal) or a directory of them",
                file.display()
            ),
            None => "check that journalctl works for this user (journalctl -n 1)".to_owned(),
        }
    }
}

/// Parses journalctl's JSON lines into entries until its output ends or nobody listens.
fn read_entries(stdout: impl Read, sender: &mpsc::SyncSender<JournalEntry>) {
    let mut stdout = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut stdout)
            .take(MAX_JSON_LINE as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() >= MAX_JSON_LINE {
            // Too long to be an entry asked for: skip to the end of the line.
            if skip_line(&mut stdout).is_err() {
                return;
            }
            continue;
        }
        let Some(entry) = parse_entry(&line) else {
            continue;
        };
        if sender.send(entry).is_err() {
            return;
        }
    }
}

/// Reads past the rest of the current line without keeping it.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|byte| *byte == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(());
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    }
}

/// The start of journalctl's stderr, the rest drained so it never blocks on a full pipe.
fn read_stderr(stderr: impl Read) -> String {
    let mut kept = Vec::new();
    let mut stderr = stderr;
    let _ = (&mut stderr).take(MAX_STDERR as u64).read_to_end(&mut kept);
    let _ = std::io::copy(&mut stderr, &mut std::io::sink());
    String::from_utf8_lossy(&kept).into_owned()
}

/// One JSON line of `journalctl --output=json`, or `None` when it is not an entry (no cursor or
/// no time: nothing to resume from or place it at).
fn parse_entry(line: &[u8]) -> Option<JournalEntry> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let fields = value.as_object()?;
    let cursor = text(fields.get("__CURSOR")?)?;
    let micros: i64 = text(fields.get("__REALTIME_TIMESTAMP")?)?.parse().ok()?;
    let at = DateTime::from_timestamp_micros(micros)?;
    let field = |name: &str| fields.get(name).and_then(text);
    Some(JournalEntry {
        at,
        priority: field("PRIORITY").and_then(|priority| priority.trim().parse().ok()),
        unit: field("_SYSTEMD_UNIT"),
        identifier: field("SYSLOG_IDENTIFIER"),
        pid: field("_PID").and_then(|pid| pid.trim().parse().ok()),
        hostname: field("_HOSTNAME"),
        message: fields.get("MESSAGE").map_or_else(String::new, message_text),
        cursor,
    })
}

/// A field's value as text: a string, or the first of several values (a field set more than
/// once is an array of them), or bytes decoded lossily.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(cut(text)),
        Value::Array(items) if items.iter().all(Value::is_u64) => Some(bytes_text(items)),
        Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

/// The message: text, binary (an array of bytes), or what journalctl left out (`null`).
fn message_text(value: &Value) -> String {
    match value {
        Value::Null => UNSHOWN_MESSAGE.to_owned(),
        other => text(other).unwrap_or_default(),
    }
}

/// An array of byte values as text, invalid UTF-8 replaced.
fn bytes_text(items: &[Value]) -> String {
    let bytes: Vec<u8> = items
        .iter()
        .take(MAX_MESSAGE_BYTES + 1)
        .filter_map(Value::as_u64)
        .map(|byte| u8::try_from(byte).unwrap_or(b'?'))
        .collect();
    cut(&String::from_utf8_lossy(&bytes))
}

/// `text` cut to [`MAX_MESSAGE_BYTES`] at a character boundary, with a marker when cut.
fn cut(text: &str) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARKER}", &text[..end])
}
