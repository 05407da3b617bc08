//! `cache-cleanup` (Redis): SCANs the configured key patterns (never KEYS, never FLUSHALL);
//! keys without a TTL get the pattern's TTL, keys idle longer than the limit are deleted; keys
//! outside the patterns are never touched.
//!
//! How a run goes, pattern by pattern and SCAN page by SCAN page:
//!
//! - `SCAN cursor MATCH pattern COUNT n` lists the keys; a key that also matches an earlier
//!   pattern belongs to that pattern and is skipped (Redis' own glob rules are used for that).
//! - One pipeline per page asks `TTL` and `OBJECT IDLETIME` for each key (both leave the key's
//!   access time alone).
//! - Keys idle longer than `delete_idle_after` are measured with `MEMORY USAGE` and removed with
//!   `UNLINK` (`DEL` on servers without it); the other keys that have no TTL get
//!   `EXPIRE key <ttl> NX` (plain `EXPIRE` on servers before 7.0), so a TTL someone set in the
//!   meantime is never replaced.
//! - With an LFU `maxmemory-policy` Redis does not track idle time: idle-based deletion is
//!   skipped (and said so), TTLs are still set.
//!
//! [`plan`] does the same SCAN read-only and counts what a run would change. Cancellation is
//! checked between pages and between the steps of a page, and also interrupts a command that is
//! waiting for Redis, so a cancelled run stops well within a second.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisError, RedisResult};
use tokio_util::sync::CancellationToken;

use super::{Output, ParamSpec, Params, Plan, TaskContext, TaskError, TaskSummary};
use crate::core::checks::rules::format_bytes;
use crate::core::sources;
use crate::core::sources::redis::{Link, TASK_LIMITS};
use crate::core::sources::secrets::scrub;

#[derive(Debug, Clone, PartialEq)]
pub struct CachePattern {
    /// A Redis MATCH pattern such as `policy:*`.
    pub pattern: String,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheCleanupSettings {
    pub url: String,
    pub patterns: Vec<CachePattern>,
    /// Keys idle (OBJECT IDLETIME) longer than this are deleted.
    pub delete_idle_after: Duration,
    /// SCAN COUNT hint.
    pub scan_count: usize,
}

pub const PARAMS: &[ParamSpec] = &[];

/// A progress line every this many keys of one pattern.
const PROGRESS_EVERY: u64 = 10_000;
/// Where the settings live, for error messages.
const CONFIG_HINT: &str = "[tasks.cache-cleanup] url";
/// The commands this task sends, as stated in its plan.
const COMMAND_SET: &str = "commands used: SCAN MATCH <pattern> COUNT <n>, TTL, EXPIRE … NX, \
     OBJECT IDLETIME, MEMORY USAGE, UNLINK (DEL if UNLINK is unknown), plus PING, INFO and \
     CONFIG GET maxmemory-policy; never KEYS, FLUSHALL or FLUSHDB, and keys outside the \
     patterns are never touched";

pub async fn plan(settings: &CacheCleanupSettings, _params: &Params) -> Result<Plan, TaskError> {
    if let Err(problem) = validate(settings) {
        return Ok(Plan {
            refusal: Some(problem),
            ..Plan::default()
        });
    }
    let mut session = Session::connect(settings, CancellationToken::new()).await?;
    let mut plan = Plan::default();
    plan.steps.push(Plan::note(format!(
        "connect to {} ({})",
        session.target,
        session.describe()
    )));
    plan.warnings.extend(session.server_warnings());
    if settings.patterns.is_empty() {
        plan.steps.push(Plan::note(
            "no key patterns are configured: nothing would change",
        ));
    }
    let limit = humantime::format_duration(settings.delete_idle_after);
    for index in 0..settings.patterns.len() {
        let pattern = &settings.patterns[index];
        let mut stats = PatternStats::default();
        session
            .clean_pattern(settings, index, Mode::DryRun, None, &mut stats)
            .await?;
        let deletion = if session.idle_tracking {
            format!(
                "{} idle > {limit} would be deleted ({})",
                stats.deleted,
                format_bytes(stats.bytes as f64)
            )
        } else {
            "idle-based deletion skipped (LFU maxmemory-policy)".to_owned()
        };
        plan.steps.push(Plan::note(format!(
            "{} — {}, {} without TTL would get EXPIRE {}, {deletion}{}",
            pattern.pattern,
            count(stats.scanned, "key"),
            stats.ttl_set,
            ttl_secs(pattern.ttl),
            stats.covered_note()
        )));
    }
    if !session.idle_tracking {
        plan.warnings.push(session.lfu_message());
    }
    plan.steps.push(Plan::note(COMMAND_SET));
    Ok(plan)
}

pub async fn run(
    settings: &CacheCleanupSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    validate(settings).map_err(TaskError::Failed)?;
    let output = &context.output;
    let mut session = Session::connect(settings, context.cancel.clone()).await?;
    output.line(format!(
        "connected to {} ({}); {}, idle limit {}",
        session.target,
        session.describe(),
        count(settings.patterns.len() as u64, "pattern"),
        humantime::format_duration(settings.delete_idle_after)
    ));
    for warning in session.server_warnings() {
        output.line(format!("warning: {warning}"));
    }
    if !session.idle_tracking {
        output.line(session.lfu_message());
    }

    let mut total = PatternStats::default();
    for index in 0..settings.patterns.len() {
        let pattern = &settings.patterns[index];
        let mut stats = PatternStats::default();
        let result = session
            .clean_pattern(settings, index, Mode::Apply, Some(output), &mut stats)
            .await;
        total.add(&stats);
        if let Err(error) = result {
            output.line(format!(
                "stopped during {} ({error}); so far: {}",
                pattern.pattern,
                total.summary_tail()
            ));
            return Err(error);
        }
        output.line(format!(
            "{} — scanned {}, set TTL on {} (EXPIRE {}), {}, freed {}{}",
            pattern.pattern,
            count(stats.scanned, "key"),
            stats.ttl_set,
            ttl_secs(pattern.ttl),
            if session.idle_tracking {
                format!("deleted {}", count(stats.deleted, "idle key"))
            } else {
                "idle-based deletion skipped".to_owned()
            },
            format_bytes(stats.bytes as f64),
            stats.covered_note()
        ));
    }

    let mut summary = format!(
        "scanned {} in {}: {}",
        count(total.scanned, "key"),
        count(settings.patterns.len() as u64, "pattern"),
        total.summary_tail()
    );
    if !session.idle_tracking {
        summary.push_str("; idle-based deletion skipped (LFU maxmemory-policy)");
    }
    Ok(TaskSummary {
        exit_code: None,
        summary,
    })
}

/// Settings that would make a run do something nobody wants.
fn validate(settings: &CacheCleanupSettings) -> Result<(), String> {
    for pattern in &settings.patterns {
        if pattern.pattern.is_empty() {
            return Err("a key pattern in [tasks.cache-cleanup] is empty".to_owned());
        }
        if pattern.ttl.is_zero() {
            return Err(format!(
                "pattern `{}` in [tasks.cache-cleanup] has a TTL of 0 s, which would expire its keys at \
                 once: give it a positive ttl",
                pattern.pattern
            ));
        }
    }
    Ok(())
}

/// Whether a pass only counts (the plan) or changes keys (the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    DryRun,
    Apply,
}

/// What one pattern did (or, in a dry run, would do).
#[derive(Debug, Default, Clone)]
struct PatternStats {
    /// Keys handled by this pattern.
    scanned: u64,
    /// Keys SCAN returned that belong to an earlier pattern.
    covered_earlier: u64,
    /// Keys that got (would get) a TTL.
    ttl_set: u64,
    /// Idle keys deleted (to be deleted).
    deleted: u64,
    /// MEMORY USAGE of the deleted keys.
    bytes: u64,
}

impl PatternStats {
    fn add(&mut self, other: &PatternStats) {
        self.scanned += other.scanned;
        self.covered_earlier += other.covered_earlier;
        self.ttl_set += other.ttl_set;
        self.deleted += other.deleted;
        self.bytes += other.bytes;
    }

    fn summary_tail(&self) -> String {
        format!(
            "set TTL on {}, deleted {}, freed {}",
            self.ttl_set,
            count(self.deleted, "idle key"),
            format_bytes(self.bytes as f64)
        )
    }

    fn covered_note(&self) -> String {
        if self.covered_earlier == 0 {
            String::new()
        } else {
            format!(
                " ({} left to an earlier pattern)",
                count(self.covered_earlier, "key")
            )
        }
    }
}

/// What INFO says about the server, when INFO is allowed.
#[derive(Debug, Default)]
struct ServerInfo {
    version: Option<String>,
    role: Option<String>,
    cluster: bool,
}

impl ServerInfo {
    fn parse(text: &str) -> ServerInfo {
        let mut info = ServerInfo::default();
        for line in text.lines() {
            match line.trim_end().split_once(':') {
                Some(("redis_version", value)) => info.version = Some(value.to_owned()),
                Some(("role", value)) => info.role = Some(value.to_owned()),
                Some(("cluster_enabled", value)) => info.cluster = value == "1",
                _ => {}
            }
        }
        info
    }
}

/// A connection to the configured Redis with what was learned about it.
struct Session {
    con: MultiplexedConnection,
    /// The URL with any password masked.
    target: String,
    /// The password, scrubbed from every message as a second line of defence.
    secret: Option<String>,
    cancel: CancellationToken,
    info: ServerInfo,
    policy: Option<String>,
    /// False with an LFU maxmemory-policy: OBJECT IDLETIME is not available then.
    idle_tracking: bool,
    /// `EXPIRE … NX` is understood (Redis 7.0+).
    expire_nx: bool,
    /// `UNLINK` is understood (Redis 4.0+).
    unlink: bool,
}

impl Session {
    async fn connect(
        settings: &CacheCleanupSettings,
        cancel: CancellationToken,
    ) -> Result<Session, TaskError> {
        let Link {
            con,
            target,
            secret,
        } = sources::redis::connect(&settings.url, CONFIG_HINT, TASK_LIMITS, Some(&cancel)).await?;
        let mut session = Session {
            con,
            target,
            secret,
            cancel,
            info: ServerInfo::default(),
            policy: None,
            idle_tracking: true,
            expire_nx: true,
            unlink: true,
        };
        // INFO and CONFIG may be forbidden (ACLs, renamed commands): then assume a modern server
        // and find out from the replies to the real commands.
        if let Some(text) = session
            .optional::<String>("INFO", &redis::cmd("INFO"))
            .await?
        {
            session.info = ServerInfo::parse(&text);
        }
        let mut config_get = redis::cmd("CONFIG");
        config_get.arg("GET").arg("maxmemory-policy");
        if let Some(config) = session
            .optional::<HashMap<String, String>>("CONFIG GET", &config_get)
            .await?
        {
            session.policy = config.get("maxmemory-policy").cloned();
        }
        session.idle_tracking = !session.policy.as_deref().is_some_and(is_lfu_policy);
        if let Some(major) = session.major_version() {
            session.expire_nx = major >= 7;
            session.unlink = major >= 4;
        }
        Ok(session)
    }

    fn major_version(&self) -> Option<u32> {
        self.info
            .version
            .as_deref()?
            .split('.')
            .next()?
            .parse()
            .ok()
    }

    /// "Redis 7.0.15, maxmemory-policy noeviction"
    fn describe(&self) -> String {
        format!(
            "Redis {}, maxmemory-policy {}",
            self.info.version.as_deref().unwrap_or("version unknown"),
            self.policy.as_deref().unwrap_or("unknown")
        )
    }

    fn server_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.info.cluster {
            warnings.push(format!(
                "{} is a cluster node: SCAN only sees the keys of this node; run the task \
                 against every primary",
                self.target
            ));
        }
        if self.info.role.as_deref() == Some("slave") {
            warnings.push(format!(
                "{} is a replica: it will refuse EXPIRE and UNLINK; point {CONFIG_HINT} at the \
                 primary",
                self.target
            ));
        }
        warnings
    }

    fn lfu_message(&self) -> String {
        format!(
            "maxmemory-policy is {}: Redis does not track idle time (OBJECT IDLETIME is \
             unavailable), so idle-based deletion is skipped; TTLs are still set",
            self.policy.as_deref().unwrap_or("an LFU policy")
        )
    }

    /// Sends one command; `Err` only for a cancellation (the reply may be an error).
    async fn send<T: FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
    ) -> Result<RedisResult<T>, TaskError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(TaskError::Cancelled),
            reply = cmd.query_async(&mut self.con) => Ok(reply),
        }
    }

    async fn call<T: FromRedisValue>(
        &mut self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, TaskError> {
        match self.send(cmd).await? {
            Ok(value) => Ok(value),
            Err(error) => Err(self.error(what, &error)),
        }
    }

    /// A command the task can do without: a refusal by the server gives `None`, a lost
    /// connection is still an error.
    async fn optional<T: FromRedisValue>(
        &mut self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<Option<T>, TaskError> {
        match self.send(cmd).await? {
            Ok(value) => Ok(Some(value)),
            Err(error) if is_connection_problem(&error) => Err(self.error(what, &error)),
            Err(_) => Ok(None),
        }
    }

    /// Sends a pipeline (with `ignore_errors`) and returns one result per command.
    async fn pipeline(
        &mut self,
        what: &str,
        pipe: &redis::Pipeline,
    ) -> Result<Vec<RedisResult<Option<i64>>>, TaskError> {
        let replies: Vec<RedisResult<Option<i64>>> = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(TaskError::Cancelled),
            replies = pipe.query_async(&mut self.con) => {
                replies.map_err(|error| self.error(what, &error))?
            }
        };
        if replies.len() != pipe.len() {
            return Err(TaskError::failed(format!(
                "Redis at {} answered {} of {} {what} commands",
                self.target,
                replies.len(),
                pipe.len()
            )));
        }
        Ok(replies)
    }

    fn check_cancel(&self) -> Result<(), TaskError> {
        if self.cancel.is_cancelled() {
            Err(TaskError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A clear message for a command that failed once connected.
    fn error(&self, what: &str, error: &RedisError) -> TaskError {
        let target = &self.target;
        let message = if error.is_timeout() {
            format!(
                "Redis at {target} did not answer {what} within {}s",
                TASK_LIMITS.response.as_secs()
            )
        } else if is_connection_problem(error) {
            format!(
                "lost the connection to Redis at {target} during {what}: {error}; is redis-server \
                 still running?"
            )
        } else {
            match error.code() {
                Some("NOPERM") => format!(
                    "Redis at {target} refused {what}: {error}; the user in {CONFIG_HINT} needs SCAN, \
                     TTL, EXPIRE, OBJECT, MEMORY, UNLINK (or DEL), INFO and CONFIG"
                ),
                Some("NOAUTH" | "WRONGPASS") => format!(
                    "Redis at {target} rejected the login ({error}): check the user and password \
                     in {CONFIG_HINT}"
                ),
                Some("READONLY") => format!(
                    "Redis at {target} is a read-only replica ({error}): point {CONFIG_HINT} at the \
                     primary"
                ),
                _ => format!("Redis at {target}: {what} failed: {error}"),
            }
        };
        TaskError::failed(scrub(&message, self.secret.as_slice()))
    }

    /// SCANs one pattern to the end, handling (or, in a dry run, counting) every key that does
    /// not belong to an earlier pattern. `stats` holds what was done even when this fails.
    async fn clean_pattern(
        &mut self,
        settings: &CacheCleanupSettings,
        index: usize,
        mode: Mode,
        output: Option<&Output>,
        stats: &mut PatternStats,
    ) -> Result<(), TaskError> {
        let Some(pattern) = settings.patterns.get(index) else {
            return Ok(());
        };
        let earlier = &settings.patterns[..index];
        let mut cursor: u64 = 0;
        let mut next_progress = PROGRESS_EVERY;
        loop {
            self.check_cancel()?;
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern.pattern)
                .arg("COUNT")
                .arg(settings.scan_count.max(1));
            let (next, mut keys): (u64, Vec<Vec<u8>>) = self.call("SCAN", &scan).await?;
            // SCAN may return a key more than once; within a page that is cheap to undo.
            keys.sort_unstable();
            keys.dedup();
            let found = keys.len();
            keys.retain(|key| {
                !earlier
                    .iter()
                    .any(|other| redis_glob_match(other.pattern.as_bytes(), key))
            });
            stats.covered_earlier += (found - keys.len()) as u64;
            stats.scanned += keys.len() as u64;
            if !keys.is_empty() {
                self.handle_page(
                    &keys,
                    pattern,
                    settings.delete_idle_after,
                    mode,
                    output,
                    stats,
                )
                .await?;
            }
            if let Some(output) = output
                && stats.scanned >= next_progress
            {
                output.line(format!(
                    "{} — {} scanned so far…",
                    pattern.pattern,
                    count(stats.scanned, "key")
                ));
                next_progress = stats.scanned + PROGRESS_EVERY;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    async fn handle_page(
        &mut self,
        keys: &[Vec<u8>],
        pattern: &CachePattern,
        delete_idle_after: Duration,
        mode: Mode,
        output: Option<&Output>,
        stats: &mut PatternStats,
    ) -> Result<(), TaskError> {
        let with_idle = self.idle_tracking;
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in keys {
            pipe.cmd("TTL").arg(key.as_slice());
            if with_idle {
                pipe.cmd("OBJECT").arg("IDLETIME").arg(key.as_slice());
            }
        }
        let replies = self.pipeline("TTL/OBJECT IDLETIME", &pipe).await?;
        let per_key = if with_idle { 2 } else { 1 };

        let mut to_expire: Vec<&[u8]> = Vec::new();
        let mut to_delete: Vec<&[u8]> = Vec::new();
        let mut lfu_found = false;
        for (key, replies) in keys.iter().zip(replies.chunks(per_key)) {
            let ttl = match replies.first() {
                Some(Ok(ttl)) => *ttl,
                Some(Err(error)) => return Err(self.error("TTL", error)),
                None => None,
            };
            let idle = match replies.get(1) {
                Some(Ok(idle)) => *idle,
                Some(Err(error)) if is_lfu_error(error) => {
                    lfu_found = true;
                    None
                }
                Some(Err(error)) => return Err(self.error("OBJECT IDLETIME", error)),
                None => None,
            };
            match ttl {
                // -2: gone since SCAN listed it.
                None | Some(-2) => continue,
                _ => {}
            }
            if let Some(idle) = idle
                && Duration::from_secs(idle.max(0) as u64) > delete_idle_after
            {
                to_delete.push(key);
            } else if ttl == Some(-1) {
                to_expire.push(key);
            }
        }
        if lfu_found && self.idle_tracking {
            // The policy was switched to LFU while we were connected.
            self.idle_tracking = false;
            if let Some(output) = output {
                output.line(self.lfu_message());
            }
        }

        self.check_cancel()?;
        if !to_delete.is_empty() {
            self.delete(&to_delete, mode, stats).await?;
        }
        self.check_cancel()?;
        if !to_expire.is_empty() {
            match mode {
                Mode::DryRun => stats.ttl_set += to_expire.len() as u64,
                Mode::Apply => {
                    self.expire(&to_expire, ttl_secs(pattern.ttl), stats)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// Measures and (in a run) unlinks idle keys, counting only the ones actually removed.
    async fn delete(
        &mut self,
        keys: &[&[u8]],
        mode: Mode,
        stats: &mut PatternStats,
    ) -> Result<(), TaskError> {
        loop {
            let command = if self.unlink { "UNLINK" } else { "DEL" };
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for key in keys {
                pipe.cmd("MEMORY").arg("USAGE").arg(*key);
                if mode == Mode::Apply {
                    pipe.cmd(command).arg(*key);
                }
            }
            let what = match mode {
                Mode::DryRun => "MEMORY USAGE".to_owned(),
                Mode::Apply => format!("MEMORY USAGE/{command}"),
            };
            let replies = self.pipeline(&what, &pipe).await?;
            if mode == Mode::DryRun {
                stats.deleted += keys.len() as u64;
                stats.bytes += replies.iter().map(memory_usage).sum::<u64>();
                return Ok(());
            }
            if self.unlink
                && replies.chunks(2).any(
                    |pair| matches!(pair.get(1), Some(Err(error)) if is_unknown_command(error)),
                )
            {
                // Nothing was deleted by the failed UNLINKs: do it again with DEL.
                self.unlink = false;
                continue;
            }
            for pair in replies.chunks(2) {
                match pair.get(1) {
                    Some(Ok(Some(removed))) if *removed > 0 => {
                        stats.deleted += 1;
                        stats.bytes += pair.first().map_or(0, memory_usage);
                    }
                    Some(Err(error)) => return Err(self.error(command, error)),
                    _ => {}
                }
            }
            return Ok(());
        }
    }

    /// Gives keys that had no TTL the pattern's TTL, never replacing one set in the meantime
    /// (NX) where the server allows it.
    async fn expire(
        &mut self,
        keys: &[&[u8]],
        seconds: u64,
        stats: &mut PatternStats,
    ) -> Result<(), TaskError> {
        loop {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for key in keys {
                pipe.cmd("EXPIRE").arg(*key).arg(seconds);
                if self.expire_nx {
                    pipe.arg("NX");
                }
            }
            let replies = self.pipeline("EXPIRE", &pipe).await?;
            if self.expire_nx
                && replies
                    .iter()
                    .any(|reply| matches!(reply, Err(error) if is_syntax_error(error)))
            {
                // A server before 7.0: no key was changed by the rejected commands.
                self.expire_nx = false;
                continue;
            }
            for reply in &replies {
                match reply {
                    Ok(Some(1)) => stats.ttl_set += 1,
                    Ok(_) => {}
                    Err(error) => return Err(self.error("EXPIRE", error)),
                }
            }
            return Ok(());
        }
    }
}

fn is_connection_problem(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
}

/// OBJECT IDLETIME's refusal under an LFU maxmemory-policy.
fn is_lfu_error(error: &RedisError) -> bool {
    error.to_string().contains("LFU")
}

fn is_lfu_policy(policy: &str) -> bool {
    policy.to_ascii_lowercase().contains("lfu")
}

fn is_unknown_command(error: &RedisError) -> bool {
    error
        .to_string()
        .to_ascii_lowercase()
        .contains("unknown command")
}

/// How a server before 7.0 rejects `EXPIRE key seconds NX`.
fn is_syntax_error(error: &RedisError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("wrong number of arguments")
        || text.contains("syntax")
        || text.contains("unsupported option")
}

/// Bytes from a MEMORY USAGE reply; 0 when the key is gone or the command is not available.
fn memory_usage(reply: &RedisResult<Option<i64>>) -> u64 {
    match reply {
        Ok(Some(bytes)) => (*bytes).max(0) as u64,
        _ => 0,
    }
}

/// A TTL in whole seconds for EXPIRE, rounded up so that it is never shorter than configured.
fn ttl_secs(ttl: Duration) -> u64 {
    ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
}

/// "1 key", "3 keys".
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Whether `key` matches a Redis glob `pattern` exactly as SCAN MATCH decides it (`*`, `?`,
/// `[abc]`, `[^a-z]`, `\` escapes), ported from Redis' `stringmatchlen`.
fn redis_glob_match(pattern: &[u8], key: &[u8]) -> bool {
    // SCAN skips matching for a lone `*`, so it also lists the empty key.
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer = false;
    glob_match_from(pattern, 0, key, 0, &mut skip_longer, 0)
}

fn glob_match_from(
    p: &[u8],
    mut pi: usize,
    s: &[u8],
    mut si: usize,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    // Redis gives up on pathological patterns the same way.
    if nesting > 1000 {
        return false;
    }
    while pi < p.len() && si < s.len() {
        match p[pi] {
            b'*' => {
                while pi + 1 < p.len() && p[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == p.len() {
                    return true;
                }
                while si < s.len() {
                    if glob_match_from(p, pi + 1, s, si, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    si += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => si += 1,
            b'[' => {
                pi += 1;
                let negate = p.get(pi) == Some(&b'^');
                if negate {
                    pi += 1;
                }
                let mut matched = false;
                loop {
                    if pi >= p.len() {
                        // An unterminated class: the pattern ends here.
                        pi = p.len() - 1;
                        break;
                    }
                    if p[pi] == b'\\' && p.len() - pi >= 2 {
                        pi += 1;
                        if p[pi] == s[si] {
                            matched = true;
                        }
                    } else if p[pi] == b']' {
                        break;
                    } else if p.len() - pi >= 3 && p[pi + 1] == b'-' {
                        let (low, high) = if p[pi] <= p[pi + 2] {
                            (p[pi], p[pi + 2])
                        } else {
                            (p[pi + 2], p[pi])
                        };
                        pi += 2;
                        if (low..=high).contains(&s[si]) {
                            matched = true;
                        }
                    } else if p[pi] == s[si] {
                        matched = true;
                    }
                    pi += 1;
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            b'\\' => {
                if p.len() - pi >= 2 {
                    pi += 1;
                }
                if p[pi] != s[si] {
                    return false;
                }
                si += 1;
            }
            literal => {
                if literal != s[si] {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si == s.len() {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi == p.len() && si == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, key: &str) -> bool {
        redis_glob_match(pattern.as_bytes(), key.as_bytes())
    }

    #[test]
    fn glob_matches_like_redis() {
        assert!(matches("policy:*", "policy:a"));
        assert!(matches("policy:*", "policy:"));
        assert!(!matches("policy:*", "policy"));
        assert!(!matches("policy:*", "xpolicy:a"));
        assert!(matches("*", ""));
        assert!(matches("*b*", "a]b"));
        assert!(!matches("*b*", "hello"));
        assert!(!matches("*x", ""));
        assert!(matches("*", "anything"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("h?llo", "hello"));
        assert!(!matches("h?llo", "hllo"));
        assert!(matches("h[ae]llo", "hallo"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h[^e]llo", "hallo"));
        assert!(!matches("h[^e]llo", "hello"));
        assert!(matches("h[a-b]llo", "hbllo"));
        assert!(matches("h[b-a]llo", "hbllo"));
        assert!(!matches("h[a-b]llo", "hcllo"));
        assert!(matches("a\\*b", "a*b"));
        assert!(!matches("a\\*b", "axb"));
        assert!(matches("a[\\]]b", "a]b"));
        assert!(!matches("ab[", "abc"));
        assert!(matches("ab[^", "abc"));
        assert!(matches("user:**", "user:1"));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn ttl_rounds_up_and_counts_read_well() {
        assert_eq!(ttl_secs(Duration::from_secs(3600)), 3600);
        assert_eq!(ttl_secs(Duration::from_millis(1500)), 2);
        assert_eq!(count(1, "key"), "1 key");
        assert_eq!(count(0, "key"), "0 keys");
        assert_eq!(count(12, "idle key"), "12 idle keys");
    }

    #[test]
    fn zero_ttl_and_empty_patterns_are_refused() {
        let mut settings = CacheCleanupSettings {
            url: "redis://127.0.0.1/".into(),
            patterns: vec![CachePattern {
                pattern: "policy:*".into(),
                ttl: Duration::ZERO,
            }],
            delete_idle_after: Duration::from_secs(60),
            scan_count: 100,
        };
        assert!(validate(&settings).is_err_and(|why| why.contains("policy:*")));
        settings.patterns[0].ttl = Duration::from_secs(1);
        assert!(validate(&settings).is_ok());
        settings.patterns[0].pattern.clear();
        assert!(validate(&settings).is_err());
    }
}
