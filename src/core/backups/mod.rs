//! Backups: the configured backup sets, what is on disk for each (the inventory), how each set
//! stands against its freshness, size, retention, encryption and restore-test rules, and the
//! backup tasks' shared types. The tasks themselves (create, verify, prune, restore test) live in
//! [`crate::core::tasks::backups`]: this module is the read side.
//!
//! Everything here works on plain files and processes; the store keeps verification and
//! restore-test results, which the status evaluation takes as input.

pub mod detect;
pub mod inventory;
pub mod names;
mod records;
pub mod retention;
pub mod status;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kind of backup a set is expected to hold (the config's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedKind {
    /// `pg_dump` plain SQL, uncompressed.
    PgDumpPlain,
    /// `pg_dump` plain SQL, gzip-compressed (`pg_dump db | gzip`).
    PgDumpGzip,
    /// `pg_dump -Fc`.
    PgDumpCustom,
    TarGz,
    RedisRdb,
    RedisAof,
    /// Encrypted with gpg (or age / openssl enc): only the checksum can be verified.
    Gpg,
    /// Anything: no kind check, checksum verification only.
    Other,
}

impl ExpectedKind {
    pub fn label(self) -> &'static str {
        match self {
            ExpectedKind::PgDumpPlain => "pg_dump plain",
            ExpectedKind::PgDumpGzip => "pg_dump gzip",
            ExpectedKind::PgDumpCustom => "pg_dump custom",
            ExpectedKind::TarGz => "tar.gz",
            ExpectedKind::RedisRdb => "Redis RDB",
            ExpectedKind::RedisAof => "Redis AOF",
            ExpectedKind::Gpg => "encrypted",
            ExpectedKind::Other => "any",
        }
    }

    /// Whether a file detected as `detected` is what this set expects.
    pub fn accepts(self, detected: DetectedKind) -> bool {
        match self {
            ExpectedKind::PgDumpPlain => detected == DetectedKind::PgDumpPlain,
            ExpectedKind::PgDumpGzip => detected == DetectedKind::PgDumpPlainGzip,
            ExpectedKind::PgDumpCustom => detected == DetectedKind::PgDumpCustom,
            ExpectedKind::TarGz => detected == DetectedKind::TarGz,
            ExpectedKind::RedisRdb => detected == DetectedKind::RedisRdb,
            ExpectedKind::RedisAof => {
                matches!(detected, DetectedKind::RedisAof | DetectedKind::RedisRdb)
            }
            ExpectedKind::Gpg => detected.is_encrypted(),
            ExpectedKind::Other => detected != DetectedKind::Empty,
        }
    }

    /// Whether a restore test can use files of this kind.
    pub fn is_pg_dump(self) -> bool {
        matches!(
            self,
            ExpectedKind::PgDumpPlain | ExpectedKind::PgDumpGzip | ExpectedKind::PgDumpCustom
        )
    }
}

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectedKind {
    /// Zero bytes.
    Empty,
    /// Starts with pg_dump's (or pg_dumpall's) SQL header.
    PgDumpPlain,
    /// gzip whose content starts with pg_dump's SQL header.
    PgDumpPlainGzip,
    /// `PGDMP`: pg_dump custom format.
    PgDumpCustom,
    Tar,
    /// gzip whose content is a tar archive.
    TarGz,
    /// gzip holding something else (or whose start could not be inflated).
    Gzip,
    /// `REDIS` + version.
    RedisRdb,
    /// A RESP command stream (`*<n>\r\n`).
    RedisAof,
    /// OpenPGP binary packets or ASCII armour.
    Gpg,
    /// `age-encryption.org/v1`.
    Age,
    /// `Salted__` (openssl enc).
    OpenSslEnc,
    Unknown,
}

impl DetectedKind {
    pub fn is_encrypted(self) -> bool {
        matches!(
            self,
            DetectedKind::Gpg | DetectedKind::Age | DetectedKind::OpenSslEnc
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            DetectedKind::Empty => "empty",
            DetectedKind::PgDumpPlain => "pg_dump sql",
            DetectedKind::PgDumpPlainGzip => "pg_dump sql.gz",
            DetectedKind::PgDumpCustom => "pg_dump custom",
            DetectedKind::Tar => "tar",
            DetectedKind::TarGz => "tar.gz",
            DetectedKind::Gzip => "gzip",
            DetectedKind::RedisRdb => "redis rdb",
            DetectedKind::RedisAof => "redis aof",
            DetectedKind::Gpg => "gpg",
            DetectedKind::Age => "age",
            DetectedKind::OpenSslEnc => "openssl enc",
            DetectedKind::Unknown => "unknown",
        }
    }
}

/// How fresh the newest backup must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// No older than this (the RPO; 24 h by default).
    MaxAge(Duration),
    /// A backup is expected at every occurrence of this 5-field cron schedule (local time),
    /// and may take `grace` to appear.
    Schedule { expression: String, grace: Duration },
}

/// What a prune keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retention {
    /// Everything newer than this many days (30 by default).
    Days(u32),
    /// The newest backup of each of the last `daily` days, `weekly` ISO weeks and `monthly`
    /// months that have backups (grandfather-father-son).
    Calendar {
        daily: u32,
        weekly: u32,
        monthly: u32,
    },
}

/// How `backup-create` makes a backup of a set.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateSource {
    /// `pg_dump` of the database at `url`.
    Postgres { url: String, format: DumpFormat },
    /// `BGSAVE`, then a copy of the RDB file the server wrote.
    Redis { url: String },
    /// A tar.gz of these paths.
    Paths { paths: Vec<PathBuf> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DumpFormat {
    /// Plain SQL, gzip-compressed: `.sql.gz`.
    Gzip,
    /// `pg_dump -Fc`: `.dump`.
    Custom,
}

/// How `restore-test` checks a set's newest PostgreSQL dump.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreSettings {
    /// A server URL whose user may create databases; the throwaway database is made there.
    pub url: String,
    /// Tables whose row count must be above zero after the restore.
    pub tables: Vec<String>,
    /// Queries that must return one value that is true or a number above zero.
    pub queries: Vec<String>,
    /// Warn when the last successful restore test is older than this (30 days by default).
    pub max_age: Duration,
}

/// One configured backup set.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSet {
    pub name: String,
    pub directory: PathBuf,
    /// File name globs; empty means every regular file.
    pub patterns: Vec<String>,
    pub kind: ExpectedKind,
    pub freshness: Freshness,
    pub retention: Retention,
    /// A newest backup smaller than this is a failed backup.
    pub min_size: u64,
    pub encryption_required: bool,
    /// Where `backup-create` gets the data; `None` when another tool makes the backups.
    pub create: Option<CreateSource>,
    /// File name prefix for created backups (default: the set name).
    pub prefix: String,
    pub restore: Option<RestoreSettings>,
}

/// The `<file>.sha256` next to a backup, in `sha256sum` format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sidecar {
    pub path: PathBuf,
    /// Lower-case hex digest, or `None` when the sidecar could not be read or parsed.
    pub digest: Option<String>,
    pub problem: Option<String>,
    pub bytes: u64,
}

/// One backup file as found on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupFile {
    pub path: PathBuf,
    /// The backup's time: from a timestamp in the name when there is one, else the mtime.
    pub time: DateTime<Utc>,
    pub time_from_name: bool,
    pub modified: DateTime<Utc>,
    pub size: u64,
    pub kind: DetectedKind,
    /// Why the file could not be fully inspected (unreadable, vanished, not a regular file).
    pub problem: Option<String>,
    pub sidecar: Option<Sidecar>,
}

/// The result of verifying one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyResult {
    Ok,
    /// The content is damaged (bad gzip, truncated tar, checksum mismatch, pg_restore error).
    Corrupt,
    /// The file changed while it was read: neither good nor bad.
    Changed,
    /// It could not be checked (unreadable, a tool missing).
    Error,
}

impl VerifyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyResult::Ok => "ok",
            VerifyResult::Corrupt => "corrupt",
            VerifyResult::Changed => "changed",
            VerifyResult::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<VerifyResult> {
        match text {
            "ok" => Some(VerifyResult::Ok),
            "corrupt" => Some(VerifyResult::Corrupt),
            "changed" => Some(VerifyResult::Changed),
            "error" => Some(VerifyResult::Error),
            _ => None,
        }
    }
}

/// A stored verification of one file, as it was when verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub set: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: DateTime<Utc>,
    pub verified_at: DateTime<Utc>,
    pub result: VerifyResult,
    pub message: String,
    /// The SHA-256 computed while reading.
    pub sha256: Option<String>,
    pub duration_ms: i64,
}

impl Verification {
    /// Whether this verification is about the file as it is now.
    pub fn matches(&self, file: &BackupFile) -> bool {
        self.size == file.size
            && self.modified.timestamp_millis() == file.modified.timestamp_millis()
    }
}

/// A stored restore test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreTest {
    pub set: String,
    pub file: PathBuf,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub ok: bool,
    pub message: String,
    /// Row counts of the configured tables and results of the sanity queries.
    pub counts: Vec<(String, i64)>,
}

/// The external programs the backup tasks run: PostgreSQL's client tools and Redis's checkers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTools {
    pub pg_dump: PathBuf,
    pub pg_restore: PathBuf,
    pub psql: PathBuf,
    pub redis_check_rdb: PathBuf,
    pub redis_check_aof: PathBuf,
}

impl BackupTools {
    /// PostgreSQL's tools from `pg_bin_dir` (e.g. `/usr/lib/postgresql/16/bin`) when given, else
    /// from `PATH`.
    pub fn new(pg_bin_dir: Option<&std::path::Path>) -> BackupTools {
        let pg = |tool: &str| match pg_bin_dir {
            Some(dir) => dir.join(tool),
            None => PathBuf::from(tool),
        };
        BackupTools {
            pg_dump: pg("pg_dump"),
            pg_restore: pg("pg_restore"),
            psql: pg("psql"),
            redis_check_rdb: PathBuf::from("redis-check-rdb"),
            redis_check_aof: PathBuf::from("redis-check-aof"),
        }
    }
}
