//! The UI-free heart of opsdeck: what is measured, how it is judged, what is remembered.
//!
//! Nothing under `core` may import ratatui or crossterm (a test enforces it): the TUI and the
//! headless CLI both sit on top of this module and talk to it only through owned messages
//! ([`runner::Request`] in, [`runner::Event`] out).

pub mod backups;
pub mod checklists;
pub mod checks;
pub mod collectors;
pub mod model;
pub mod notify;
pub mod queries;
pub mod runner;
pub mod services;
pub mod store;
pub mod tasks;
pub mod text;
