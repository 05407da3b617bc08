//! The UI-free heart of opsdeck: what is measured, how it is judged, what is remembered.
//!
//! Nothing under `core` may import ratatui or crossterm (a test enforces it): the TUI and the
//! headless CLI both sit on top of this module and talk to it only through owned messages
//! ([`protocol::Request`] in, [`protocol::Event`] out).

/// The `application_name` of the connections opsdeck watches PostgreSQL with (queries pane,
/// service checks): the sessions view leaves them out, since they are the watcher itself.
pub const MONITOR_APPLICATION: &str = "opsdeck-monitor";
/// The `application_name` of opsdeck's task sessions (VACUUM, REINDEX, restore tests, session
/// signals): shown like any other session, marked as opsdeck's, since a task waiting on a lock
/// is exactly what an engineer needs to see.
pub const TASK_APPLICATION: &str = "opsdeck-task";

pub mod backups;
pub mod calendar;
pub mod capacity;
pub mod checklists;
pub mod checks;
pub mod collectors;
pub mod containers;
pub mod execution;
pub mod exporter;
pub mod exposure;
pub mod fleet;
pub mod history;
pub mod incidents;
pub mod logs;
pub mod model;
pub mod notify;
pub mod protocol;
pub mod queries;
pub mod reports;
pub mod runner;
pub mod services;
pub mod shared;
pub mod sources;
pub mod sql;
pub mod store;
pub mod tasks;
pub mod text;
