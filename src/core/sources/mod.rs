//! The one way opsdeck reaches each outside thing: PostgreSQL, Redis, child processes, and the
//! masking that keeps secrets out of whatever is said about them. Collectors, service checks
//! and tasks connect, spawn and mask through here, so timeouts, cancellation and messages
//! behave the same everywhere.

pub mod pg;
pub mod process;
pub mod redis;
pub mod secrets;

use thiserror::Error;

/// Why an outside thing could not be used: the whole line (what failed, where, with the
/// secret masked, and the fix), or the caller's cancellation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SourceError {
    #[error("{0}")]
    Failed(String),
    #[error("cancelled")]
    Cancelled,
}
