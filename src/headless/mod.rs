//! Headless commands for cron and scripts. They use the same core modules as the console and
//! fold the results into text or JSON.

pub mod backups;
pub mod check;
pub mod checklists;
pub mod incidents;
pub mod queries;
pub mod tasks;
