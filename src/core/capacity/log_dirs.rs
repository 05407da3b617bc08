//! The size of each file log source's directories (`log.dir_bytes`, instance = the source's
//! name): the files its glob matches and their rotated siblings (`.1`, `.gz`) live there, so
//! this is what rotation and retention keep in check, and what the capacity job projects.
//! Journal sources have no directory of their own and are left out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::collectors::{BlockingCollector, Sample};
use crate::core::logs::source::{Input, LogSource};
use crate::core::model::{Metric, Unit, now};

/// Sizes change slowly and the history keeps 15-minute points for projections.
pub const INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Every file source's directory size at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDirSample {
    pub taken_at: DateTime<Utc>,
    /// Source name and the bytes of the regular files in its directories, or why not.
    pub sizes: Vec<(String, Result<u64, String>)>,
}

impl Sample for LogDirSample {
    fn metrics(&self) -> Vec<Metric> {
        self.sizes
            .iter()
            .filter_map(|(name, size)| {
                let bytes = *size.as_ref().ok()?;
                Some(Metric::of("log.dir_bytes", name, bytes as f64, Unit::Bytes))
            })
            .collect()
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

pub struct LogDirCollector {
    /// Source name and glob.
    sources: Vec<(String, String)>,
    interval: Duration,
}

impl LogDirCollector {
    /// `None` when no source reads files.
    pub fn new(sources: &[LogSource], interval: Duration) -> Option<LogDirCollector> {
        let sources: Vec<(String, String)> = sources
            .iter()
            .filter_map(|source| match &source.input {
                Input::Files { pattern } => Some((source.name.clone(), pattern.clone())),
                Input::Journal { .. } => None,
            })
            .collect();
        (!sources.is_empty()).then_some(LogDirCollector { sources, interval })
    }
}

impl BlockingCollector for LogDirCollector {
    type Sample = LogDirSample;

    fn interval(&self) -> Duration {
        self.interval
    }

    fn collect(&mut self) -> LogDirSample {
        LogDirSample {
            taken_at: now(),
            sizes: self
                .sources
                .iter()
                .map(|(name, pattern)| (name.clone(), directory_bytes(pattern)))
                .collect(),
        }
    }
}

/// The bytes of the regular files (not below) in the directories of the files `pattern`
/// matches; with no match yet, in the directory the pattern names before its first wildcard.
pub fn directory_bytes(pattern: &str) -> Result<u64, String> {
    let mut dirs: BTreeSet<PathBuf> = glob::glob(pattern)
        .map_err(|error| format!("log glob {pattern}: {error}"))?
        .filter_map(|path| Some(path.ok()?.parent()?.to_path_buf()))
        .collect();
    if dirs.is_empty() {
        let literal = &pattern[..pattern.find(['*', '?', '[']).unwrap_or(pattern.len())];
        let dir = if literal.ends_with('/') {
            Path::new(literal)
        } else {
            Path::new(literal).parent().unwrap_or(Path::new("."))
        };
        dirs.insert(dir.to_path_buf());
    }
    let mut total = 0;
    for dir in dirs {
        let entries = std::fs::read_dir(&dir)
            .map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
        for entry in entries.flatten() {
            // A file rotated away between listing and stat is simply not counted.
            if let Ok(metadata) = entry.metadata()
                && metadata.is_file()
            {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}
