//! `tcp` checks: connect to host:port and measure the connect time.
//!
//! Also home to the small helpers the other network kinds share: resolving and connecting with
//! clear failure texts, and short human latencies (`0.4 ms`, `12 ms`, `1.2 s`).

use std::io;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::CheckOutcome;
use crate::core::model::Unit;
use crate::core::sources::failure::{describe_io_error, timed_out};
use crate::core::text::printable;

#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    /// `host:port`.
    pub address: String,
}

pub async fn check(check: &TcpCheck, timeout: Duration) -> CheckOutcome {
    let start = Instant::now();
    match tokio::time::timeout(timeout, connect(&check.address)).await {
        Err(_) => CheckOutcome::failed(timed_out(timeout)),
        Ok(Err(detail)) => CheckOutcome::failed(detail),
        Ok(Ok(stream)) => {
            let latency = start.elapsed();
            drop(stream);
            CheckOutcome {
                ok: true,
                latency: Some(latency),
                detail: format!("connected in {}", format_latency(latency)),
                metrics: vec![("service.latency_ms", millis(latency), Unit::Count)],
            }
        }
    }
}

/// Resolves `address` (`host:port`) and connects to its addresses in turn. The error is a short
/// line for the table: `cannot resolve db.invalid`, `connection refused`…
/// Not bounded in time: callers wrap it in their timeout.
pub(crate) async fn connect(address: &str) -> Result<TcpStream, String> {
    let addrs: Vec<_> = match tokio::net::lookup_host(address).await {
        Ok(addrs) => addrs.collect(),
        Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
            return Err(format!(
                "invalid address \"{}\" (expected host:port)",
                printable(address)
            ));
        }
        Err(_) => return Err(format!("cannot resolve {}", printable(host_part(address)))),
    };
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(error),
        }
    }
    Err(match last_error {
        Some(error) => describe_io_error(&error),
        None => format!("cannot resolve {}", printable(host_part(address))),
    })
}

/// The host of `host:port` or `[v6]:port`, without brackets.
pub(crate) fn host_part(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        // A bare IPv6 address has several colons and no brackets: keep it whole.
        Some((host, _)) if !host.contains(':') || host.starts_with('[') => host,
        _ => address,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Milliseconds with fractions, for `service.latency_ms`.
pub(crate) fn millis(latency: Duration) -> f64 {
    latency.as_secs_f64() * 1000.0
}

/// A latency for people: `0.4 ms`, `12 ms`, `1.2 s`, `1 s`.
pub(crate) fn format_latency(latency: Duration) -> String {
    let ms = millis(latency);
    if ms < 1.0 {
        format!("{ms:.1} ms")
    } else if ms < 999.5 {
        format!("{ms:.0} ms")
    } else {
        let secs = format!("{:.1}", latency.as_secs_f64());
        format!("{} s", secs.strip_suffix(".0").unwrap_or(&secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_well() {
        assert_eq!(format_latency(Duration::from_micros(400)), "0.4 ms");
        assert_eq!(format_latency(Duration::from_micros(12_300)), "12 ms");
        assert_eq!(format_latency(Duration::from_millis(1200)), "1.2 s");
        assert_eq!(format_latency(Duration::from_secs(1)), "1 s");
    }

    #[test]
    fn host_parts() {
        assert_eq!(host_part("db.example.com:5432"), "db.example.com");
        assert_eq!(host_part("[::1]:443"), "::1");
        assert_eq!(host_part("no-port"), "no-port");
    }
}
