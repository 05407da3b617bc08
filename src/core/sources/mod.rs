//! The one way opsdeck reaches each outside thing: PostgreSQL, Redis, Prometheus, HTTP clients,
//! child processes, and the masking that keeps secrets out of whatever is said about them.
//! Collectors, service checks and tasks connect, spawn and mask through here, so timeouts,
//! cancellation and messages behave the same everywhere.

pub mod failure;
pub mod pg;
pub mod process;
pub mod prometheus;
pub mod redis;
pub mod secrets;

use std::future::Future;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// A reqwest client builder on rustls with ring. reqwest is built without a provider of its own
/// (it would bring aws-lc, 0.5 MiB of code and tables next to ring's) and takes the process
/// default, installed here; losing the race to another thread installing it is fine.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ =
        rustls::crypto::CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    reqwest::Client::builder()
}

/// Why an outside thing could not be used: the whole line (what failed, where, with the
/// secret masked, and the fix), or the caller's cancellation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SourceError {
    #[error("{0}")]
    Failed(String),
    #[error("cancelled")]
    Cancelled,
}

/// Awaits `work` unless `cancel` fires first (the work is then dropped: whatever it had asked of
/// the outside thing is abandoned, not stopped there).
pub async fn unless_cancelled<T>(
    cancel: Option<&CancellationToken>,
    work: impl Future<Output = T>,
) -> Result<T, SourceError> {
    match cancel {
        None => Ok(work.await),
        Some(token) => tokio::select! {
            biased;
            () = token.cancelled() => Err(SourceError::Cancelled),
            value = work => Ok(value),
        },
    }
}
