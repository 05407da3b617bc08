//! Overlays drawn above the panes: the help, the command palette, and the task, history, detail
//! and checklist popups.

pub mod help;
pub mod palette;
pub mod task;
