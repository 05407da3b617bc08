//! Log files as a source of findings: following a file across rotation and restarts
//! ([`follow`]), the stored read positions ([`records`]) and parsing one line of a known format
//! into a record ([`format`]). Everything here is synchronous and UI-free, so a follower can run
//! on a blocking thread and the CLI and the console read logs the same way.

pub mod follow;
pub mod format;
mod records;
