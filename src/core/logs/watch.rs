//! The log engine: every configured source read and tallied into [`LogsSnapshot`]s. A
//! [`LogWatch`] follows each file a source's glob matches (the glob re-expanded every round, so
//! new files are picked up and vanished ones dropped), resumes from the positions kept in the
//! state store, and on a first start (no stored position) back-scans the rotated files
//! (`PATH.1`, `PATH.N.gz`, `PATH-DATE[.gz]`) and the current file for the source's
//! `back_scan` window. A journal source is read through [`JournalReader`] from its stored
//! cursor (or the back-scan window), each entry as its syslog-style line with the time and the
//! level (from the priority) the journal gives. Each line goes through the source's format
//! into level counts per minute, the signature table, the `[[log.match]]` regexes and the
//! recipes (failed logins, access-log figures), and into a bounded ring of recent lines for
//! the pane's line view. [`scan`] is the one-shot of the same reading for `opsdeck logs`, and
//! [`LogCollector`] the runner's collector around a watch.
//!
//! Signatures: every line's message feeds the table (a plain line's without its stamp, an
//! access line's as method and path); a template the table reports as new (after its hour of
//! warm-up, so a first start's back-scan is what "seen before" means) counts once in
//! `log.new_signatures` at its first minute and stays marked new for a day.
//!
//! Time: a line counts at the time its record gives, else when it was read; a time in the
//! future (a clock or a zone that disagrees) counts as now. The rules' window is whole
//! minutes: a 5-minute window at 10:07:30 covers 10:03:00–10:07:59.
//!
//! Memory is bounded whatever the logs hold: lines are streamed (a 10 MB line costs
//! [`follow::MAX_LINE`]), per-minute counts keep [`RETAINED_MINUTES`] (latencies only for the
//! minutes of the window, as a sparse histogram), the signature table and the recipes' tallies
//! have their own caps, and the ring keeps at most [`RING_LINES`] lines and [`RING_BYTES`]
//! bytes per source, each line cut to [`MAX_KEPT_LINE`] bytes with a marker.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Timelike, Utc};

use super::findings::{
    AccessFindings, LineFilter, LogLine, LoginFindings, LogsSnapshot, MatchCount, MinuteCounts,
    SignatureFinding, SourceFindings, WindowTotals,
};
use super::follow::{self, Follower, Position};
use super::format::{Format, Level, RequestTime as FormatTime};
use super::journal::{self, JournalReader};
use super::recipes::{
    AccessRecord, AccessStats, FailedLogins, LatencyHistogram, LoginFailureKind, RequestTime,
    StampCache, parse_combined_with, parse_sshd,
};
use super::signatures::{self, SignatureTable};
use super::source::{Input, LogSource};
use crate::core::collectors::BlockingCollector;
use crate::core::store::Store;

/// How often the runner polls the sources: following a log is about seeing a line within a
/// second or so.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Recent lines kept per source for the line view.
pub const RING_LINES: usize = 2_000;
/// Bytes of recent lines kept per source.
pub const RING_BYTES: usize = 1024 * 1024;
/// Bytes of one line kept in the ring; the rest is replaced by `…[cut N bytes]`.
pub const MAX_KEPT_LINE: usize = 4 * 1024;
/// Per-minute counts kept: the pane's 24-hour histogram.
pub const RETAINED_MINUTES: i64 = 24 * 60;
/// Signatures a snapshot lists per source.
pub const TOP_SIGNATURES: usize = 20;
/// Endpoints, addresses and users a snapshot lists per source.
const TOP_KEYS: usize = 10;
/// How long a signature the table reported as new stays flagged as new.
const NEW_FOR: TimeDelta = TimeDelta::hours(24);
/// How long a file the glob no longer matches is still polled (it may be between a rotation's
/// rename and the new file's creation, or have unread lines) before it is dropped.
const VANISHED_GRACE: TimeDelta = TimeDelta::minutes(5);
/// How long one poll keeps reading one file: a large backlog comes out over several polls, so
/// a sample (and a shutdown) is never far away.
const POLL_BUDGET: Duration = Duration::from_secs(2);
/// How long a stored position may take to read or write before the watch goes on without it.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a watch keeps its read positions, so a restart resumes instead of reading again.
pub trait Positions: Send {
    /// The stored position of `path` of `source`; `None` when it was never read.
    fn load(&mut self, source: &str, path: &str) -> Result<Option<Position>, String>;
    fn save(&mut self, source: &str, path: &str, position: Position) -> Result<(), String>;
    /// The stored journal cursor of `source`; `None` when its journal was never read.
    fn load_cursor(&mut self, source: &str) -> Result<Option<String>, String>;
    fn save_cursor(&mut self, source: &str, cursor: &str) -> Result<(), String>;
}

/// [`Positions`] in the state store, for a watch polled on a blocking thread of the runtime
/// `handle` belongs to (the store is async).
pub struct StorePositions {
    store: Store,
    handle: tokio::runtime::Handle,
}

impl StorePositions {
    pub fn new(store: Store, handle: tokio::runtime::Handle) -> StorePositions {
        StorePositions { store, handle }
    }

    fn wait<T>(
        &self,
        what: impl std::future::Future<Output = Result<T, crate::core::store::StoreError>>,
    ) -> Result<T, String> {
        // The timer is made inside the runtime: this thread may not be one of its own.
        let timed = async { tokio::time::timeout(STORE_TIMEOUT, what).await };
        match self.handle.block_on(timed) {
            Ok(result) => result.map_err(|error| error.to_string()),
            Err(_) => Err(format!(
                "{}: no answer within {} s",
                self.store.location(),
                STORE_TIMEOUT.as_secs()
            )),
        }
    }
}

impl Positions for StorePositions {
    fn load(&mut self, source: &str, path: &str) -> Result<Option<Position>, String> {
        self.wait(self.store.log_offset(source, path))
    }

    fn save(&mut self, source: &str, path: &str, position: Position) -> Result<(), String> {
        self.wait(self.store.save_log_offset(source, path, position))
    }

    fn load_cursor(&mut self, source: &str) -> Result<Option<String>, String> {
        self.wait(self.store.journal_cursor(source))
    }

    fn save_cursor(&mut self, source: &str, cursor: &str) -> Result<(), String> {
        self.wait(self.store.save_journal_cursor(source, cursor))
    }
}

/// A kept line and the hash of its message's template (for the signature filter).
#[derive(Debug)]
struct Kept {
    line: LogLine,
    template: u64,
}

/// The recent lines of one source, oldest first.
#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<Kept>,
    bytes: usize,
    /// Keeps nothing: the one-shot [`scan`] has no line view to copy every line for.
    discard: bool,
}

impl Ring {
    fn push(&mut self, kept: Kept) {
        self.bytes += kept.line.text.len();
        self.lines.push_back(kept);
        while self.lines.len() > RING_LINES || self.bytes > RING_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.line.text.len(),
                None => break,
            }
        }
    }
}

/// The watch's recent lines, shared: the runner answers line requests from it while the watch
/// polls on its own thread (a poll holds a source's lines only while reading one batch).
#[derive(Debug, Clone)]
pub struct LineView {
    rings: Arc<Vec<(String, Mutex<Ring>)>>,
}

impl LineView {
    fn new(sources: &[LogSource], discard: bool) -> LineView {
        let rings = sources
            .iter()
            .map(|source| {
                let ring = Ring {
                    discard,
                    ..Ring::default()
                };
                (source.name.clone(), Mutex::new(ring))
            })
            .collect();
        LineView {
            rings: Arc::new(rings),
        }
    }

    fn ring(&self, index: usize) -> std::sync::MutexGuard<'_, Ring> {
        self.rings[index]
            .1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `source`'s recent lines that pass `filter`, oldest first; empty for an unknown source.
    pub fn lines(&self, source: &str, filter: &LineFilter) -> Vec<LogLine> {
        let Some(index) = self.rings.iter().position(|(name, _)| name == source) else {
            return Vec::new();
        };
        let ring = self.ring(index);
        let wanted = |kept: &&Kept| match filter {
            LineFilter::All => true,
            LineFilter::Signature(template) => kept.template == template_hash(template),
            LineFilter::Text(text) => kept.line.text.to_lowercase().contains(&text.to_lowercase()),
        };
        ring.lines
            .iter()
            .filter(wanted)
            .map(|kept| kept.line.clone())
            .collect()
    }
}

fn template_hash(template: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    template.hash(&mut hasher);
    hasher.finish()
}

/// One minute of a source.
#[derive(Debug, Default)]
struct Minute {
    /// Minutes since the epoch.
    minute: i64,
    lines: u64,
    errors: u64,
    warnings: u64,
    new_signatures: u64,
    failed_logins: u64,
    requests: u64,
    server_errors: u64,
    /// Per `[[log.match]]`, in the source's order.
    matches: Vec<u64>,
    /// Request times as (histogram bucket, count), by bucket; kept only while the minute is in
    /// the window.
    latency: Vec<(usize, u64)>,
}

/// What one line is, whatever its format.
struct Parsed<'a> {
    at: Option<DateTime<Utc>>,
    level: Option<Level>,
    access: Option<AccessRecord<'a>>,
}

/// Everything a source's lines added up to.
struct Tally {
    minutes: VecDeque<Minute>,
    signatures: SignatureTable,
    /// Templates the table reported as new, until they age out of [`NEW_FOR`].
    flagged: HashSet<String>,
    match_totals: Vec<u64>,
    logins: FailedLogins,
    access: AccessStats,
    /// Requests per hour of day, UTC.
    hourly: [u64; 24],
    last_line_at: Option<DateTime<Utc>>,
    /// Lines read so far: a snapshot's findings change only with it and with the minute.
    read: u64,
    /// The message of the line being read, reused.
    message: String,
    stamps: StampCache,
    line_minute: MinuteOf,
    now_minute: MinuteOf,
}

/// The minute of the time last asked about, kept: a log's lines come many to a stamp (and a
/// scan's `now` is the same throughout), and chrono's conversion to epoch seconds costs more
/// than comparing two times.
#[derive(Debug, Default)]
struct MinuteOf(Option<(DateTime<Utc>, i64)>);

impl MinuteOf {
    fn get(&mut self, at: DateTime<Utc>) -> i64 {
        match self.0 {
            Some((known, minute)) if known == at => minute,
            _ => {
                let minute = minute_of(at);
                self.0 = Some((at, minute));
                minute
            }
        }
    }
}

impl Tally {
    fn new(source: &LogSource) -> Tally {
        Tally {
            minutes: VecDeque::new(),
            signatures: SignatureTable::default(),
            flagged: HashSet::new(),
            match_totals: vec![0; source.matches.len()],
            logins: FailedLogins::new(source.suspicious_after),
            access: AccessStats::default(),
            hourly: [0; 24],
            last_line_at: None,
            read: 0,
            message: String::new(),
            stamps: StampCache::default(),
            line_minute: MinuteOf::default(),
            now_minute: MinuteOf::default(),
        }
    }

    /// Reads one line; `since` drops lines stamped before it (the back-scan window).
    fn ingest(
        &mut self,
        source: &LogSource,
        line: &str,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
        ring: &mut Ring,
    ) {
        self.ingest_given(source, line, None, now, since, ring);
    }

    /// [`ingest`](Self::ingest) for a line whose time and level are known besides its text (a
    /// journal entry's timestamp and priority); they win over what the format reads.
    fn ingest_given(
        &mut self,
        source: &LogSource,
        line: &str,
        given: Option<(DateTime<Utc>, Option<Level>)>,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
        ring: &mut Ring,
    ) {
        let mut parsed = parse(source, line, now, &mut self.message, &mut self.stamps);
        if let Some((at, level)) = given {
            parsed.at = Some(at);
            parsed.level = level.or(parsed.level);
        }
        if let (Some(since), Some(at)) = (since, parsed.at)
            && at < since
        {
            return;
        }
        let at = parsed.at.map_or(now, |at| at.min(now));
        self.read += 1;
        self.last_line_at = self.last_line_at.max(Some(at));
        let window = window_minutes(source);
        let now_minute = self.now_minute.get(now);
        let minute = self.line_minute.get(at);
        let new = self
            .signatures
            .record_at_level(&self.message, parsed.level, at);
        let login = source
            .recipes
            .failed_logins
            .then(|| parse_sshd(line))
            .flatten();
        let mut bucket = minute_mut(&mut self.minutes, minute, now_minute, source.matches.len());
        if let Some(bucket) = bucket.as_deref_mut() {
            bucket.lines += 1;
            match parsed.level {
                Some(Level::Error) => bucket.errors += 1,
                Some(Level::Warn) => bucket.warnings += 1,
                _ => {}
            }
        }
        if let Some(new) = new {
            if let Some(bucket) = bucket.as_deref_mut() {
                bucket.new_signatures += 1;
            }
            self.flagged.insert(new.template);
            if self.flagged.len() > 2 * signatures::DEFAULT_MAX_TEMPLATES {
                let table = &self.signatures;
                self.flagged
                    .retain(|template| table.get(template).is_some());
            }
        }
        for (index, rule) in source.matches.iter().enumerate() {
            if rule.regex.is_match(line) {
                self.match_totals[index] += 1;
                if let Some(bucket) = bucket.as_deref_mut() {
                    bucket.matches[index] += 1;
                }
            }
        }
        if let Some(failure) = login {
            self.logins.observe(&failure);
            if let (LoginFailureKind::Failed { .. }, Some(bucket)) =
                (failure.kind, bucket.as_deref_mut())
            {
                bucket.failed_logins += failure.repeats;
            }
        }
        if source.recipes.access {
            match &parsed.access {
                Some(record) => {
                    let latency = self.access.observe(record);
                    self.hourly[at.hour() as usize] += 1;
                    if let Some(bucket) = bucket {
                        bucket.requests += 1;
                        if (500..600).contains(&record.status) {
                            bucket.server_errors += 1;
                        }
                        if let Some(latency) = latency
                            && minute > now_minute - window
                        {
                            add_latency(&mut bucket.latency, latency);
                        }
                    }
                }
                None => self.access.unparsed += 1,
            }
        }
        if ring.discard {
            return;
        }
        let template = template_hash(self.signatures.last_template());
        ring.push(Kept {
            line: LogLine {
                at,
                level: parsed.level,
                text: kept_text(line),
            },
            template,
        });
    }

    /// Drops the minutes older than those kept, and the latencies of minutes out of the window.
    fn prune(&mut self, now: DateTime<Utc>, window: i64) {
        let now_minute = minute_of(now);
        while self
            .minutes
            .front()
            .is_some_and(|first| first.minute <= now_minute - RETAINED_MINUTES)
        {
            self.minutes.pop_front();
        }
        for minute in &mut self.minutes {
            if minute.minute <= now_minute - window && !minute.latency.is_empty() {
                minute.latency = Vec::new();
            }
        }
        let table = &self.signatures;
        self.flagged.retain(|template| {
            table
                .get(template)
                .is_some_and(|signature| now - signature.first_seen <= NEW_FOR)
        });
    }

    fn findings(&self, source: &LogSource, now: DateTime<Utc>) -> SourceFindings {
        let window = window_minutes(source);
        let now_minute = minute_of(now);
        let mut totals = WindowTotals::default();
        let mut in_window = vec![0; source.matches.len()];
        let mut latency: BTreeMap<usize, u64> = BTreeMap::new();
        for minute in &self.minutes {
            if minute.minute <= now_minute - window || minute.minute > now_minute {
                continue;
            }
            totals.lines += minute.lines;
            totals.errors += minute.errors;
            totals.warnings += minute.warnings;
            totals.new_signatures += minute.new_signatures;
            totals.failed_logins += minute.failed_logins;
            totals.requests += minute.requests;
            totals.server_errors += minute.server_errors;
            for (sum, count) in in_window.iter_mut().zip(&minute.matches) {
                *sum += count;
            }
            for &(bucket, count) in &minute.latency {
                *latency.entry(bucket).or_default() += count;
            }
        }
        totals.p95_ms = quantile(&latency, 0.95);
        let minutes = self
            .minutes
            .iter()
            .filter_map(|minute| {
                Some(MinuteCounts {
                    minute: DateTime::from_timestamp(minute.minute * 60, 0)?,
                    lines: minute.lines,
                    errors: minute.errors,
                    warnings: minute.warnings,
                })
            })
            .collect();
        let matches = source
            .matches
            .iter()
            .zip(in_window.iter().zip(&self.match_totals))
            .map(|(rule, (in_window, total))| MatchCount {
                name: rule.name.clone(),
                in_window: *in_window,
                total: *total,
            })
            .collect();
        SourceFindings {
            name: source.name.clone(),
            origin: source.origin(),
            error: None,
            window_secs: source.window.as_secs(),
            window: totals,
            minutes,
            signatures: self.top_signatures(now),
            matches,
            access: source.recipes.access.then(|| self.access_findings()),
            logins: source.recipes.failed_logins.then(|| self.login_findings()),
            last_line_at: self.last_line_at,
        }
    }

    /// New signatures first (the latest first), then by count in the last hour.
    fn top_signatures(&self, now: DateTime<Utc>) -> Vec<SignatureFinding> {
        let mut ranked: Vec<_> = self
            .signatures
            .iter()
            .filter_map(|(template, signature)| {
                let trend = self.signatures.trend(template, now)?;
                let is_new =
                    self.flagged.contains(template) && now - signature.first_seen <= NEW_FOR;
                Some((is_new, template, signature, trend))
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| {
                    if a.0 {
                        b.2.first_seen.cmp(&a.2.first_seen)
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .then(b.3.last_hour.cmp(&a.3.last_hour))
                .then(b.2.total.cmp(&a.2.total))
                .then_with(|| a.1.cmp(b.1))
        });
        ranked
            .into_iter()
            .take(TOP_SIGNATURES)
            .map(|(is_new, template, signature, trend)| SignatureFinding {
                template: template.to_owned(),
                sample: signature.sample.clone(),
                level: signature.level,
                first_seen: signature.first_seen,
                last_seen: signature.last_seen,
                total: signature.total,
                last_hour: trend.last_hour,
                same_hour_yesterday: trend.same_hour_yesterday,
                is_new,
            })
            .collect()
    }

    fn access_findings(&self) -> AccessFindings {
        let stats = &self.access;
        AccessFindings {
            requests: stats.requests,
            unparsed: stats.unparsed,
            server_error_pct: stats.server_error_pct(),
            statuses: stats.status_distribution().into_iter().collect(),
            top_endpoints: stats
                .top_endpoints(TOP_KEYS)
                .into_iter()
                .map(|(path, count)| (path.to_owned(), count))
                .collect(),
            hourly: self.hourly.to_vec(),
            mean_ms: stats.mean_ms(),
            p95_ms: stats.p95_ms(),
        }
    }

    /// An address's count is its attempts: the larger of its failed credentials and its
    /// invalid-user lines (sshd logs both for one attempt with an unknown user).
    fn login_findings(&self) -> LoginFindings {
        let attempts = |(ip, tally): (std::net::IpAddr, super::recipes::IpTally)| {
            (ip.to_string(), tally.failures.max(tally.invalid_users))
        };
        LoginFindings {
            failed: self.logins.failures,
            top_ips: self
                .logins
                .top_ips(TOP_KEYS)
                .into_iter()
                .map(attempts)
                .collect(),
            suspicious: self.logins.suspicious().into_iter().map(attempts).collect(),
            top_users: self
                .logins
                .top_users(TOP_KEYS)
                .into_iter()
                .map(|(user, count)| (user.to_owned(), count))
                .collect(),
        }
    }
}

/// Parses `line` by the source's format; its message (what signatures are made of) goes to
/// `message`. An access log's message is its method and path, without the query string.
fn parse<'a>(
    source: &LogSource,
    line: &'a str,
    now: DateTime<Utc>,
    message: &mut String,
    stamps: &mut StampCache,
) -> Parsed<'a> {
    let access = if source.recipes.access || matches!(source.format, Format::Access(_)) {
        let unit = match source.format {
            Format::Access(FormatTime::Millis) => RequestTime::Milliseconds,
            Format::Access(FormatTime::Micros) => RequestTime::Microseconds,
            _ => RequestTime::Seconds,
        };
        parse_combined_with(line, unit, stamps)
    } else {
        None
    };
    message.clear();
    match access {
        Some(record) if matches!(source.format, Format::Access(_)) => {
            message.push_str(record.method);
            message.push(' ');
            message.push_str(record.path);
            let level = match record.status {
                500.. => Level::Error,
                400..=499 => Level::Warn,
                _ => Level::Info,
            };
            Parsed {
                at: Some(record.at.with_timezone(&Utc)),
                level: Some(level),
                access: Some(record),
            }
        }
        access => {
            let record = source.format.parse(line, now);
            match (&source.format, record.at) {
                // A plain line's stamp would make every template start with `<num>-<num>…`.
                (Format::Plain, Some(_)) => message.push_str(after_stamp(&record.message)),
                _ => message.push_str(&record.message),
            }
            Parsed {
                at: record.at,
                level: record.level,
                access,
            }
        }
    }
}

/// The bucket of `minute`, made when missing; `None` when it is older than the minutes
/// kept.
fn minute_mut(
    minutes: &mut VecDeque<Minute>,
    minute: i64,
    now_minute: i64,
    matches: usize,
) -> Option<&mut Minute> {
    if minute <= now_minute - RETAINED_MINUTES {
        return None;
    }
    // The newest minute again (most lines), without the search.
    if minutes.back().is_some_and(|last| last.minute == minute) {
        return minutes.back_mut();
    }
    let position = match minutes
        .iter()
        .rposition(|existing| existing.minute <= minute)
    {
        Some(position) if minutes[position].minute == minute => position,
        found => {
            let at = found.map_or(0, |position| position + 1);
            let fresh = Minute {
                minute,
                matches: vec![0; matches],
                ..Minute::default()
            };
            minutes.insert(at, fresh);
            at
        }
    };
    minutes.get_mut(position)
}

/// A plain line after the stamp its format found at its start: one word (`2026-12-05T10:00:00Z`)
/// or two (`2026-12-05 10:00:00,123`).
fn after_stamp(line: &str) -> &str {
    let line = line.trim_start();
    let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    if first.trim_matches(|c| c == '[' || c == ']').len() >= 19 {
        return rest;
    }
    rest.split_once(char::is_whitespace)
        .map_or("", |(_, after)| after.trim_start())
}

fn add_latency(latency: &mut Vec<(usize, u64)>, bucket: usize) {
    match latency.binary_search_by_key(&bucket, |&(existing, _)| existing) {
        Ok(found) => latency[found].1 += 1,
        Err(at) => latency.insert(at, (bucket, 1)),
    }
}

/// The nearest-rank `q` quantile of a sparse histogram, as [`LatencyHistogram::quantile`]
/// reports it.
fn quantile(latency: &BTreeMap<usize, u64>, q: f64) -> Option<f64> {
    let count: u64 = latency.values().sum();
    if count == 0 {
        return None;
    }
    let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
    let mut seen = 0;
    latency.iter().find_map(|(&bucket, &n)| {
        seen += n;
        (seen >= rank).then(|| LatencyHistogram::bucket_bound(bucket))
    })
}

fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// The rules' window in whole minutes (at least one).
fn window_minutes(source: &LogSource) -> i64 {
    i64::try_from(source.window.as_secs().div_ceil(60))
        .unwrap_or(RETAINED_MINUTES)
        .clamp(1, RETAINED_MINUTES)
}

/// `line` cut to [`MAX_KEPT_LINE`] bytes, with the follower's marker counting what was left
/// out (the follower's own cut included, so the count is of the line as written).
fn kept_text(line: &str) -> String {
    let (body, dropped) = line
        .rsplit_once("…[cut ")
        .and_then(|(body, marker)| {
            let count = marker.strip_suffix(" bytes]")?.parse::<u64>().ok()?;
            Some((body, count))
        })
        .unwrap_or((line, 0));
    if body.len() <= MAX_KEPT_LINE {
        return line.to_owned();
    }
    let kept = signatures::cut(body, MAX_KEPT_LINE);
    format!(
        "{kept}…[cut {} bytes]",
        (body.len() - kept.len()) as u64 + dropped
    )
}

/// One followed file.
struct Followed {
    follower: Follower,
    /// Lines stamped before this are skipped while the first read catches up (back-scan).
    since: Option<DateTime<Utc>>,
    /// When the glob stopped matching it.
    gone_since: Option<DateTime<Utc>>,
}

/// A source and what has been read of it.
struct Watched {
    source: LogSource,
    files: BTreeMap<PathBuf, Followed>,
    /// A journal source's reader, made on the first poll (from the stored cursor).
    journal: Option<JournalReader>,
    tally: Tally,
    /// This round's problems, shown in place.
    errors: Vec<String>,
    /// The last findings, with the minute and the line count they were made at: an idle
    /// source's snapshot is a copy, not a ranking of every signature again.
    cached: std::cell::RefCell<Option<(i64, u64, SourceFindings)>>,
}

/// Every source being followed; see the module documentation.
pub struct LogWatch {
    sources: Vec<Watched>,
    positions: Option<Box<dyn Positions>>,
    view: LineView,
    /// Read each file to its end in one poll (the one-shot [`scan`]).
    to_the_end: bool,
}

impl LogWatch {
    /// A watch over `sources`, keeping read positions in `positions` when given (without, every
    /// start is a first start: rotated files are back-scanned).
    pub fn new(sources: Vec<LogSource>, positions: Option<Box<dyn Positions>>) -> LogWatch {
        LogWatch::build(sources, positions, false)
    }

    /// `one_shot`: reads every file to its end in one poll and keeps no lines ([`scan`]).
    fn build(
        sources: Vec<LogSource>,
        positions: Option<Box<dyn Positions>>,
        one_shot: bool,
    ) -> LogWatch {
        let view = LineView::new(&sources, one_shot);
        let sources = sources
            .into_iter()
            .map(|source| Watched {
                tally: Tally::new(&source),
                source,
                files: BTreeMap::new(),
                journal: None,
                errors: Vec::new(),
                cached: std::cell::RefCell::new(None),
            })
            .collect();
        LogWatch {
            sources,
            positions,
            view,
            to_the_end: one_shot,
        }
    }

    /// The recent lines, for whoever answers line requests while the watch polls.
    pub fn line_view(&self) -> LineView {
        self.view.clone()
    }

    /// `source`'s recent lines that pass `filter`, oldest first.
    pub fn lines(&self, source: &str, filter: &LineFilter) -> Vec<LogLine> {
        self.view.lines(source, filter)
    }

    /// Reads what every source has new. Blocking: run it on a blocking thread.
    pub fn poll(&mut self, now: DateTime<Utc>) {
        for index in 0..self.sources.len() {
            self.sources[index].errors.clear();
            match self.sources[index].source.input.clone() {
                Input::Files { pattern } => self.poll_files(index, &pattern, now),
                Input::Journal { unit, file } => self.poll_journal(index, unit, file, now),
            }
            let watched = &mut self.sources[index];
            watched.tally.prune(now, window_minutes(&watched.source));
        }
    }

    fn poll_files(&mut self, index: usize, pattern: &str, now: DateTime<Utc>) {
        let name = self.sources[index].source.name.clone();
        match expand(pattern) {
            Ok(paths) => {
                for path in &paths {
                    if !self.sources[index].files.contains_key(path) {
                        self.start_file(index, path, now);
                    }
                }
                let watched = &mut self.sources[index];
                watched.files.retain(|path, followed| {
                    if paths.contains(path) {
                        followed.gone_since = None;
                        return true;
                    }
                    let gone = *followed.gone_since.get_or_insert(now);
                    now - gone <= VANISHED_GRACE
                });
                if paths.is_empty() && watched.files.is_empty() {
                    watched.errors.push(format!(
                        "no file matches {pattern}\n  fix: check the path of [[log]] {name:?} \
                         and that this user can list its directory"
                    ));
                }
            }
            Err(message) => self.sources[index].errors.push(message),
        }
        let paths: Vec<PathBuf> = self.sources[index].files.keys().cloned().collect();
        for path in paths {
            self.read_file(index, &path, now);
        }
    }

    /// Reads a journal source's new entries, a bounded batch at a time, storing the cursor
    /// after each.
    fn poll_journal(
        &mut self,
        index: usize,
        unit: Option<String>,
        file: Option<PathBuf>,
        now: DateTime<Utc>,
    ) {
        let started = Instant::now();
        let watched = &mut self.sources[index];
        let name = watched.source.name.clone();
        if watched.journal.is_none() {
            let cursor = match self.positions.as_mut() {
                Some(positions) => positions.load_cursor(&name).unwrap_or_else(|message| {
                    watched.errors.push(format!(
                        "cannot read where the journal was read up to, so it is read again \
                         from the back-scan window: {message}"
                    ));
                    None
                }),
                None => None,
            };
            let back_scan = watched.source.back_scan;
            watched.journal = Some(JournalReader::new(unit, file, cursor, back_scan));
        }
        let Some(reader) = watched.journal.as_mut() else {
            return;
        };
        loop {
            let before = reader.cursor().map(str::to_owned);
            let entries = match reader.poll() {
                Ok(entries) => entries,
                Err(error) => {
                    watched.errors.push(error.to_string());
                    return;
                }
            };
            if !entries.is_empty() {
                let mut ring = self.view.ring(index);
                for entry in &entries {
                    watched.tally.ingest_given(
                        &watched.source,
                        &entry.line(),
                        Some((entry.at, entry.level())),
                        now,
                        None,
                        &mut ring,
                    );
                }
            }
            if let (Some(cursor), Some(positions)) = (reader.cursor(), self.positions.as_mut())
                && before.as_deref() != Some(cursor)
                && let Err(message) = positions.save_cursor(&name, cursor)
            {
                watched.errors.push(format!(
                    "cannot remember where the journal was read up to (a restart reads it \
                     again from the last remembered entry): {message}"
                ));
            }
            if entries.len() < journal::MAX_ENTRIES_PER_POLL
                || (!self.to_the_end && started.elapsed() >= POLL_BUDGET)
            {
                return;
            }
        }
    }

    /// A file seen for the first time: resumed from its stored position, or back-scanned with
    /// its rotated files.
    fn start_file(&mut self, index: usize, path: &Path, now: DateTime<Utc>) {
        let key = path.display().to_string();
        let watched = &mut self.sources[index];
        let stored = match self.positions.as_mut() {
            Some(positions) => match positions.load(&watched.source.name, &key) {
                Ok(stored) => stored,
                Err(message) => {
                    watched.errors.push(format!(
                        "cannot read where {key} was read up to, so it is read again from the \
                         back-scan window: {message}"
                    ));
                    None
                }
            },
            None => None,
        };
        let followed = match stored {
            Some(position) => Followed {
                follower: Follower::resume(path, position),
                since: None,
                gone_since: None,
            },
            None => {
                let since = back_scan_start(&watched.source, now);
                let mut ring = self.view.ring(index);
                for rotated in rotated_files(path, since) {
                    let source = &watched.source;
                    let tally = &mut watched.tally;
                    let read = read_rotated(&rotated, |line| {
                        tally.ingest(source, line, now, Some(since), &mut ring);
                    });
                    if let Err(error) = read {
                        watched.errors.push(
                            follow::FollowError {
                                path: rotated.display().to_string(),
                                reason: error,
                            }
                            .to_string(),
                        );
                    }
                }
                Followed {
                    follower: Follower::new(path),
                    since: Some(since),
                    gone_since: None,
                }
            }
        };
        watched.files.insert(path.to_owned(), followed);
    }

    fn read_file(&mut self, index: usize, path: &Path, now: DateTime<Utc>) {
        let started = Instant::now();
        let key = path.display().to_string();
        let watched = &mut self.sources[index];
        let Some(followed) = watched.files.get_mut(path) else {
            return;
        };
        loop {
            let before = followed.follower.position();
            // Lines go from the read buffer straight into the tally; the ring stays locked for
            // one batch (at most [`follow::BATCH_BYTES`]), as it did while a batch was added.
            let mut ring = self.view.ring(index);
            let tally = &mut watched.tally;
            let source = &watched.source;
            let since = followed.since;
            let batch = match followed
                .follower
                .poll_each(|line| tally.ingest(source, line, now, since, &mut ring))
            {
                Ok(batch) => batch,
                Err(error) => {
                    drop(ring);
                    watched.errors.push(error.to_string());
                    return;
                }
            };
            drop(ring);
            if batch.position != before
                && let Some(positions) = self.positions.as_mut()
                && let Err(message) = positions.save(&watched.source.name, &key, batch.position)
            {
                watched.errors.push(format!(
                    "cannot remember where {key} was read up to (a restart reads it again from \
                     the last remembered line): {message}"
                ));
            }
            if !batch.more {
                followed.since = None;
                return;
            }
            if !self.to_the_end && started.elapsed() >= POLL_BUDGET {
                return;
            }
        }
    }

    /// What every source found, as of `now`.
    pub fn snapshot(&self, now: DateTime<Utc>) -> LogsSnapshot {
        let sources = self
            .sources
            .iter()
            .map(|watched| {
                let key = (minute_of(now), watched.tally.read);
                let mut cached = watched.cached.borrow_mut();
                let mut findings = match cached.as_ref() {
                    Some((minute, read, findings)) if (*minute, *read) == key => findings.clone(),
                    _ => {
                        let findings = watched.tally.findings(&watched.source, now);
                        *cached = Some((key.0, key.1, findings.clone()));
                        findings
                    }
                };
                if !watched.errors.is_empty() {
                    findings.error = Some(watched.errors.join("\n"));
                }
                findings
            })
            .collect();
        LogsSnapshot {
            taken_at: now,
            sources,
        }
    }
}

/// Reads `sources` once for the last `since` (their current and rotated files) and returns
/// what they hold, as of `now`; blocking, no stored positions: `opsdeck logs --since 24h`.
///
/// The report figures (per-minute counts, signatures, matches' totals, access and login
/// figures) cover the whole `since`; the window totals the rules judge still cover each
/// source's window ending at `now`, as the live console judges them, so a check run and the
/// console agree on the same log.
pub fn scan(sources: &[LogSource], since: Duration, now: DateTime<Utc>) -> LogsSnapshot {
    let sources = sources
        .iter()
        .map(|source| LogSource {
            back_scan: since,
            ..source.clone()
        })
        .collect();
    let mut watch = LogWatch::build(sources, None, true);
    watch.poll(now);
    watch.snapshot(now)
}

/// The runner's collector: polls a watch each [`POLL_EVERY`] on a blocking thread (wrap it in
/// [`crate::core::collectors::OffThread`]) and hands out its snapshot.
pub struct LogCollector {
    watch: LogWatch,
}

impl LogCollector {
    pub fn new(watch: LogWatch) -> LogCollector {
        LogCollector { watch }
    }
}

impl BlockingCollector for LogCollector {
    type Sample = Box<LogsSnapshot>;

    fn interval(&self) -> Duration {
        POLL_EVERY
    }

    fn collect(&mut self) -> Box<LogsSnapshot> {
        let now = crate::core::model::now();
        self.watch.poll(now);
        Box::new(self.watch.snapshot(now))
    }
}

/// When a first start's back-scan begins.
fn back_scan_start(source: &LogSource, now: DateTime<Utc>) -> DateTime<Utc> {
    TimeDelta::from_std(source.back_scan)
        .ok()
        .and_then(|back| now.checked_sub_signed(back))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The files `pattern` matches now, without the rotated ones (those are read by the back-scan
/// of the file they were rotated from, never followed on their own).
fn expand(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let entries = glob::glob(pattern).map_err(|error| {
        format!(
            "the log path {pattern:?} is not a valid glob: {error}\n  fix: correct the `path` of \
             this [[log]] source"
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(path) => {
                let rotated = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(looks_rotated);
                if !rotated && path.is_file() {
                    paths.push(path);
                }
            }
            Err(error) => {
                return Err(format!(
                    "cannot list {}: {}\n  fix: check that this user can read that directory",
                    error.path().display(),
                    error.error()
                ));
            }
        }
    }
    Ok(paths)
}

/// `app.log.1`, `app.log-20261204`, `app.log-2026-12-04`, anything `.gz`: a rotated or
/// compressed file, never followed on its own.
fn looks_rotated(name: &str) -> bool {
    if name.ends_with(".gz") {
        return true;
    }
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    let suffix = &name[stem.len()..];
    let digits = suffix.bytes().filter(u8::is_ascii_digit).count();
    (stem.ends_with('.') && digits > 0 && !suffix.contains('-'))
        || (suffix.starts_with('-') && digits >= 8)
}

/// The rotated files of `path` (`PATH.N`, `PATH.N.gz`, `PATH-DATE`, `PATH-DATE.gz`) that may
/// hold lines after `since` (last written after it), oldest first.
fn rotated_files(path: &Path, since: DateTime<Utc>) -> Vec<PathBuf> {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return Vec::new();
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut found: Vec<(i64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let rest = file_name.to_str()?.strip_prefix(name)?;
            let rest = rest.strip_suffix(".gz").unwrap_or(rest);
            let numbered = rest
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let dated = rest.strip_prefix('-').is_some_and(|date| {
                date.len() >= 8 && date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            });
            if !numbered && !dated {
                return None;
            }
            let meta = entry.metadata().ok()?;
            (meta.is_file() && meta.mtime() >= since.timestamp())
                .then(|| (meta.mtime(), entry.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// Calls `each` with every line of a rotated file (gunzipped when it ends in `.gz`), streamed
/// and cut like the follower's.
fn read_rotated(path: &Path, each: impl FnMut(&str)) -> io::Result<()> {
    let file = File::open(path)?;
    if path.extension().is_some_and(|extension| extension == "gz") {
        each_line(flate2::read::MultiGzDecoder::new(file), each)
    } else {
        each_line(file, each)
    }
}

/// Splits `input` into lines of at most [`follow::MAX_LINE`] bytes (the rest counted in a
/// marker), invalid UTF-8 replaced, a trailing line without its newline included.
fn each_line(input: impl Read, mut each: impl FnMut(&str)) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut pending: Vec<u8> = Vec::new();
    let mut cut: u64 = 0;
    let mut emit = |pending: &mut Vec<u8>, cut: &mut u64| {
        if *cut == 0 && pending.last() == Some(&b'\r') {
            pending.pop();
        }
        let mut text = String::from_utf8_lossy(pending).into_owned();
        if *cut > 0 {
            text.push_str(&format!("…[cut {cut} bytes]"));
        }
        each(&text);
        pending.clear();
        *cut = 0;
    };
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            break;
        }
        let length = buffer.len();
        let mut rest = buffer;
        while !rest.is_empty() {
            let (body, complete) = match rest.iter().position(|&byte| byte == b'\n') {
                Some(end) => (&rest[..end], Some(end + 1)),
                None => (rest, None),
            };
            let room = follow::MAX_LINE.saturating_sub(pending.len());
            let kept = body.len().min(room);
            pending.extend_from_slice(&body[..kept]);
            cut += (body.len() - kept) as u64;
            match complete {
                Some(next) => {
                    emit(&mut pending, &mut cut);
                    rest = &rest[next..];
                }
                None => rest = &[],
            }
        }
        reader.consume(length);
    }
    if !pending.is_empty() || cut > 0 {
        emit(&mut pending, &mut cut);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names() {
        for name in [
            "app.log.1",
            "app.log.12.gz",
            "app.log-20261204",
            "app.log-20261204.gz",
            "app.log-2026-12-04",
        ] {
            assert!(looks_rotated(name), "{name}");
        }
        for name in [
            "app.log",
            "app2",
            "v1.2-beta",
            "access.log-old",
            "my-app-1",
            "x.json",
        ] {
            assert!(!looks_rotated(name), "{name}");
        }
    }

    #[test]
    fn plain_messages_leave_their_stamp_out() {
        assert_eq!(
            after_stamp("2026-12-05T10:00:00.123Z ERROR x 1"),
            "ERROR x 1"
        );
        assert_eq!(after_stamp("2026-12-05 10:00:00,250 WARN y"), "WARN y");
        assert_eq!(after_stamp("[2026-12-05T10:00:00+09:00] INFO z"), "INFO z");
        assert_eq!(after_stamp("2026-12-05 10:00:00"), "");
    }

    #[test]
    fn lines_are_split_bounded_and_lossy() {
        let mut input = Vec::new();
        input.extend_from_slice(b"one\r\ntwo \xff\n");
        input.extend(std::iter::repeat_n(b'x', follow::MAX_LINE + 10));
        input.extend_from_slice(b"\nlast");
        let mut lines = Vec::new();
        each_line(&input[..], |line| lines.push(line.to_owned())).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "one");
        assert_eq!(lines[1], "two \u{fffd}");
        assert!(lines[2].ends_with("…[cut 10 bytes]"));
        assert_eq!(lines[3], "last");
    }

    #[test]
    fn kept_lines_are_cut_with_a_marker() {
        let long = "é".repeat(MAX_KEPT_LINE);
        let kept = kept_text(&long);
        assert!(kept.len() <= MAX_KEPT_LINE + 32);
        assert!(kept.ends_with(&format!("…[cut {} bytes]", long.len() - MAX_KEPT_LINE)));
        assert_eq!(kept_text("short"), "short");
        let followed = format!("{}…[cut 100 bytes]", "z".repeat(MAX_KEPT_LINE + 5));
        assert!(kept_text(&followed).ends_with("…[cut 105 bytes]"));
    }

    #[test]
    fn the_ring_is_bounded_in_lines_and_bytes() {
        let mut ring = Ring::default();
        let at = DateTime::from_timestamp(0, 0).unwrap();
        for n in 0..(RING_LINES * 2) {
            ring.push(Kept {
                line: LogLine {
                    at,
                    level: None,
                    text: format!("{n}"),
                },
                template: 0,
            });
        }
        assert_eq!(ring.lines.len(), RING_LINES);
        for _ in 0..1000 {
            ring.push(Kept {
                line: LogLine {
                    at,
                    level: None,
                    text: "y".repeat(MAX_KEPT_LINE),
                },
                template: 0,
            });
        }
        assert!(ring.bytes <= RING_BYTES);
        assert_eq!(
            ring.bytes,
            ring.lines
                .iter()
                .map(|kept| kept.line.text.len())
                .sum::<usize>()
        );
    }
}
