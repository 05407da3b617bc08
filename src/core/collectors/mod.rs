//! Timed samplers that feed the panes. Each collector owns its OS handles and is driven by the
//! runner on its own thread (they block: sysinfo reads /proc, statvfs may stall on a dead NFS
//! mount), so a slow collector never delays another one or the UI.

pub mod resources;

use std::time::Duration;

use thiserror::Error;

/// Something that can be sampled at an interval. `collect` may block.
pub trait Collector: Send + 'static {
    type Output: Send + 'static;
    fn interval(&self) -> Duration;
    fn collect(&mut self) -> Result<Self::Output, CollectError>;
}

#[derive(Debug, Error)]
pub enum CollectError {
    #[error("cannot read system information: {0}")]
    System(String),
}
