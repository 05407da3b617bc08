//! Headless commands for cron and scripts. They use the same core modules as the console and
//! fold the results into text or JSON.

pub mod backups;
pub mod check;
pub mod checklists;
pub mod containers;
pub mod exporter;
pub mod hosts;
pub mod incidents;
pub mod logs;
pub mod queries;
pub mod report;
pub mod tasks;

/// A request that cannot be carried out as asked (unknown id, bad value): printed as is, and the
/// command exits 2 so scripts can tell it from a failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The exit status of a command's `result`: its own on success, 2 after printing a refusal;
/// any other error is passed on.
pub fn exit_status(result: anyhow::Result<i32>) -> anyhow::Result<i32> {
    match result {
        Ok(code) => Ok(code),
        Err(error) => match error.downcast::<Refused>() {
            Ok(Refused(message)) => {
                eprintln!("opsdeck: {message}");
                Ok(2)
            }
            Err(error) => Err(error),
        },
    }
}
