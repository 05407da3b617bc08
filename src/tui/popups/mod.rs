//! Overlays drawn above the panes.

pub mod help;
pub mod task;
