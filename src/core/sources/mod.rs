//! The one way opsdeck reaches each outside thing: PostgreSQL, Redis, child processes, and the
//! masking that keeps secrets out of whatever is said about them. Collectors, service checks
//! and tasks connect, spawn and mask through here, so timeouts, cancellation and messages
//! behave the same everywhere.

pub mod process;
pub mod redis;
pub mod secrets;
