//! Journal helpers shared by the journal tests: entries written in journald's export format
//! and turned into real `.journal` files by `systemd-journal-remote`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};

const BOOT_ID: &str = "6a1b6e7bd0a54d4f9b1c1f6cf0a1d2e3";

/// One entry to write: its time and its fields (values may be binary).
pub struct Record {
    pub at: DateTime<Utc>,
    pub fields: Vec<(&'static str, Vec<u8>)>,
}

pub fn sshd(at: DateTime<Utc>, pid: u32, message: &str) -> Record {
    Record {
        at,
        fields: vec![
            ("_HOSTNAME", b"web1".to_vec()),
            ("_SYSTEMD_UNIT", b"ssh.service".to_vec()),
            ("SYSLOG_IDENTIFIER", b"sshd".to_vec()),
            ("_PID", pid.to_string().into_bytes()),
            ("PRIORITY", b"6".to_vec()),
            ("MESSAGE", message.as_bytes().to_vec()),
        ],
    }
}

pub fn app(at: DateTime<Utc>, priority: u8, message: &[u8]) -> Record {
    Record {
        at,
        fields: vec![
            ("_HOSTNAME", b"web1".to_vec()),
            ("_SYSTEMD_UNIT", b"app.service".to_vec()),
            ("SYSLOG_IDENTIFIER", b"app".to_vec()),
            ("_PID", b"4242".to_vec()),
            ("PRIORITY", priority.to_string().into_bytes()),
            ("MESSAGE", message.to_vec()),
        ],
    }
}

/// `records` in journald's export format. Monotonic times count up from `monotonic` on one
/// boot, so files written one after the other sort after each other.
fn export(records: &[Record], monotonic: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, record) in records.iter().enumerate() {
        let micros = record.at.timestamp_micros();
        out.extend_from_slice(format!("__REALTIME_TIMESTAMP={micros}\n").as_bytes());
        out.extend_from_slice(
            format!("__MONOTONIC_TIMESTAMP={}\n", monotonic + n as u64 * 1000).as_bytes(),
        );
        out.extend_from_slice(format!("_BOOT_ID={BOOT_ID}\n").as_bytes());
        for (name, value) in &record.fields {
            if value.iter().all(|byte| *byte >= b' ' && *byte != 0x7f) {
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(value);
            } else {
                // The export format's binary field: name, newline, little-endian length, data.
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(value);
            }
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

fn journal_remote() -> PathBuf {
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.exists())
    .expect("systemd-journal-remote is missing: apt-get install systemd-journal-remote")
}

/// Writes `records` into the new journal file `path` with the real systemd-journal-remote.
pub fn write_journal(path: &Path, records: &[Record], monotonic: u64) {
    write_export(path, &export(records, monotonic));
}

/// Writes entries already in journald's export format into the new journal file `path`.
pub fn write_export(path: &Path, export: &[u8]) {
    let mut child = Command::new(journal_remote())
        .arg(format!("--output={}", path.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(export).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "systemd-journal-remote failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(path.exists(), "no journal written at {}", path.display());
}
