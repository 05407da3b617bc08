//! Service checks: is each configured service up, how fast did it answer, and what else does it
//! report (certificate days left, connections used, memory used…). One module per kind; every
//! check is bounded by its timeout and never panics: a failure is an outcome with its reason.

pub mod command;
pub mod container;
pub mod flap;
pub mod http;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod scheduler;
pub mod systemd;
pub mod tcp;
pub mod tls;

use std::time::Duration;

use serde::Serialize;

use crate::core::model::Unit;

/// One configured service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before the service is shown down (flap control).
    pub down_after: u32,
    /// Consecutive successes before a down service is shown up again.
    pub up_after: u32,
    pub check: ServiceCheck,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceCheck {
    Http(http::HttpCheck),
    Tcp(tcp::TcpCheck),
    Tls(tls::TlsCheck),
    Postgres(postgres::PostgresCheck),
    Redis(redis::RedisCheck),
    Systemd(systemd::SystemdCheck),
    Process(process::ProcessCheck),
    Command(command::CommandCheck),
    Container(container::ContainerCheck),
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOutcome {
    pub ok: bool,
    /// Time to answer, when the kind measures one.
    pub latency: Option<Duration>,
    /// A short line for the table: `200 OK in 12 ms`, `PONG, 41 % of maxmemory`, or the error.
    pub detail: String,
    /// Numbers rules can judge, e.g. `("service.tls_days_left", 5.0, Unit::Count)`.
    pub metrics: Vec<(&'static str, f64, Unit)>,
}

impl CheckOutcome {
    pub fn failed(detail: impl Into<String>) -> CheckOutcome {
        CheckOutcome {
            ok: false,
            latency: None,
            detail: detail.into(),
            metrics: Vec::new(),
        }
    }
}

/// Does once, before any check's clock starts, the setup the checks share and would otherwise do
/// inside the first check's measured time: seeding the TLS library's random generator (AWS-LC
/// gathers CPU jitter entropy on first use, some 50 ms of busy CPU) and building the HTTP clients
/// (loading the system's root certificates). On the console's single-threaded runtime that work
/// would also stall every other check whose clock is running, so it goes to a blocking thread.
pub async fn prepare(specs: &[ServiceSpec]) {
    let mut clients = Vec::new();
    let mut tls = false;
    for spec in specs {
        match &spec.check {
            ServiceCheck::Http(check) => {
                clients.push(check.verify_tls);
                tls |= check.url.trim().to_ascii_lowercase().starts_with("https:");
            }
            ServiceCheck::Tls(check) => {
                tls |= matches!(check.target, tls::TlsTarget::Endpoint { .. })
            }
            // Either may negotiate TLS with the server (sslmode, rediss://).
            ServiceCheck::Postgres(_) => tls = true,
            ServiceCheck::Redis(check) => tls |= check.url.starts_with("rediss:"),
            _ => {}
        }
    }
    clients.sort_unstable();
    clients.dedup();
    if clients.is_empty() && !tls {
        return;
    }
    let prepared = tokio::task::spawn_blocking(move || {
        if tls {
            tls::prepare();
        }
        for verify_tls in clients {
            http::prepare(verify_tls);
        }
    });
    if let Err(error) = prepared.await {
        tracing::warn!("preparing the service checks failed: {error}");
    }
}

/// Metrics a service check can report (rules name them with the service as instance).
pub const SERVICE_METRICS: &[&str] = &[
    "service.up",
    "service.latency_ms",
    "service.http_status",
    "service.tls_days_left",
    "service.pg_connections_pct",
    "service.pg_replication_lag_s",
    "service.pg_database_bytes",
    "service.redis_memory_pct",
    "service.redis_hit_ratio_pct",
    "service.redis_clients",
    "service.redis_evicted_keys",
    "service.redis_rdb_age_s",
    "service.process_count",
];

impl ServiceCheck {
    pub fn kind(&self) -> &'static str {
        match self {
            ServiceCheck::Http(_) => "http",
            ServiceCheck::Tcp(_) => "tcp",
            ServiceCheck::Tls(_) => "tls",
            ServiceCheck::Postgres(_) => "postgres",
            ServiceCheck::Redis(_) => "redis",
            ServiceCheck::Systemd(_) => "systemd",
            ServiceCheck::Process(_) => "process",
            ServiceCheck::Command(_) => "command",
            ServiceCheck::Container(_) => "container",
        }
    }

    /// Runs the check, bounded by `timeout`.
    pub async fn run(&self, timeout: Duration) -> CheckOutcome {
        let check = async {
            match self {
                ServiceCheck::Http(check) => http::check(check, timeout).await,
                ServiceCheck::Tcp(check) => tcp::check(check, timeout).await,
                ServiceCheck::Tls(check) => tls::check(check, timeout).await,
                ServiceCheck::Postgres(check) => postgres::check(check, timeout).await,
                ServiceCheck::Redis(check) => redis::check(check, timeout).await,
                ServiceCheck::Systemd(check) => systemd::check(check, timeout).await,
                ServiceCheck::Process(check) => process::check(check, timeout).await,
                ServiceCheck::Command(check) => command::check(check, timeout).await,
                ServiceCheck::Container(check) => container::check(check, timeout).await,
            }
        };
        // The kinds bound their own I/O; this is the backstop for anything that hangs anyway.
        match tokio::time::timeout(timeout + Duration::from_millis(500), check).await {
            Ok(outcome) => outcome,
            Err(_) => CheckOutcome::failed(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            )),
        }
    }
}
