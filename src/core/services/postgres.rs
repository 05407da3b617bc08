//! `postgres` checks: connect, `SELECT 1`, server version, connections used against
//! `max_connections`, database size, and replication lag when the server is a standby.
//!
//! The service is up when a connection can be made and `SELECT 1` answers; the latency is the
//! time for both. The figures come from one more query; when that one fails (a restricted role,
//! an overloaded server) the service is still up and the detail says the figures are missing.
//! Everything, connecting included, happens within the check's timeout, and queries also carry a
//! server-side `statement_timeout` of the same length.
//!
//! Connections count client backends only (background workers and WAL senders have slots of
//! their own). Replication lag is the age of the last replayed transaction, and 0 when the
//! standby has replayed everything it received, so an idle primary does not look like lag.
//!
//! URLs in details have their password masked; server messages are made printable.

use std::time::{Duration, Instant};

use sqlx::postgres::PgRow;
use sqlx::{Connection, Row};

use super::CheckOutcome;
use super::tcp::{format_latency, millis};
use crate::core::checks::rules::format_bytes;
use crate::core::model::Unit;
use crate::core::sources::failure::timed_out;
use crate::core::sources::pg::{self, Limits, Server};
use crate::core::sources::secrets::scrub_url_password;
use crate::core::sql;
use crate::core::text::printable;

/// Where a check's URL is configured, for the fix in messages.
const CONFIG_HINT: &str = "the service url";

#[derive(Debug, Clone, PartialEq)]
pub struct PostgresCheck {
    pub url: String,
}

/// Time allowed to close the connection politely, in the background.
const CLOSE_BUDGET: Duration = Duration::from_secs(1);

pub async fn check(check: &PostgresCheck, timeout: Duration) -> CheckOutcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let server = match Server::new(&check.url, crate::core::MONITOR_APPLICATION, CONFIG_HINT) {
        Ok(server) => server,
        Err(error) => return CheckOutcome::failed(error.to_string()),
    };
    let target = server.shown();
    let scrub = |text: String| scrub_url_password(&text, &check.url);
    let limits = Limits {
        connect: timeout,
        statement: Some(timeout),
        lock: None,
    };
    let mut conn = match server.connect(limits, None).await {
        Ok(conn) => conn,
        Err(error) => return CheckOutcome::failed(error.to_string()),
    };
    let one = sqlx::query_scalar::<_, i32>(sql::SERVICE_POSTGRES_ALIVE).fetch_one(&mut conn);
    match tokio::time::timeout_at(deadline, one).await {
        Ok(Ok(1)) => {}
        Ok(Ok(other)) => {
            return CheckOutcome::failed(format!("{target}: SELECT 1 answered {other}"));
        }
        Ok(Err(error)) => {
            return CheckOutcome::failed(scrub(format!(
                "{target}: SELECT 1 failed: {}",
                sql_message(&error)
            )));
        }
        Err(_) => {
            return CheckOutcome::failed(format!(
                "{target}: connected, but SELECT 1 {}",
                timed_out(timeout)
            ));
        }
    }
    let latency = started.elapsed();
    let figures = tokio::time::timeout_at(
        deadline,
        sqlx::query(sql::SERVICE_POSTGRES_FIGURES).fetch_one(&mut conn),
    )
    .await
    .map_err(|_| timed_out(timeout))
    .and_then(|reply| reply.map_err(|error| scrub(sql_message(&error))))
    .and_then(|row| Figures::from_row(&row));
    let mut outcome = match figures {
        Ok(figures) => figures.outcome(),
        Err(reason) => CheckOutcome {
            ok: true,
            latency: None,
            detail: format!(
                "connected in {}; figures unavailable: {reason}",
                format_latency(latency)
            ),
            metrics: Vec::new(),
        },
    };
    outcome.latency = Some(latency);
    outcome
        .metrics
        .insert(0, ("service.latency_ms", millis(latency), Unit::Count));
    // A polite goodbye keeps "unexpected EOF" out of the server log; nobody waits for it.
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CLOSE_BUDGET, conn.close()).await;
    });
    outcome
}

/// What the figures query answered.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    version: String,
    connections: i64,
    max_connections: i64,
    database_bytes: i64,
    /// Seconds; `Some` on a standby only.
    lag_s: Option<f64>,
}

impl Figures {
    fn from_row(row: &PgRow) -> Result<Figures, String> {
        let unexpected = |error: sqlx::Error| format!("unexpected answer: {error}");
        Ok(Figures {
            version: row.try_get("version").map_err(unexpected)?,
            connections: row.try_get("connections").map_err(unexpected)?,
            max_connections: row.try_get("max_connections").map_err(unexpected)?,
            database_bytes: row.try_get("database_bytes").map_err(unexpected)?,
            lag_s: row.try_get("lag_s").map_err(unexpected)?,
        })
    }

    /// "PostgreSQL 15.19, 7/100 connections, 8.40 MiB, standby lag 3 s", with the metrics.
    fn outcome(&self) -> CheckOutcome {
        // "15.19 (Debian 15.19-1.pgdg120+1)" -> "15.19"
        let version = self.version.split_whitespace().next().unwrap_or("?");
        let mut detail = format!(
            "PostgreSQL {}, {}/{} connections, {}",
            printable(version),
            self.connections,
            self.max_connections,
            format_bytes(self.database_bytes as f64)
        );
        let mut metrics = Vec::new();
        if self.max_connections > 0 {
            metrics.push((
                "service.pg_connections_pct",
                self.connections as f64 * 100.0 / self.max_connections as f64,
                Unit::Percent,
            ));
        }
        metrics.push((
            "service.pg_database_bytes",
            self.database_bytes as f64,
            Unit::Bytes,
        ));
        if let Some(lag) = self.lag_s {
            let lag = lag.max(0.0);
            detail.push_str(&format!(", standby lag {}", format_lag(lag)));
            metrics.push(("service.pg_replication_lag_s", lag, Unit::Seconds));
        }
        CheckOutcome {
            ok: true,
            latency: None,
            detail,
            metrics,
        }
    }
}

/// "3 s" up to two minutes, then "5m 3s", "2h 1m 5s".
fn format_lag(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else {
        humantime::format_duration(Duration::from_secs(seconds as u64)).to_string()
    }
}

/// The server's own message for a database error, else the error; printable.
fn sql_message(error: &sqlx::Error) -> String {
    printable(&pg::sql_message(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(lag_s: Option<f64>) -> Figures {
        Figures {
            version: "15.19 (Debian 15.19-1.pgdg120+1)".into(),
            connections: 7,
            max_connections: 100,
            database_bytes: 8_808_038,
            lag_s,
        }
    }

    #[test]
    fn primary_detail_and_metrics() {
        let outcome = figures(None).outcome();
        assert!(outcome.ok);
        assert_eq!(
            outcome.detail,
            "PostgreSQL 15.19, 7/100 connections, 8.40 MiB"
        );
        assert_eq!(
            outcome.metrics,
            vec![
                ("service.pg_connections_pct", 7.0, Unit::Percent),
                ("service.pg_database_bytes", 8_808_038.0, Unit::Bytes),
            ]
        );
    }

    #[test]
    fn standby_reports_its_lag() {
        let outcome = figures(Some(3.2)).outcome();
        assert_eq!(
            outcome.detail,
            "PostgreSQL 15.19, 7/100 connections, 8.40 MiB, standby lag 3 s"
        );
        assert!(
            outcome
                .metrics
                .contains(&("service.pg_replication_lag_s", 3.2, Unit::Seconds))
        );
        assert_eq!(format_lag(0.0), "0 s");
        assert_eq!(format_lag(303.0), "5m 3s");
    }
}
