//! Verifying one backup file: reads it once, hashing every byte with SHA-256 and feeding the
//! checks its kind allows (full gzip decompression, a tar listing, pg_dump's completion marker),
//! then runs the external checker its kind needs (`pg_restore`, `redis-check-rdb`,
//! `redis-check-aof`), compares the digest with the `.sha256` sidecar and makes sure the file
//! did not change meanwhile.
//!
//! Everything here blocks; the verify task runs it in `tokio::task::spawn_blocking`.

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flate2::bufread::MultiGzDecoder;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::core::backups::{BackupFile, BackupTools, DetectedKind, ExpectedKind, VerifyResult};
use crate::core::checks::rules::format_bytes;
use crate::core::sources::process::{BlockingProcess, SpawnError, not_found};
use crate::core::tasks::TaskError;
use crate::core::text::{printable, printable_path};

/// Read size: large enough that hashing and inflating dominate, small enough that cancellation
/// is seen within milliseconds.
const BUFFER_SIZE: usize = 1 << 20;
/// pg_dump ends with its completion marker, followed only by a few comment lines and, since
/// PostgreSQL 17.6 / 16.10, an `\unrestrict` line.
const TAIL_SIZE: usize = 1024;
const PG_DUMP_MARKERS: [&[u8]; 2] = [
    b"-- PostgreSQL database dump complete",
    b"-- PostgreSQL database cluster dump complete",
];
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// How much of a file's start a message shows.
const HEAD_SIZE: usize = 16;
/// A checker's output beyond this is read and dropped: only its first lines matter.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// What verifying one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub result: VerifyResult,
    /// One line, safe to print: the problems first, then what was checked.
    pub message: String,
    /// Lower-case hex SHA-256 of the whole file as read; `None` when the file could not be read
    /// to the end or changed while it was read (the digest would then describe no version of
    /// it).
    pub sha256: Option<String>,
    pub bytes_read: u64,
}

/// The verification was cancelled; nothing is known about the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cancelled")]
pub struct Cancelled;

impl From<Cancelled> for TaskError {
    fn from(_: Cancelled) -> TaskError {
        TaskError::Cancelled
    }
}

/// Verifies `file` against the kind its set expects.
///
/// The checks follow what the file is (`file.kind`); a kind `expected` does not accept is
/// reported as corrupt (except for [`ExpectedKind::Other`]). `progress` gets the number of the
/// file's bytes read so far, at most every 64 MiB or 250 ms and once more when the reading is
/// done (before the external checker runs and the file is looked at again). `cancel` is honoured
/// within a second, external checkers included.
pub fn verify_file(
    file: &BackupFile,
    expected: ExpectedKind,
    tools: &BackupTools,
    progress: &mut dyn FnMut(u64),
    cancel: &CancellationToken,
) -> Result<VerifyOutcome, Cancelled> {
    verify_paced(file, expected, tools, progress, cancel, Pace::DEFAULT)
}

/// How often progress is reported: after this many bytes or this long, whichever comes first.
#[derive(Debug, Clone, Copy)]
struct Pace {
    bytes: u64,
    interval: Duration,
}

impl Pace {
    const DEFAULT: Pace = Pace {
        bytes: 64 << 20,
        interval: Duration::from_millis(250),
    };
}

fn verify_paced(
    file: &BackupFile,
    expected: ExpectedKind,
    tools: &BackupTools,
    progress: &mut dyn FnMut(u64),
    cancel: &CancellationToken,
    pace: Pace,
) -> Result<VerifyOutcome, Cancelled> {
    if cancel.is_cancelled() {
        return Err(Cancelled);
    }
    let path = &file.path;
    let (handle, before) = match open(path) {
        Ok(opened) => opened,
        Err(message) => return Ok(VerifyOutcome::unverified(VerifyResult::Error, message, 0)),
    };
    let size = before.len();
    if size != file.size {
        // The checks were chosen from what the file was when it was listed.
        return Ok(VerifyOutcome::unverified(
            VerifyResult::Changed,
            format!(
                "changed since it was listed ({} then, {} now); verify again when it is complete",
                format_bytes(file.size as f64),
                format_bytes(size as f64)
            ),
            0,
        ));
    }

    let check = Check::for_file(file.kind, expected);
    let mut reading = Reading::new(progress, pace, cancel);
    let (head, content) = {
        let mut raw = BufReader::with_capacity(
            BUFFER_SIZE,
            Tee {
                file: handle,
                reading: &mut reading,
            },
        );
        let head = raw
            .fill_buf()
            .map(|start| start[..start.len().min(HEAD_SIZE)].to_vec())
            .unwrap_or_default();
        let content = match check {
            Check::Stream { gzip, then } if size > 0 => {
                Some(check_stream(&mut raw, gzip, then, &head, size, cancel))
            }
            _ => None,
        };
        // The hash covers the whole file even when a check stopped early.
        let _ = drain(&mut raw);
        (head, content)
    };
    if cancel.is_cancelled() {
        return Err(Cancelled);
    }
    let Reading {
        hasher,
        bytes,
        error,
        progress,
        ..
    } = reading;
    progress(bytes);
    if let Some(error) = error {
        return Ok(VerifyOutcome::unverified(
            VerifyResult::Error,
            format!("read error after {}: {error}", format_bytes(bytes as f64)),
            bytes,
        ));
    }
    let sha256 = hex(&hasher.finalize());

    let content_damaged = matches!(content, Some(Err(_)));
    let mut report = Report::default();
    if size == 0 {
        report.problem(VerifyResult::Corrupt, "the file is empty".to_owned());
    }
    match content {
        Some(Ok(notes)) => report.notes.extend(notes),
        Some(Err(problem)) => report.problem(VerifyResult::Corrupt, problem),
        None => {}
    }
    if size > 0 {
        match check {
            Check::Stream { .. } => {}
            Check::PgRestore => report.add(pg_restore_check(tools, path, cancel)?),
            Check::Redis(format) => report.add(redis_check(tools, format, path, &head, cancel)?),
            Check::ChecksumOnly => report.note(match (file.kind.is_encrypted(), &file.sidecar) {
                (true, Some(_)) => "encrypted: only the checksum can be verified".to_owned(),
                (true, None) => {
                    "encrypted and no .sha256 sidecar: only readability was verified".to_owned()
                }
                (false, _) => format!("no content check for {} data", file.kind.label()),
            }),
        }
    }

    if let Some(changed) = changed(path, &before, bytes) {
        return Ok(changed);
    }

    let gzip_damage_explains_kind = file.kind == DetectedKind::Gzip
        && matches!(expected, ExpectedKind::PgDumpGzip | ExpectedKind::TarGz)
        && content_damaged;
    if size > 0
        && expected != ExpectedKind::Other
        && !expected.accepts(file.kind)
        && !gzip_damage_explains_kind
    {
        report.problem(VerifyResult::Corrupt, mismatch(expected, file.kind, &head));
    }
    compare_sidecar(file, &sha256, &mut report);
    Ok(report.finish(Some(sha256), bytes))
}

impl VerifyOutcome {
    fn unverified(result: VerifyResult, message: String, bytes_read: u64) -> VerifyOutcome {
        VerifyOutcome {
            result,
            message,
            sha256: None,
            bytes_read,
        }
    }
}

/// Opens without blocking on a FIFO put where a backup was, and takes the "before" stat from
/// the open handle so it describes exactly what is read.
fn open(path: &Path) -> Result<(File, Metadata), String> {
    let shown = printable_path(path);
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => {
                format!("{shown} is gone (deleted or renamed since it was listed)")
            }
            _ => format!("cannot open {shown}: {error}"),
        })?;
    let metadata = handle
        .metadata()
        .map_err(|error| format!("cannot stat {shown}: {error}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    Ok((handle, metadata))
}

/// Whether the file at `path` is still the one opened, unchanged and fully read.
fn changed(path: &Path, before: &Metadata, bytes_read: u64) -> Option<VerifyOutcome> {
    let after = match std::fs::metadata(path) {
        Ok(after) => after,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Some(VerifyOutcome::unverified(
                VerifyResult::Error,
                format!("{} was deleted while being verified", printable_path(path)),
                bytes_read,
            ));
        }
        Err(error) => {
            return Some(VerifyOutcome::unverified(
                VerifyResult::Error,
                format!("cannot stat {} again: {error}", printable_path(path)),
                bytes_read,
            ));
        }
    };
    let what = if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        "replaced by another file".to_owned()
    } else if after.len() != before.len() {
        format!(
            "size went from {} to {}",
            format_bytes(before.len() as f64),
            format_bytes(after.len() as f64)
        )
    } else if (after.mtime(), after.mtime_nsec()) != (before.mtime(), before.mtime_nsec()) {
        "modification time moved".to_owned()
    } else if bytes_read != before.len() {
        format!(
            "read {} of {}",
            format_bytes(bytes_read as f64),
            format_bytes(before.len() as f64)
        )
    } else {
        return None;
    };
    Some(VerifyOutcome::unverified(
        VerifyResult::Changed,
        format!("changed while being verified ({what}); verify again when it is complete"),
        bytes_read,
    ))
}

/// Which checks a file's content gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Checked while it is read: optionally gunzipped, then `then`.
    Stream {
        gzip: bool,
        then: Then,
    },
    PgRestore,
    Redis(RedisFormat),
    ChecksumOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Drain,
    PgDumpMarker,
    Tar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedisFormat {
    Rdb,
    Aof,
}

impl Check {
    fn for_file(kind: DetectedKind, expected: ExpectedKind) -> Check {
        match kind {
            DetectedKind::PgDumpPlain => Check::Stream {
                gzip: false,
                then: Then::PgDumpMarker,
            },
            DetectedKind::PgDumpPlainGzip => Check::Stream {
                gzip: true,
                then: Then::PgDumpMarker,
            },
            DetectedKind::Tar => Check::Stream {
                gzip: false,
                then: Then::Tar,
            },
            DetectedKind::TarGz => Check::Stream {
                gzip: true,
                then: Then::Tar,
            },
            DetectedKind::Gzip => Check::Stream {
                gzip: true,
                then: Then::Drain,
            },
            DetectedKind::PgDumpCustom => Check::PgRestore,
            // An AOF with an RDB preamble starts like an RDB file; only redis-check-aof reads
            // past the preamble.
            DetectedKind::RedisRdb if expected == ExpectedKind::RedisAof => {
                Check::Redis(RedisFormat::Aof)
            }
            DetectedKind::RedisRdb => Check::Redis(RedisFormat::Rdb),
            DetectedKind::RedisAof => Check::Redis(RedisFormat::Aof),
            DetectedKind::Empty
            | DetectedKind::Gpg
            | DetectedKind::Age
            | DetectedKind::OpenSslEnc
            | DetectedKind::Unknown => Check::ChecksumOnly,
        }
    }
}

/// The state of reading the file itself, shared by every check through [`Tee`].
struct Reading<'a> {
    hasher: Sha256,
    bytes: u64,
    /// The first read error; the content checks then stop, and what they saw means nothing.
    error: Option<io::Error>,
    progress: &'a mut dyn FnMut(u64),
    pace: Pace,
    reported_bytes: u64,
    reported_at: Instant,
    cancel: &'a CancellationToken,
}

impl<'a> Reading<'a> {
    fn new(
        progress: &'a mut dyn FnMut(u64),
        pace: Pace,
        cancel: &'a CancellationToken,
    ) -> Reading<'a> {
        Reading {
            hasher: Sha256::new(),
            bytes: 0,
            error: None,
            progress,
            pace,
            reported_bytes: 0,
            reported_at: Instant::now(),
            cancel,
        }
    }
}

/// The file as read: every byte goes to the hasher and counts towards progress.
struct Tee<'r, 'a> {
    file: File,
    reading: &'r mut Reading<'a>,
}

impl Read for Tee<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let reading = &mut *self.reading;
        if reading.cancel.is_cancelled() {
            return Err(cancelled_error());
        }
        let read = match self.file.read(buf) {
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Err(error),
            Err(error) => {
                let copy = io::Error::new(error.kind(), error.to_string());
                reading.error.get_or_insert(error);
                return Err(copy);
            }
        };
        reading.hasher.update(&buf[..read]);
        reading.bytes += read as u64;
        if reading.bytes - reading.reported_bytes >= reading.pace.bytes
            || reading.reported_at.elapsed() >= reading.pace.interval
        {
            (reading.progress)(reading.bytes);
            reading.reported_bytes = reading.bytes;
            reading.reported_at = Instant::now();
        }
        Ok(read)
    }
}

fn cancelled_error() -> io::Error {
    io::Error::other("cancelled")
}

/// The content as a check consumes it (decompressed when the file is gzip): counted, its last
/// bytes kept, and the first error of the layer below remembered so a tar error caused by the
/// gzip layer is reported as a gzip error.
struct Content<'c, R> {
    inner: R,
    bytes: u64,
    tail: Vec<u8>,
    /// Whether a read returned end of data.
    eof: bool,
    error: Option<StreamError>,
    cancel: &'c CancellationToken,
}

impl<'c, R: Read> Content<'c, R> {
    fn new(inner: R, cancel: &'c CancellationToken) -> Content<'c, R> {
        Content {
            inner,
            bytes: 0,
            tail: Vec::with_capacity(2 * TAIL_SIZE),
            eof: false,
            error: None,
            cancel,
        }
    }
}

impl<R: Read> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Inflating one buffer can yield far more than it holds: check here too.
        if self.cancel.is_cancelled() {
            return Err(cancelled_error());
        }
        let read = match self.inner.read(buf) {
            Ok(read) => read,
            Err(error) => {
                if error.kind() != io::ErrorKind::Interrupted && self.error.is_none() {
                    self.error = Some(StreamError::from(&error));
                }
                return Err(error);
            }
        };
        if read == 0 && !buf.is_empty() {
            self.eof = true;
        }
        self.bytes += read as u64;
        let data = &buf[..read];
        if data.len() >= TAIL_SIZE {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - TAIL_SIZE..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(TAIL_SIZE);
            self.tail.drain(..excess);
        }
        Ok(read)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamError {
    kind: io::ErrorKind,
    message: String,
}

impl From<&io::Error> for StreamError {
    fn from(error: &io::Error) -> StreamError {
        StreamError {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

/// Why a streamed check failed: the stream it read (gzip, or reading the file), or the content.
enum Failure {
    Stream(StreamError),
    Content(String),
}

/// Runs the streamed checks; `Ok` holds what they confirmed, `Err` the problem found.
fn check_stream(
    raw: &mut BufReader<Tee<'_, '_>>,
    gzip: bool,
    then: Then,
    head: &[u8],
    size: u64,
    cancel: &CancellationToken,
) -> Result<Vec<String>, String> {
    if !gzip {
        let mut content = Content::new(raw, cancel);
        return follow(&mut content, then).map_err(|failure| match failure {
            Failure::Stream(error) => format!("read failed: {}", error.message),
            Failure::Content(problem) => problem,
        });
    }
    if !head.starts_with(GZIP_MAGIC) {
        return Err(format!("not gzip data (starts with {})", preview(head)));
    }
    let mut content = Content::new(MultiGzDecoder::new(raw), cancel);
    match follow(&mut content, then) {
        Ok(notes) => {
            let mut all = vec![format!(
                "gzip intact ({} uncompressed)",
                format_bytes(content.bytes as f64)
            )];
            all.extend(notes);
            Ok(all)
        }
        Err(Failure::Stream(error)) => Err(gzip_problem(&error, size, content.bytes)),
        Err(Failure::Content(problem)) => Err(problem),
    }
}

fn follow<R: Read>(content: &mut Content<'_, R>, then: Then) -> Result<Vec<String>, Failure> {
    match then {
        Then::Drain => {
            drain(content).map_err(|error| Failure::Stream(StreamError::from(&error)))?;
            Ok(Vec::new())
        }
        Then::PgDumpMarker => {
            drain(content).map_err(|error| Failure::Stream(StreamError::from(&error)))?;
            if PG_DUMP_MARKERS
                .iter()
                .any(|marker| contains(&content.tail, marker))
            {
                Ok(vec!["pg_dump completion marker present".to_owned()])
            } else {
                Err(Failure::Content(
                    "pg_dump did not finish: the completion marker is missing".to_owned(),
                ))
            }
        }
        Then::Tar => {
            let (count, listed) = list_tar(content);
            if let Err(error) = listed {
                return Err(match content.error.take() {
                    Some(below) => Failure::Stream(below),
                    None => Failure::Content(format!(
                        "tar: {error} after {} (truncated or damaged)",
                        entries(count)
                    )),
                });
            }
            if content.eof {
                // The tar crate takes the end of the data for the end of the archive.
                return Err(Failure::Content(format!(
                    "tar: the archive ends without its end-of-archive blocks after {} (truncated?)",
                    entries(count)
                )));
            }
            // Whatever follows the end-of-archive blocks still has to inflate and match the
            // gzip checksum.
            drain(content).map_err(|error| Failure::Stream(StreamError::from(&error)))?;
            Ok(vec![format!("tar: {}", entries(count))])
        }
    }
}

/// Reads every entry header (skipping the data); returns how many there were and whether the
/// listing ended (at the end-of-archive marker or the end of the data) without an error.
fn list_tar<R: Read>(content: &mut Content<'_, R>) -> (u64, io::Result<()>) {
    let mut archive = tar::Archive::new(content);
    let mut count = 0;
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(error) => return (0, Err(error)),
    };
    for entry in entries {
        if let Err(error) = entry {
            return (count, Err(error));
        }
        count += 1;
    }
    (count, Ok(()))
}

fn gzip_problem(error: &StreamError, size: u64, inflated: u64) -> String {
    // Inflating goes a buffer at a time, so `inflated` says little about where damage starts;
    // it is only mentioned when it shows that complete data came first.
    match error.kind {
        io::ErrorKind::UnexpectedEof => format!(
            "gzip: unexpected end of file after {} (truncated?)",
            format_bytes(size as f64)
        ),
        _ if error.message.contains("checksum") => {
            "gzip: CRC mismatch: the data is damaged".to_owned()
        }
        _ if error.message.contains("header") && inflated > 0 => format!(
            "gzip: unexpected data after the compressed stream (which held {})",
            format_bytes(inflated as f64)
        ),
        _ => format!("gzip: {}: the data is damaged", error.message),
    }
}

fn entries(count: u64) -> String {
    match count {
        1 => "1 entry".to_owned(),
        _ => format!("{count} entries"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Reads to the end, discarding the data (the readers hash, count and check as it passes).
fn drain(reader: &mut impl Read) -> io::Result<()> {
    let mut buf = vec![0; 256 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// The first bytes of a file for a message: as text when they are text, else in hex.
fn preview(head: &[u8]) -> String {
    if head.is_empty() {
        return "nothing".to_owned();
    }
    match std::str::from_utf8(head) {
        Ok(text)
            if !text
                .chars()
                .any(|ch| ch.is_control() && !ch.is_whitespace()) =>
        {
            format!("\"{}\"", printable(text))
        }
        _ => head
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn mismatch(expected: ExpectedKind, found: DetectedKind, head: &[u8]) -> String {
    let mut message = format!(
        "expected {}, found {} data",
        expected.label(),
        found.label()
    );
    if found == DetectedKind::Unknown {
        let gzip_expected = matches!(expected, ExpectedKind::PgDumpGzip | ExpectedKind::TarGz);
        if gzip_expected && !head.starts_with(GZIP_MAGIC) {
            message.push_str(&format!(": not gzip data (starts with {})", preview(head)));
        } else {
            message.push_str(&format!(" (starts with {})", preview(head)));
        }
    }
    message
}

fn compare_sidecar(file: &BackupFile, sha256: &str, report: &mut Report) {
    let Some(sidecar) = &file.sidecar else {
        return;
    };
    let name = sidecar
        .path
        .file_name()
        .map(|name| printable_path(Path::new(name)))
        .unwrap_or_else(|| printable_path(&sidecar.path));
    if let Some(digest) = &sidecar.digest {
        if digest.eq_ignore_ascii_case(sha256) {
            report.note(format!("sha256 matches {name}"));
        } else {
            report.problem(
                VerifyResult::Corrupt,
                format!(
                    "checksum mismatch: sidecar {name} says {}…, file is {}…",
                    printable(&abbreviate(digest)),
                    abbreviate(sha256)
                ),
            );
        }
    }
    if let Some(problem) = &sidecar.problem {
        report.note(format!("sidecar {name}: {}", printable(problem)));
    }
}

fn abbreviate(digest: &str) -> String {
    digest.chars().take(12).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What an external checker made of the file.
enum Finding {
    Fine(String),
    Problem(VerifyResult, String),
}

fn pg_restore_check(
    tools: &BackupTools,
    path: &Path,
    cancel: &CancellationToken,
) -> Result<Finding, Cancelled> {
    let program = &tools.pg_restore;
    // A full read into a script thrown away, not `--list`: the listing reads only the table of
    // contents at the start of the file, so a dump cut short in its data passes it.
    let args = [OsStr::new("--file=/dev/null"), path.as_os_str()];
    let run = run_tool(program, &args, false, cancel)?;
    Ok(match run {
        ToolRun::Missing => Finding::Problem(
            VerifyResult::Error,
            not_found(
                &program.display().to_string(),
                Some("set [backups] pg_bin_dir to PostgreSQL's bin directory"),
            ),
        ),
        ToolRun::Unstartable(error) => Finding::Problem(
            VerifyResult::Error,
            format!("cannot run {}: {error}", printable_path(program)),
        ),
        ToolRun::Exited { success: true, .. } => {
            Finding::Fine("pg_restore read the whole dump".to_owned())
        }
        ToolRun::Exited { status, stderr, .. } => {
            let line = first_line(&stderr).unwrap_or_else(|| format!("pg_restore {status}"));
            if line.contains("unsupported version") {
                Finding::Problem(
                    VerifyResult::Error,
                    format!(
                        "{line}: this pg_restore is older than the pg_dump that made the file; \
                         set pg_bin_dir to a newer PostgreSQL's bin directory"
                    ),
                )
            } else {
                Finding::Problem(VerifyResult::Corrupt, line)
            }
        }
    })
}

fn redis_check(
    tools: &BackupTools,
    format: RedisFormat,
    path: &Path,
    head: &[u8],
    cancel: &CancellationToken,
) -> Result<Finding, Cancelled> {
    let (program, name) = match format {
        RedisFormat::Rdb => (&tools.redis_check_rdb, "redis-check-rdb"),
        RedisFormat::Aof => (&tools.redis_check_aof, "redis-check-aof"),
    };
    Ok(
        match run_tool(program, &[path.as_os_str()], true, cancel)? {
            ToolRun::Missing => {
                let (good, what) = match format {
                    RedisFormat::Rdb => (is_rdb_header(head), "a Redis RDB header"),
                    RedisFormat::Aof => (
                        is_rdb_header(head) || is_resp_start(head),
                        "the start of a Redis AOF",
                    ),
                };
                if good {
                    Finding::Fine(format!(
                        "{name} is not installed, so only the header was checked: it is {what}"
                    ))
                } else {
                    Finding::Problem(
                        VerifyResult::Corrupt,
                        format!(
                            "not {what} (starts with {}); install {name} for a full check",
                            preview(head)
                        ),
                    )
                }
            }
            ToolRun::Unstartable(error) => Finding::Problem(
                VerifyResult::Error,
                format!("cannot run {}: {error}", printable_path(program)),
            ),
            ToolRun::Exited { success: true, .. } => Finding::Fine(format!("{name}: ok")),
            ToolRun::Exited {
                status,
                stdout,
                stderr,
                ..
            } => {
                let mut output = stdout;
                output.extend_from_slice(&stderr);
                let reason = redis_reason(&output).unwrap_or_else(|| status.to_string());
                Finding::Problem(VerifyResult::Corrupt, format!("{name}: {reason}"))
            }
        },
    )
}

/// `REDIS` and a four-digit format version.
fn is_rdb_header(head: &[u8]) -> bool {
    head.len() >= 9 && head.starts_with(b"REDIS") && head[5..9].iter().all(u8::is_ascii_digit)
}

/// A RESP array: `*<count>`.
fn is_resp_start(head: &[u8]) -> bool {
    head.first() == Some(&b'*') && head.get(1).is_some_and(u8::is_ascii_digit)
}

/// The line of a Redis checker's report that says what is wrong.
fn redis_reason(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    // redis-check-rdb puts the error right after this banner, below its progress lines.
    let after_banner = lines
        .iter()
        .position(|line| line.contains("ERROR DETECTED"))
        .and_then(|at| lines.get(at + 1));
    let described = lines.iter().find(|line| {
        let lower = line.to_ascii_lowercase();
        [
            "error",
            "expected",
            "unexpected",
            "bad ",
            "invalid",
            "not valid",
        ]
        .iter()
        .any(|word| lower.contains(word))
    });
    after_banner
        .or(described)
        .or(lines.last())
        .map(|line| printable(line.trim_end_matches(" Use the --fix option to try fixing it.")))
}

fn first_line(output: &[u8]) -> Option<String> {
    String::from_utf8_lossy(output)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(printable)
}

enum ToolRun {
    Missing,
    Unstartable(io::Error),
    Exited {
        success: bool,
        status: std::process::ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
}

/// Runs `program` in its own process group; `cancel` stops the group (the checker and anything
/// it started) within a fraction of a second.
fn run_tool(
    program: &Path,
    args: &[&OsStr],
    keep_stdout: bool,
    cancel: &CancellationToken,
) -> Result<ToolRun, Cancelled> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(if keep_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped());
    let mut process = match BlockingProcess::spawn(&mut command) {
        Ok(process) => process,
        Err(SpawnError::NotFound(_)) => return Ok(ToolRun::Missing),
        Err(SpawnError::CannotStart(_, error)) => return Ok(ToolRun::Unstartable(error)),
    };
    let child = process.child();
    let stdout = child
        .stdout
        .take()
        .map(|pipe| thread::spawn(|| capture(pipe)));
    let stderr = child
        .stderr
        .take()
        .map(|pipe| thread::spawn(|| capture(pipe)));
    let status = match process.wait_unless(|| cancel.is_cancelled()) {
        Ok(Some(status)) => status,
        Ok(None) => return Err(Cancelled),
        Err(error) => return Ok(ToolRun::Unstartable(error)),
    };
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader
            .map(|reader| reader.join().unwrap_or_default())
            .unwrap_or_default()
    };
    Ok(ToolRun::Exited {
        success: status.success(),
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// Reads a pipe to its end, keeping the first [`CAPTURE_LIMIT`] bytes.
fn capture(mut pipe: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return kept,
            Ok(read) => {
                let room = CAPTURE_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..read.min(room)]);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return kept,
        }
    }
}

/// Problems and confirmations gathered while verifying, turned into one result and message.
#[derive(Default)]
struct Report {
    problems: Vec<(VerifyResult, String)>,
    notes: Vec<String>,
}

impl Report {
    fn problem(&mut self, result: VerifyResult, message: String) {
        self.problems.push((result, message));
    }

    fn note(&mut self, message: String) {
        self.notes.push(message);
    }

    fn add(&mut self, finding: Finding) {
        match finding {
            Finding::Fine(note) => self.note(note),
            Finding::Problem(result, message) => self.problem(result, message),
        }
    }

    fn finish(self, sha256: Option<String>, bytes_read: u64) -> VerifyOutcome {
        let worst = |wanted| self.problems.iter().any(|(result, _)| *result == wanted);
        let result = if worst(VerifyResult::Corrupt) {
            VerifyResult::Corrupt
        } else if worst(VerifyResult::Error) {
            VerifyResult::Error
        } else {
            VerifyResult::Ok
        };
        let message = self
            .problems
            .into_iter()
            .map(|(_, message)| message)
            .chain(self.notes)
            .collect::<Vec<_>>()
            .join("; ");
        VerifyOutcome {
            result,
            message,
            sha256,
            bytes_read,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use chrono::Utc;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::core::backups::Sidecar;

    const COMPLETE: &str = "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict x1\n\n";

    /// SQL that does not compress to nothing, so that half of its gzip is mid-stream.
    fn sql(rows: usize, complete: bool) -> Vec<u8> {
        let mut text = String::from("--\n-- PostgreSQL database dump\n--\n\n");
        let mut state: u64 = 7;
        for row in 0..rows {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            text.push_str(&format!("{row}\t{:016x}\n", state));
        }
        if complete {
            text.push_str(COMPLETE);
        }
        text.into_bytes()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn tar(gzipped: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, size) in [("a.txt", 10), ("dir/b.bin", 70_000), ("c.txt", 3)] {
            let data = sql(size / 20 + 1, false);
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &data[..]).unwrap();
        }
        let archive = builder.into_inner().unwrap();
        if gzipped { gzip(&archive) } else { archive }
    }

    fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    fn backup(path: &Path, kind: DetectedKind) -> BackupFile {
        BackupFile {
            path: path.to_path_buf(),
            time: Utc::now(),
            time_from_name: false,
            modified: Utc::now(),
            size: std::fs::metadata(path).unwrap().len(),
            kind,
            problem: None,
            sidecar: None,
        }
    }

    fn sidecar(file: &BackupFile, digest: Option<&str>, problem: Option<&str>) -> Sidecar {
        let mut path = file.path.clone().into_os_string();
        path.push(".sha256");
        Sidecar {
            path: PathBuf::from(path),
            digest: digest.map(str::to_owned),
            problem: problem.map(str::to_owned),
            bytes: 80,
        }
    }

    fn verify_with(
        file: &BackupFile,
        expected: ExpectedKind,
        tools: &BackupTools,
    ) -> VerifyOutcome {
        verify_file(
            file,
            expected,
            tools,
            &mut |_| {},
            &CancellationToken::new(),
        )
        .unwrap()
    }

    fn verify(file: &BackupFile, expected: ExpectedKind) -> VerifyOutcome {
        verify_with(file, expected, &BackupTools::new(None))
    }

    fn sha256_of(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    /// An executable shell script, written by a child process so that no descriptor open for
    /// writing leaks into programs other tests start meanwhile (which makes exec fail with
    /// "text file busy").
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        let status = Command::new("sh")
            .arg("-c")
            .arg("printf '%s\\n' \"$1\" > \"$2\" && chmod +x \"$2\"")
            .arg("sh")
            .arg(format!("#!/bin/sh\n{body}"))
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    #[test]
    fn a_complete_gzip_dump_is_ok_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let data = gzip(&sql(20_000, true));
        let path = write(dir.path(), "db_20250101.sql.gz", &data);
        let outcome = verify(
            &backup(&path, DetectedKind::PgDumpPlainGzip),
            ExpectedKind::PgDumpGzip,
        );
        assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
        assert!(
            outcome.message.contains("gzip intact"),
            "{}",
            outcome.message
        );
        assert!(
            outcome.message.contains("completion marker present"),
            "{}",
            outcome.message
        );
        assert_eq!(outcome.sha256.as_deref(), Some(sha256_of(&data).as_str()));
        assert_eq!(outcome.bytes_read, data.len() as u64);
    }

    #[test]
    fn a_plain_dump_needs_its_completion_marker() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "good.sql", &sql(100, true));
        let outcome = verify(
            &backup(&good, DetectedKind::PgDumpPlain),
            ExpectedKind::PgDumpPlain,
        );
        assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);

        let cut = write(dir.path(), "cut.sql", &sql(100, false));
        let outcome = verify(
            &backup(&cut, DetectedKind::PgDumpPlain),
            ExpectedKind::PgDumpPlain,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "pg_dump did not finish: the completion marker is missing"
        );
    }

    #[test]
    fn a_truncated_gzip_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let data = gzip(&sql(20_000, true));
        let path = write(dir.path(), "db.sql.gz", &data[..data.len() / 2]);
        let outcome = verify(
            &backup(&path, DetectedKind::PgDumpPlainGzip),
            ExpectedKind::PgDumpGzip,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert!(
            outcome
                .message
                .starts_with("gzip: unexpected end of file after ")
                && outcome.message.ends_with("(truncated?)"),
            "{}",
            outcome.message
        );
        // The digest of what is there is still worth keeping.
        assert_eq!(
            outcome.sha256.as_deref(),
            Some(sha256_of(&data[..data.len() / 2]).as_str())
        );
    }

    #[test]
    fn a_damaged_gzip_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = gzip(&sql(20_000, true));
        let middle = data.len() / 2;
        for byte in &mut data[middle..middle + 64] {
            *byte ^= 0x55;
        }
        let path = write(dir.path(), "db.sql.gz", &data);
        let outcome = verify(
            &backup(&path, DetectedKind::PgDumpPlainGzip),
            ExpectedKind::PgDumpGzip,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "gzip: corrupt deflate stream: the data is damaged"
        );
    }

    #[test]
    fn garbage_named_sql_gz_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "x.sql.gz", b"this is not a backup at all\n");
        let outcome = verify(
            &backup(&path, DetectedKind::Unknown),
            ExpectedKind::PgDumpGzip,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "expected pg_dump gzip, found unknown data: not gzip data (starts with \"this is not a ba\"); \
             no content check for unknown data"
        );

        // Listed as a gzip dump, but that is not what is there now.
        let outcome = verify(
            &backup(&path, DetectedKind::PgDumpPlainGzip),
            ExpectedKind::PgDumpGzip,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "not gzip data (starts with \"this is not a ba\")"
        );

        // Binary garbage is shown in hex, control characters never reach the terminal.
        let path = write(dir.path(), "y.sql.gz", b"\x1b[2J\x00\x01binary");
        let outcome = verify(
            &backup(&path, DetectedKind::Unknown),
            ExpectedKind::PgDumpGzip,
        );
        assert!(
            outcome.message.contains("starts with 1b 5b 32 4a 00 01"),
            "{}",
            outcome.message
        );
    }

    #[test]
    fn a_gzip_dump_without_the_completion_marker_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "db.sql.gz", &gzip(&sql(5_000, false)));
        let outcome = verify(
            &backup(&path, DetectedKind::PgDumpPlainGzip),
            ExpectedKind::PgDumpGzip,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "pg_dump did not finish: the completion marker is missing"
        );
        assert!(outcome.sha256.is_some());
    }

    #[test]
    fn a_tar_gz_is_listed_and_a_truncated_one_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let data = tar(true);
        let path = write(dir.path(), "files.tar.gz", &data);
        let outcome = verify(&backup(&path, DetectedKind::TarGz), ExpectedKind::TarGz);
        assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
        assert!(
            outcome.message.contains("tar: 3 entries"),
            "{}",
            outcome.message
        );

        let path = write(dir.path(), "cut.tar.gz", &data[..data.len() / 2]);
        let outcome = verify(&backup(&path, DetectedKind::TarGz), ExpectedKind::TarGz);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert!(
            outcome.message.contains("(truncated?)"),
            "{}",
            outcome.message
        );
    }

    #[test]
    fn a_truncated_plain_tar_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let data = tar(false);
        let path = write(dir.path(), "files.tar", &data);
        let outcome = verify(&backup(&path, DetectedKind::Tar), ExpectedKind::Other);
        assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);

        // Cut inside the second entry's data.
        let path = write(dir.path(), "mid.tar", &data[..4096]);
        let outcome = verify(&backup(&path, DetectedKind::Tar), ExpectedKind::Other);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert!(outcome.message.starts_with("tar: "), "{}", outcome.message);

        // Cut right after the first entry: the tar crate alone would call that complete.
        let path = write(dir.path(), "boundary.tar", &data[..1024]);
        let outcome = verify(&backup(&path, DetectedKind::Tar), ExpectedKind::Other);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "tar: the archive ends without its end-of-archive blocks after 1 entry (truncated?)"
        );
    }

    #[test]
    fn the_sidecar_digest_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let data = gzip(&sql(100, true));
        let path = write(dir.path(), "db.sql.gz", &data);
        let mut file = backup(&path, DetectedKind::PgDumpPlainGzip);

        file.sidecar = Some(sidecar(&file, Some(&sha256_of(&data)), None));
        let outcome = verify(&file, ExpectedKind::PgDumpGzip);
        assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
        assert!(
            outcome.message.ends_with("sha256 matches db.sql.gz.sha256"),
            "{}",
            outcome.message
        );

        let wrong = "0".repeat(64);
        file.sidecar = Some(sidecar(&file, Some(&wrong), None));
        let outcome = verify(&file, ExpectedKind::PgDumpGzip);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        let actual = sha256_of(&data);
        assert!(
            outcome.message.starts_with(&format!(
                "checksum mismatch: sidecar db.sql.gz.sha256 says 000000000000…, file is {}…",
                &actual[..12]
            )),
            "{}",
            outcome.message
        );
        assert_eq!(outcome.sha256.as_deref(), Some(actual.as_str()));
    }

    #[test]
    fn a_sidecar_problem_is_mentioned_without_changing_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "db.sql.gz", &gzip(&sql(100, true)));
        let mut file = backup(&path, DetectedKind::PgDumpPlainGzip);
        file.sidecar = Some(sidecar(&file, None, Some("not in sha256sum\x1b format")));
        let outcome = verify(&file, ExpectedKind::PgDumpGzip);
        assert_eq!(outcome.result, VerifyResult::Ok);
        assert!(
            outcome
                .message
                .ends_with("sidecar db.sql.gz.sha256: not in sha256sum\\x1b format"),
            "{}",
            outcome.message
        );
    }

    #[test]
    fn encrypted_and_other_files_get_the_checksum_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "db.sql.gz.age",
            b"age-encryption.org/v1\n-> X25519 ...",
        );
        let outcome = verify(&backup(&path, DetectedKind::Age), ExpectedKind::Gpg);
        assert_eq!(outcome.result, VerifyResult::Ok);
        assert_eq!(
            outcome.message,
            "encrypted and no .sha256 sidecar: only readability was verified"
        );

        let outcome = verify(&backup(&path, DetectedKind::Age), ExpectedKind::PgDumpGzip);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert!(
            outcome
                .message
                .starts_with("expected pg_dump gzip, found age data")
        );
    }

    #[test]
    fn empty_vanished_and_listed_differently_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "empty.sql.gz", b"");
        let outcome = verify(&backup(&path, DetectedKind::Empty), ExpectedKind::Other);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(outcome.message, "the file is empty");

        let file = backup(&path, DetectedKind::Empty);
        std::fs::remove_file(&path).unwrap();
        let outcome = verify(&file, ExpectedKind::Other);
        assert_eq!(outcome.result, VerifyResult::Error);
        assert!(outcome.message.contains("is gone"), "{}", outcome.message);
        assert_eq!(outcome.sha256, None);

        // Listed while still being written.
        let path = write(dir.path(), "db.sql.gz", &gzip(&sql(100, true)));
        let mut file = backup(&path, DetectedKind::PgDumpPlainGzip);
        file.size -= 10;
        let outcome = verify(&file, ExpectedKind::PgDumpGzip);
        assert_eq!(outcome.result, VerifyResult::Changed);
        assert!(outcome.message.starts_with("changed since it was listed"));
    }

    #[test]
    fn a_file_written_to_while_verified_is_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "db.sql.gz", &gzip(&sql(100, true)));
        let file = backup(&path, DetectedKind::PgDumpPlainGzip);
        // The last progress report comes after the reading and before the second look.
        let mut append = |_| {
            let mut handle = OpenOptions::new().append(true).open(&path).unwrap();
            handle.write_all(b"more").unwrap();
        };
        let outcome = verify_file(
            &file,
            ExpectedKind::PgDumpGzip,
            &BackupTools::new(None),
            &mut append,
            &CancellationToken::new(),
        )
        .unwrap();
        assert_eq!(outcome.result, VerifyResult::Changed);
        assert!(
            outcome
                .message
                .starts_with("changed while being verified (size went from"),
            "{}",
            outcome.message
        );
        assert_eq!(outcome.sha256, None);
    }

    #[test]
    fn progress_is_reported_and_cancellation_stops_the_reading() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![b'x'; 3 * BUFFER_SIZE + 5];
        let path = write(dir.path(), "blob", &data);
        let file = backup(&path, DetectedKind::Unknown);
        let tools = BackupTools::new(None);
        let every_read = Pace {
            bytes: 1,
            interval: Duration::ZERO,
        };

        let mut seen = Vec::new();
        let cancel = CancellationToken::new();
        let outcome = verify_paced(
            &file,
            ExpectedKind::Other,
            &tools,
            &mut |bytes| seen.push(bytes),
            &cancel,
            every_read,
        )
        .unwrap();
        assert_eq!(outcome.result, VerifyResult::Ok);
        assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
        assert_eq!(seen.last(), Some(&(data.len() as u64)));

        let mut calls = 0;
        let outcome = verify_paced(
            &file,
            ExpectedKind::Other,
            &tools,
            &mut |_| {
                calls += 1;
                cancel.cancel();
            },
            &cancel,
            every_read,
        );
        assert_eq!(outcome, Err(Cancelled));
        assert_eq!(calls, 1, "reading went on after the cancellation");

        assert_eq!(
            verify_file(&file, ExpectedKind::Other, &tools, &mut |_| {}, &cancel),
            Err(Cancelled)
        );
    }

    #[test]
    fn pg_restore_decides_on_custom_dumps() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "db.dump", b"PGDMP\x01\x0f\x00rest");
        let file = backup(&path, DetectedKind::PgDumpCustom);
        let mut tools = BackupTools::new(None);

        tools.pg_restore = script(dir.path(), "restore-ok", "cat \"$2\" > /dev/null");
        let outcome = verify_with(&file, ExpectedKind::PgDumpCustom, &tools);
        assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
        assert_eq!(outcome.message, "pg_restore read the whole dump");

        tools.pg_restore = script(
            dir.path(),
            "restore-bad",
            "echo 'SET x;'\nprintf '\\npg_restore: error: could not read from input file: end of file\\nmore\\n' >&2\nexit 1",
        );
        let outcome = verify_with(&file, ExpectedKind::PgDumpCustom, &tools);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "pg_restore: error: could not read from input file: end of file"
        );

        tools.pg_restore = dir.path().join("no-such-dir").join("pg_restore");
        let outcome = verify_with(&file, ExpectedKind::PgDumpCustom, &tools);
        assert_eq!(outcome.result, VerifyResult::Error);
        assert!(
            outcome.message.ends_with(
                "was not found: install it with `apt-get install postgresql-client` or set \
                     [backups] pg_bin_dir to PostgreSQL's bin directory"
            ),
            "{}",
            outcome.message
        );
        assert!(outcome.sha256.is_some());
    }

    #[test]
    fn a_hanging_checker_is_killed_on_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "db.dump", b"PGDMP\x01\x0f\x00rest");
        let file = backup(&path, DetectedKind::PgDumpCustom);
        let mut tools = BackupTools::new(None);
        tools.pg_restore = script(dir.path(), "restore-hang", "sleep 30");
        let cancel = CancellationToken::new();
        let canceller = {
            let cancel = cancel.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(300));
                cancel.cancel();
            })
        };
        let started = Instant::now();
        let outcome = verify_file(
            &file,
            ExpectedKind::PgDumpCustom,
            &tools,
            &mut |_| {},
            &cancel,
        );
        assert_eq!(outcome, Err(Cancelled));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        canceller.join().unwrap();
    }

    #[test]
    fn redis_files_use_the_checker_or_their_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "dump.rdb", b"REDIS0011\xfa\x09redis-ver");
        let file = backup(&path, DetectedKind::RedisRdb);
        let mut tools = BackupTools::new(None);

        tools.redis_check_rdb = script(
            dir.path(),
            "check-rdb",
            "echo '[offset 0] Checking RDB file dump.rdb'\necho '[offset 27] AUX FIELD redis-ver'\n\
             echo '--- RDB ERROR DETECTED ---'\necho '[offset 20] Unexpected EOF reading RDB file'\n\
             echo '[info] 0 keys read'\nexit 1",
        );
        let outcome = verify_with(&file, ExpectedKind::RedisRdb, &tools);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(
            outcome.message,
            "redis-check-rdb: [offset 20] Unexpected EOF reading RDB file"
        );

        tools.redis_check_rdb = dir.path().join("no-such-checker");
        let outcome = verify_with(&file, ExpectedKind::RedisRdb, &tools);
        assert_eq!(outcome.result, VerifyResult::Ok);
        assert!(
            outcome
                .message
                .starts_with("redis-check-rdb is not installed"),
            "{}",
            outcome.message
        );

        // Listed as RDB, but the header is gone now.
        let path = write(dir.path(), "bad.rdb", b"REDIS-not-a-version");
        let outcome = verify_with(
            &backup(&path, DetectedKind::RedisRdb),
            ExpectedKind::RedisRdb,
            &tools,
        );
        assert_eq!(outcome.result, VerifyResult::Corrupt);

        // An AOF with an RDB preamble goes to the AOF checker.
        tools.redis_check_aof = script(
            dir.path(),
            "check-aof",
            "echo 'AOF analyzed: filename=x, size=5, ok_up_to=0'\n\
             echo 'AOF x is not valid. Use the --fix option to try fixing it.'\nexit 1",
        );
        let outcome = verify_with(&file, ExpectedKind::RedisAof, &tools);
        assert_eq!(outcome.result, VerifyResult::Corrupt);
        assert_eq!(outcome.message, "redis-check-aof: AOF x is not valid.");
    }
}
