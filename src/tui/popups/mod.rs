//! Overlays drawn above the panes: the help, the command palette, the forms, and the task,
//! history, detail and checklist popups.

pub mod form;
pub mod help;
pub mod palette;
pub mod task;
