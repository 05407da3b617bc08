//! Log files and the journal as a source of findings: what a configured source is
//! ([`source`]), what the sources found, as owned data and as the rules' sample ([`findings`]),
//! following a file across rotation and restarts ([`follow`]), reading the journal from a cursor
//! ([`journal`]), the stored read positions and journal cursors
//! ([`records`]), parsing one line of a known format
//! into a record ([`format`]), reducing messages to signatures counted per minute with new ones
//! flagged ([`signatures`]), and the guides' recipes (failed SSH logins, access-log figures:
//! [`recipes`]). Everything here is synchronous and UI-free, so a follower can run on a blocking
//! thread and the CLI and the console read logs the same way.

pub mod findings;
pub mod follow;
pub mod format;
pub mod journal;
mod journal_records;
pub mod recipes;
mod records;
pub mod signatures;
pub mod source;
pub mod watch;
