//! `redis` checks: PING and INFO: used memory against maxmemory, hit ratio, connected clients,
//! evicted keys, last RDB save status and age, AOF status.
//!
//! The service is up when PING answers PONG; the latency is the time to connect (with AUTH and
//! SELECT when the url asks for them) and get that answer. INFO gives the figures; when it is
//! refused (ACLs, a renamed command) the service is still up and the detail says so. A failed
//! last RDB save or AOF write leaves the service up but leads the detail (`last RDB save
//! FAILED, …`), for rules and the table to judge.
//!
//! Connecting is [`sources::redis::connect`]'s: URLs in details have their password masked;
//! server texts are made printable.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;

use super::CheckOutcome;
use super::tcp::{format_latency, millis};
use crate::core::checks::rules::format_bytes;
use crate::core::model::Unit;
use crate::core::sources;
use crate::core::sources::failure::timed_out;
use crate::core::sources::redis::{Limits, describe_error};

#[derive(Debug, Clone, PartialEq)]
pub struct RedisCheck {
    pub url: String,
}

/// Where a check's URL is configured, for the fix in messages.
const CONFIG_HINT: &str = "the service url";

pub async fn check(check: &RedisCheck, timeout: Duration) -> CheckOutcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let limits = Limits {
        connect: timeout,
        response: timeout,
    };
    let mut link = match sources::redis::connect(&check.url, CONFIG_HINT, limits, None).await {
        Ok(link) => link,
        Err(error) => return CheckOutcome::failed(error.to_string()),
    };
    let latency = started.elapsed();
    let pong = format!("PONG in {}", format_latency(latency));
    let mut outcome = match info(&mut link.con, deadline, timeout).await {
        Ok(text) => Info::parse(&text).outcome(&pong, unix_now()),
        Err(reason) => CheckOutcome {
            ok: true,
            latency: None,
            detail: format!("{pong}; INFO unavailable: {}", link.scrub(&reason)),
            metrics: Vec::new(),
        },
    };
    outcome.latency = Some(latency);
    outcome
        .metrics
        .insert(0, ("service.latency_ms", millis(latency), Unit::Count));
    outcome
}

/// The text of `INFO` (default sections), or why there is none.
async fn info(
    con: &mut MultiplexedConnection,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> Result<String, String> {
    let info = redis::cmd("INFO");
    match tokio::time::timeout_at(deadline, info.query_async::<String>(con)).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(error)) => Err(describe_error(&error, timeout, CONFIG_HINT)),
        Err(_) => Err(timed_out(timeout)),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// The fields of `INFO` this check reads.
#[derive(Debug, Default, Clone, PartialEq)]
struct Info {
    used_memory: Option<u64>,
    maxmemory: Option<u64>,
    keyspace_hits: Option<u64>,
    keyspace_misses: Option<u64>,
    connected_clients: Option<u64>,
    evicted_keys: Option<u64>,
    /// `ok` or `err`.
    rdb_last_bgsave_status: Option<String>,
    /// Unix time of the last successful RDB save (server start when there was none).
    rdb_last_save_time: Option<i64>,
    aof_enabled: Option<bool>,
    /// `ok` or `err`.
    aof_last_write_status: Option<String>,
}

impl Info {
    /// `field:value` lines, in sections that start with `# Name`; CRLF or LF.
    fn parse(text: &str) -> Info {
        let mut info = Info::default();
        for line in text.lines() {
            let Some((key, value)) = line.trim_end().split_once(':') else {
                continue;
            };
            let number = || value.parse::<u64>().ok();
            match key {
                "used_memory" => info.used_memory = number(),
                "maxmemory" => info.maxmemory = number(),
                "keyspace_hits" => info.keyspace_hits = number(),
                "keyspace_misses" => info.keyspace_misses = number(),
                "connected_clients" => info.connected_clients = number(),
                "evicted_keys" => info.evicted_keys = number(),
                "rdb_last_bgsave_status" => info.rdb_last_bgsave_status = Some(value.to_owned()),
                "rdb_last_save_time" => info.rdb_last_save_time = value.parse().ok(),
                "aof_enabled" => info.aof_enabled = Some(value == "1"),
                "aof_last_write_status" => info.aof_last_write_status = Some(value.to_owned()),
                _ => {}
            }
        }
        info
    }

    /// The detail and metrics, `pong` leading the figures and `now` in Unix seconds.
    fn outcome(&self, pong: &str, now: i64) -> CheckOutcome {
        let mut parts: Vec<String> = Vec::new();
        let mut metrics = Vec::new();
        let rdb_failed = self.rdb_last_bgsave_status.as_deref() == Some("err");
        let aof_on = self.aof_enabled == Some(true);
        let aof_failed = aof_on && self.aof_last_write_status.as_deref() == Some("err");
        if rdb_failed {
            parts.push("last RDB save FAILED".to_owned());
        }
        if aof_failed {
            parts.push("AOF write FAILED".to_owned());
        }
        parts.push(pong.to_owned());

        if let Some(used) = self.used_memory {
            let limit = match self.maxmemory {
                Some(max) if max > 0 => {
                    let pct = used as f64 * 100.0 / max as f64;
                    metrics.push(("service.redis_memory_pct", pct, Unit::Percent));
                    format!("{pct:.0} % of maxmemory")
                }
                _ => "no maxmemory".to_owned(),
            };
            parts.push(format!("{} used ({limit})", format_bytes(used as f64)));
        }
        let hits = self.keyspace_hits.unwrap_or(0);
        let misses = self.keyspace_misses.unwrap_or(0);
        if hits + misses > 0 {
            let ratio = hits as f64 * 100.0 / (hits + misses) as f64;
            metrics.push(("service.redis_hit_ratio_pct", ratio, Unit::Percent));
            parts.push(format!("hit ratio {ratio:.0} %"));
        }
        if let Some(clients) = self.connected_clients {
            metrics.push(("service.redis_clients", clients as f64, Unit::Count));
            parts.push(match clients {
                1 => "1 client".to_owned(),
                n => format!("{n} clients"),
            });
        }
        if let Some(evicted) = self.evicted_keys {
            metrics.push(("service.redis_evicted_keys", evicted as f64, Unit::Count));
        }
        if let Some(saved) = self.rdb_last_save_time.filter(|saved| *saved > 0) {
            let age = (now - saved).max(0);
            metrics.push(("service.redis_rdb_age_s", age as f64, Unit::Seconds));
            let label = if rdb_failed {
                "last good save"
            } else {
                "last save ok"
            };
            parts.push(format!("{label} {} ago", format_age(age as u64)));
        }
        match self.aof_enabled {
            Some(false) => parts.push("AOF off".to_owned()),
            Some(true) if !aof_failed => parts.push("AOF on".to_owned()),
            _ => {}
        }
        CheckOutcome {
            ok: true,
            latency: None,
            detail: parts.join(", "),
            metrics,
        }
    }
}

/// "45s", "12m", "3h 5m", "2d 4h".
fn format_age(seconds: u64) -> String {
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{minutes}m")
    } else if seconds < 86_400 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h {rest}m"),
        }
    } else {
        match hours % 24 {
            0 => format!("{days}d"),
            rest => format!("{days}d {rest}h"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn sample(extra: &str) -> String {
        format!(
            "# Server\r\nredis_version:7.0.15\r\n\r\n# Clients\r\nconnected_clients:3\r\n\r\n\
             # Memory\r\nused_memory:1258291\r\nused_memory_human:1.20M\r\nmaxmemory:0\r\n\r\n\
             # Persistence\r\nloading:0\r\nrdb_last_save_time:{}\r\n\
             rdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_last_write_status:ok\r\n\r\n\
             # Stats\r\nkeyspace_hits:97\r\nkeyspace_misses:3\r\nevicted_keys:5\r\n{extra}",
            NOW - 720
        )
    }

    fn metric(outcome: &CheckOutcome, name: &str) -> Option<f64> {
        outcome
            .metrics
            .iter()
            .find(|(metric, _, _)| *metric == name)
            .map(|(_, value, _)| *value)
    }

    #[test]
    fn healthy_server_without_maxmemory() {
        let outcome = Info::parse(&sample("")).outcome("PONG in 0.3 ms", NOW);
        assert!(outcome.ok);
        assert_eq!(
            outcome.detail,
            "PONG in 0.3 ms, 1.20 MiB used (no maxmemory), hit ratio 97 %, 3 clients, \
             last save ok 12m ago, AOF off"
        );
        assert_eq!(metric(&outcome, "service.redis_memory_pct"), None);
        assert_eq!(metric(&outcome, "service.redis_hit_ratio_pct"), Some(97.0));
        assert_eq!(metric(&outcome, "service.redis_clients"), Some(3.0));
        assert_eq!(metric(&outcome, "service.redis_evicted_keys"), Some(5.0));
        assert_eq!(metric(&outcome, "service.redis_rdb_age_s"), Some(720.0));
    }

    #[test]
    fn maxmemory_gives_a_percentage() {
        let text = sample("").replace("maxmemory:0", "maxmemory:3000000");
        let outcome = Info::parse(&text).outcome("PONG in 1 ms", NOW);
        let pct = metric(&outcome, "service.redis_memory_pct").unwrap();
        assert!((pct - 41.94).abs() < 0.01, "{pct}");
        assert!(outcome.detail.contains("1.20 MiB used (42 % of maxmemory)"));
    }

    #[test]
    fn no_traffic_means_no_hit_ratio() {
        let text = sample("")
            .replace("keyspace_hits:97", "keyspace_hits:0")
            .replace("keyspace_misses:3", "keyspace_misses:0");
        let outcome = Info::parse(&text).outcome("PONG in 1 ms", NOW);
        assert_eq!(metric(&outcome, "service.redis_hit_ratio_pct"), None);
        assert!(!outcome.detail.contains("hit ratio"));
    }

    #[test]
    fn failed_saves_lead_the_detail_but_keep_the_service_up() {
        let text = sample("")
            .replace("rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err")
            .replace("aof_enabled:0", "aof_enabled:1")
            .replace("aof_last_write_status:ok", "aof_last_write_status:err");
        let outcome = Info::parse(&text).outcome("PONG in 1 ms", NOW);
        assert!(outcome.ok);
        assert!(
            outcome
                .detail
                .starts_with("last RDB save FAILED, AOF write FAILED, PONG in 1 ms, "),
            "{}",
            outcome.detail
        );
        assert!(outcome.detail.contains("last good save 12m ago"));
        let text = sample("").replace("aof_enabled:0", "aof_enabled:1");
        let outcome = Info::parse(&text).outcome("PONG in 1 ms", NOW);
        assert!(outcome.detail.ends_with("AOF on"));
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(format_age(45), "45s");
        assert_eq!(format_age(720), "12m");
        assert_eq!(format_age(3 * 3600 + 300), "3h 5m");
        assert_eq!(format_age(7200), "2h");
        assert_eq!(format_age(2 * 86_400 + 4 * 3600 + 10), "2d 4h");
    }
}
