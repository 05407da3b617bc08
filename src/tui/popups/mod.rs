//! Overlays drawn above the panes.

pub mod help;
