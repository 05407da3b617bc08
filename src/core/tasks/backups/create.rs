//! `backup-create` for one set: a `pg_dump` (plain SQL gzip-compressed here, or pg_dump's custom
//! format), a copy of the RDB a Redis `BGSAVE` wrote, or a tar.gz of configured paths.
//!
//! Every kind is written to `<target>.partial`, fsynced and renamed into place, so the inventory
//! never sees a half-written backup under a real name; the `<target>.sha256` sidecar follows.
//! The partial file is removed whenever a run fails or is cancelled (also when the run's future
//! is dropped). Compression, hashing and file walking happen on blocking threads.
//!
//! The helpers for running PostgreSQL's client tools ([`Tool`]) and for handling the password in
//! a PostgreSQL URL are shared with the restore test.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Local};
use flate2::Compression;
use flate2::write::GzEncoder;
use redis::FromRedisValue;
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::core::backups::{BackupSet, BackupTools, CreateSource, DumpFormat};
use crate::core::checks::rules::format_bytes;
use crate::core::sources;
use crate::core::sources::pg::{database_name, split_password};
use crate::core::sources::process::{Process, SpawnError, not_found};
use crate::core::sources::redis::{Link, TASK_LIMITS};
use crate::core::sources::secrets::{mask_url, scrub};
use crate::core::tasks::{Output, Plan, PlanStep, TaskContext, TaskError};

/// A progress line this often while a backup is being written.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How often `LASTSAVE` is asked while a `BGSAVE` runs.
const BGSAVE_POLL: Duration = Duration::from_millis(200);
/// How far the RDB's mtime may be before the save we asked for (mtime has whole seconds, and
/// the server's clock is read over the wire).
const RDB_CLOCK_SLACK: i64 = 2;
/// Stderr lines of a tool kept for its error message (all of them go to the output).
const STDERR_KEPT: usize = 50;
const COPY_BUFFER: usize = 256 * 1024;

/// The file a run started at `at` writes: `<directory>/<prefix>_<YYYYmmdd_HHMMSS local>.<ext>`
/// (ext: sql.gz, dump, rdb, tar.gz).
pub fn target_path(set: &BackupSet, source: &CreateSource, at: DateTime<Local>) -> PathBuf {
    let extension = match source {
        CreateSource::Postgres {
            format: DumpFormat::Gzip,
            ..
        } => "sql.gz",
        CreateSource::Postgres {
            format: DumpFormat::Custom,
            ..
        } => "dump",
        CreateSource::Redis { .. } => "rdb",
        CreateSource::Paths { .. } => "tar.gz",
    };
    set.directory.join(format!(
        "{}_{}.{extension}",
        set.prefix,
        at.format("%Y%m%d_%H%M%S")
    ))
}

/// Exactly what a run will do, for the plan shown before confirming (commands with the real
/// argv, password masked; notes for the in-process parts).
pub fn plan_steps(
    set: &BackupSet,
    source: &CreateSource,
    tools: &BackupTools,
    target: &Path,
) -> Vec<PlanStep> {
    let partial = partial_path(target);
    let mut steps = Vec::new();
    if !set.directory.is_dir() {
        steps.push(Plan::note(missing_directory(&set.directory)));
    }
    match source {
        CreateSource::Postgres { url, format } => {
            let (bare, password) = split_password(url);
            if password.is_some() {
                steps.push(Plan::note(
                    "the URL's password is passed to pg_dump in PGPASSWORD, not on its command line",
                ));
            }
            steps.push(PlanStep::Command {
                argv: text_argv(&tools.pg_dump, &pg_dump_args(*format, &bare, &partial)),
                cwd: None,
            });
            if *format == DumpFormat::Gzip {
                steps.push(Plan::note(format!(
                    "gzip pg_dump's output into {}",
                    partial.display()
                )));
            }
        }
        CreateSource::Redis { url } => {
            steps.push(Plan::note(format!(
                "on Redis at {}: LASTSAVE, BGSAVE (or wait for a save already in progress), \
                 LASTSAVE every {} ms until the save completes, CONFIG GET dir and dbfilename",
                mask_url(url),
                BGSAVE_POLL.as_millis()
            )));
            steps.push(Plan::note(format!(
                "copy the RDB the server wrote (it must be readable on this host) to {}",
                partial.display()
            )));
        }
        CreateSource::Paths { paths } => {
            let listed: Vec<String> = paths
                .iter()
                .map(|path| path.display().to_string())
                .collect();
            steps.push(Plan::note(format!(
                "tar.gz of {} into {} (entries relative to /, symlinks stored as links, files \
                 that vanish or cannot be read are skipped, {} itself is left out)",
                listed.join(", "),
                partial.display(),
                set.directory.display()
            )));
        }
    }
    steps.push(Plan::note(format!("fsync, rename to {}", target.display())));
    steps.push(Plan::note(format!(
        "write {}",
        sidecar_path(target).display()
    )));
    steps
}

/// Makes the backup: writes to `<target>.partial`, fsyncs, renames into place, then writes
/// `<target>.sha256` (sha256sum format: `<hex>  <file name>\n`). Returns the final path and its
/// size.
pub async fn create(
    set: &BackupSet,
    source: &CreateSource,
    tools: &BackupTools,
    target: &Path,
    context: &TaskContext,
) -> Result<(PathBuf, u64), TaskError> {
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let directory = target.parent().unwrap_or(&set.directory).to_path_buf();
    match tokio::fs::metadata(&directory).await {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(TaskError::failed(format!(
                "backup directory {} is not a directory; fix [[backup]] directory",
                directory.display()
            )));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(TaskError::failed(missing_directory(&directory)));
        }
        Err(error) => {
            return Err(TaskError::failed(format!(
                "cannot use backup directory {}: {error}; check its permissions",
                directory.display()
            )));
        }
    }
    if tokio::fs::symlink_metadata(target).await.is_ok() {
        return Err(TaskError::failed(format!(
            "{} already exists; not overwriting a backup (wait a second and run again)",
            target.display()
        )));
    }
    let partial = Partial::new(partial_path(target));
    let (digest, size) = match source {
        CreateSource::Postgres { url, format } => {
            pg_dump(url, *format, tools, &partial.path, context).await?
        }
        CreateSource::Redis { url } => redis_copy(url, &partial.path, context).await?,
        CreateSource::Paths { paths } => {
            archive_paths(paths, &directory, &partial.path, context).await?
        }
    };
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    install(partial, target, &digest, size, &context.output).await
}

fn missing_directory(directory: &Path) -> String {
    format!(
        "backup directory {dir} does not exist; create it (mkdir -p {dir}) or fix [[backup]] \
         directory",
        dir = directory.display()
    )
}

fn partial_path(target: &Path) -> PathBuf {
    with_suffix(target, ".partial")
}

fn sidecar_path(target: &Path) -> PathBuf {
    with_suffix(target, ".sha256")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The partial file of a run, removed unless it was renamed into place — also when the run's
/// future is dropped half-way.
struct Partial {
    path: PathBuf,
    installed: bool,
}

impl Partial {
    fn new(path: PathBuf) -> Partial {
        Partial {
            path,
            installed: false,
        }
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.installed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Renames the finished partial into place (fsyncing the directory so the rename survives a
/// crash) and writes the sidecar.
async fn install(
    mut partial: Partial,
    target: &Path,
    digest: &str,
    size: u64,
    output: &Output,
) -> Result<(PathBuf, u64), TaskError> {
    let from = partial.path.clone();
    let to = target.to_path_buf();
    let sidecar = sidecar_path(target);
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let line = format!("{digest}  {name}\n");
    let renamed = blocking(move || -> Result<(), String> {
        fs::rename(&from, &to).map_err(|error| {
            format!(
                "cannot rename {} to {}: {error}",
                from.display(),
                to.display()
            )
        })?;
        sync_parent(&to);
        Ok(())
    })
    .await?;
    renamed.map_err(TaskError::Failed)?;
    partial.installed = true;

    let written_sidecar = sidecar.clone();
    let sidecar_result = blocking(move || -> io::Result<()> {
        let mut file = File::create(&written_sidecar)?;
        file.write_all(line.as_bytes())?;
        file.sync_all()?;
        sync_parent(&written_sidecar);
        Ok(())
    })
    .await?;
    sidecar_result.map_err(|error| {
        TaskError::failed(format!(
            "wrote {} but not its checksum file {}: {error}; check the directory's free space \
             and permissions",
            target.display(),
            sidecar.display()
        ))
    })?;
    output.line(format!(
        "wrote {} ({}), sha256 {digest}",
        target.display(),
        format_bytes(size as f64)
    ));
    Ok((target.to_path_buf(), size))
}

/// Best effort: a directory fsync makes a rename durable, but not every filesystem allows it.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(directory) = File::open(parent)
    {
        let _ = directory.sync_all();
    }
}

/// Runs blocking work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| TaskError::failed(format!("internal error in a backup thread: {error}")))
}

/// Awaits `work`, printing `report()` every [`PROGRESS_EVERY`].
async fn with_progress<T>(work: impl Future<Output = T>, report: impl Fn()) -> T {
    let mut work = std::pin::pin!(work);
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = ticker.tick() => report(),
        }
    }
}

// ---------------------------------------------------------------------------
// Writing and hashing
// ---------------------------------------------------------------------------

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: Arc<AtomicU64>,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let count = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..count]);
        self.written.fetch_add(count as u64, Ordering::Relaxed);
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The partial file opened for writing, hashed as it is written.
fn open_partial(path: &Path, written: Arc<AtomicU64>) -> io::Result<Hashing<BufWriter<File>>> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    Ok(Hashing {
        inner: BufWriter::with_capacity(COPY_BUFFER, file),
        hasher: Sha256::new(),
        written,
    })
}

/// Flushes and fsyncs the partial file; returns its digest and size.
fn close_partial(sink: Hashing<BufWriter<File>>) -> io::Result<(String, u64)> {
    let Hashing {
        inner,
        hasher,
        written,
    } = sink;
    let file = inner.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok((hex(&hasher.finalize()), written.load(Ordering::Relaxed)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A reader that stops with an error once the run is cancelled, so long copies end within the
/// second a cancelled task has.
struct Cancellable<R> {
    inner: R,
    cancel: CancellationToken,
}

impl<R: Read> Read for Cancellable<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("cancelled"));
        }
        self.inner.read(buffer)
    }
}

/// An I/O failure of a blocking copy, or `Cancelled` when the copy stopped because of it.
fn io_failure(cancel: &CancellationToken, what: impl FnOnce() -> String) -> TaskError {
    if cancel.is_cancelled() {
        TaskError::Cancelled
    } else {
        TaskError::failed(what())
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

fn pg_dump_args(format: DumpFormat, bare_url: &str, partial: &Path) -> Vec<String> {
    let mut args = vec!["--no-password".to_owned()];
    if format == DumpFormat::Custom {
        args.extend([
            "-Fc".to_owned(),
            "-f".to_owned(),
            partial.display().to_string(),
        ]);
    }
    args.push(bare_url.to_owned());
    args
}

fn text_argv(program: &Path, args: &[String]) -> Vec<String> {
    std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .collect()
}

async fn pg_dump(
    url: &str,
    format: DumpFormat,
    tools: &BackupTools,
    partial: &Path,
    context: &TaskContext,
) -> Result<(String, u64), TaskError> {
    let (bare, password) = split_password(url);
    let database = database_name(url).unwrap_or_else(|| mask_url(url));
    let output = &context.output;
    let cancel = &context.cancel;
    output.line(format!(
        "pg_dump of {database} ({}) into {}",
        mask_url(url),
        partial.display()
    ));
    let args = pg_dump_args(format, &bare, partial);
    match format {
        DumpFormat::Gzip => {
            let written = Arc::new(AtomicU64::new(0));
            let sink = open_partial(partial, written.clone()).map_err(|error| {
                TaskError::failed(format!("cannot create {}: {error}", partial.display()))
            })?;
            let mut tool = Tool::spawn(
                &tools.pg_dump,
                &args,
                password.as_deref(),
                Stdio::null(),
                Stdio::piped(),
                output,
            )?;
            let stdout = tool.take_stdout()?;
            let token = cancel.clone();
            let compressing = tokio::task::spawn_blocking(move || -> io::Result<(String, u64)> {
                let mut encoder = GzEncoder::new(sink, Compression::default());
                // Stops at once on cancel rather than fsyncing a file about to be removed.
                let mut source = Cancellable {
                    inner: stdout,
                    cancel: token,
                };
                io::copy(&mut source, &mut encoder)?;
                close_partial(encoder.finish()?)
            });
            let finished = with_progress(tool.finish(cancel), || {
                output.line(format!(
                    "pg_dump of {database}: {} written",
                    format_bytes(written.load(Ordering::Relaxed) as f64)
                ));
            })
            .await;
            // When the run is cancelled the killed pg_dump closes the pipe, so this ends soon.
            let compressed = compressing.await.map_err(|error| {
                TaskError::failed(format!("internal error in the gzip thread: {error}"))
            })?;
            let finished = finished?;
            // A write failure (disk full) is the real story even though pg_dump then dies of a
            // broken pipe.
            let (digest, size) = compressed.map_err(|error| {
                TaskError::failed(format!(
                    "writing {}: {error}; check the free space in {}",
                    partial.display(),
                    partial.parent().unwrap_or(partial).display()
                ))
            })?;
            if let Some(problem) = finished.problem() {
                return Err(TaskError::failed(format!(
                    "pg_dump of {database} failed: {problem}"
                )));
            }
            Ok((digest, size))
        }
        DumpFormat::Custom => {
            let tool = Tool::spawn(
                &tools.pg_dump,
                &args,
                password.as_deref(),
                Stdio::null(),
                Stdio::null(),
                output,
            )?;
            let finished = with_progress(tool.finish(cancel), || {
                if let Ok(meta) = fs::metadata(partial) {
                    output.line(format!(
                        "pg_dump of {database}: {} written",
                        format_bytes(meta.len() as f64)
                    ));
                }
            })
            .await?;
            if let Some(problem) = finished.problem() {
                return Err(TaskError::failed(format!(
                    "pg_dump of {database} failed: {problem}"
                )));
            }
            let path = partial.to_path_buf();
            let token = cancel.clone();
            let hashed = blocking(move || hash_file(&path, token)).await?;
            hashed.map_err(|error| {
                io_failure(cancel, || {
                    format!("reading back {}: {error}", partial.display())
                })
            })
        }
    }
}

/// Digest and size of a finished file, which is also fsynced.
fn hash_file(path: &Path, cancel: CancellationToken) -> io::Result<(String, u64)> {
    let file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut reader = Cancellable {
        inner: &file,
        cancel,
    };
    let mut buffer = vec![0; COPY_BUFFER];
    let mut size = 0_u64;
    loop {
        let count = reader.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        hasher.update(&buffer[..count]);
        size += count as u64;
    }
    file.sync_all()?;
    Ok((hex(&hasher.finalize()), size))
}

/// A PostgreSQL client tool running in its own process group, its stderr streamed to the output
/// and the first lines kept for the error message.
pub(super) struct Tool {
    name: String,
    process: Process,
    stderr: Option<tokio::task::JoinHandle<Vec<String>>>,
}

/// How a tool ended.
pub(super) struct Finished {
    status: ExitStatus,
    stderr: Vec<String>,
}

impl Finished {
    /// `None` on success, else the exit status and the tool's first error line.
    pub(super) fn problem(&self) -> Option<String> {
        if self.status.success() {
            return None;
        }
        let status = match self.status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_owned(),
        };
        Some(match self.first_error() {
            Some(line) => format!("{status}: {line}"),
            None => status,
        })
    }

    /// The first line that reports an error, else the first line at all.
    pub(super) fn first_error(&self) -> Option<&str> {
        let lines = || {
            self.stderr
                .iter()
                .map(|line| line.trim())
                .filter(|line| !line.is_empty())
        };
        lines()
            .find(|line| {
                let lower = line.to_ascii_lowercase();
                lower.contains("error") || lower.contains("fatal")
            })
            .or_else(|| lines().next())
    }
}

impl Tool {
    pub(super) fn spawn(
        program: &Path,
        args: &[String],
        password: Option<&str>,
        stdin: Stdio,
        stdout: Stdio,
        output: &Output,
    ) -> Result<Tool, TaskError> {
        let name = program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        let mut process = Process::spawn(&mut command).map_err(|error| match error {
            SpawnError::NotFound(program) => TaskError::failed(not_found(
                &program,
                Some(
                    "set [backups] pg_bin_dir to PostgreSQL's bin directory (the server's major \
                     version or newer)",
                ),
            )),
            error => TaskError::failed(error.to_string()),
        })?;
        let stderr = process
            .child()
            .stderr
            .take()
            .map(|stream| tokio::spawn(collect_lines(stream, output.clone())));
        Ok(Tool {
            name,
            process,
            stderr,
        })
    }

    /// The tool's stdout as a blocking file, for a copy on a blocking thread.
    pub(super) fn take_stdout(&mut self) -> Result<File, TaskError> {
        let stdout = self
            .process
            .child()
            .stdout
            .take()
            .ok_or_else(|| self.no_pipe())?;
        let fd = stdout
            .into_owned_fd()
            .map_err(|error| self.pipe_error(&error))?;
        Ok(File::from(fd))
    }

    /// The tool's stdin as a blocking file, for feeding it from a blocking thread.
    pub(super) fn take_stdin(&mut self) -> Result<File, TaskError> {
        let stdin = self
            .process
            .child()
            .stdin
            .take()
            .ok_or_else(|| self.no_pipe())?;
        let fd = stdin
            .into_owned_fd()
            .map_err(|error| self.pipe_error(&error))?;
        Ok(File::from(fd))
    }

    fn no_pipe(&self) -> TaskError {
        TaskError::failed(format!("internal error: no pipe to {}", self.name))
    }

    fn pipe_error(&self, error: &io::Error) -> TaskError {
        TaskError::failed(format!("cannot set up the pipe to {}: {error}", self.name))
    }

    /// Waits for the tool to exit; on cancellation stops its process group (SIGTERM, then
    /// SIGKILL) and returns `Cancelled`.
    pub(super) async fn finish(
        mut self,
        cancel: &CancellationToken,
    ) -> Result<Finished, TaskError> {
        let status = tokio::select! {
            status = self.process.wait() => status.map_err(|error| {
                TaskError::failed(format!("waiting for {}: {error}", self.name))
            })?,
            () = cancel.cancelled() => {
                self.process.stop().await;
                return Err(TaskError::Cancelled);
            }
        };
        let stderr = match self.stderr.take() {
            // Bounded: a stray grandchild holding stderr open must not hang the run.
            Some(lines) => match tokio::time::timeout(Duration::from_secs(1), lines).await {
                Ok(Ok(lines)) => lines,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        Ok(Finished { status, stderr })
    }
}

/// Copies a stream to the output line by line (lossy UTF-8) and keeps the first lines.
async fn collect_lines(stream: impl AsyncRead + Unpin, output: Output) -> Vec<String> {
    let mut reader = BufReader::new(stream);
    let mut kept = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                output.line(text);
                if kept.len() < STDERR_KEPT {
                    kept.push(text.to_owned());
                }
            }
        }
    }
    kept
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/// One Redis session of a run: every command gives way to cancellation, and errors are told
/// with the URL masked.
struct Redis {
    con: MultiplexedConnection,
    target: String,
    secret: Option<String>,
    cancel: CancellationToken,
}

impl Redis {
    async fn connect(url: &str, cancel: &CancellationToken) -> Result<Redis, TaskError> {
        let Link {
            con,
            target,
            secret,
        } = sources::redis::connect(url, "[backup.create] url", TASK_LIMITS, Some(cancel)).await?;
        Ok(Redis {
            con,
            target,
            secret,
            cancel: cancel.clone(),
        })
    }

    /// A command's reply; a Redis error comes back as `Ok(Err(text))` for the caller to judge.
    async fn try_ask<T: FromRedisValue>(
        &mut self,
        command: &redis::Cmd,
    ) -> Result<Result<T, String>, TaskError> {
        let reply = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(TaskError::Cancelled),
            reply = command.query_async::<T>(&mut self.con) => reply,
        };
        Ok(reply.map_err(|error| scrub(&error.to_string(), self.secret.as_slice())))
    }

    async fn ask<T: FromRedisValue>(
        &mut self,
        command: &redis::Cmd,
        what: &str,
    ) -> Result<T, TaskError> {
        let reply = self.try_ask(command).await?;
        reply.map_err(|error| {
            TaskError::failed(format!("{what} on Redis at {}: {error}", self.target))
        })
    }

    async fn lastsave(&mut self) -> Result<i64, TaskError> {
        self.ask(&redis::cmd("LASTSAVE"), "LASTSAVE").await
    }

    /// The server's clock, in whole seconds.
    async fn time(&mut self) -> Result<i64, TaskError> {
        let parts: Vec<String> = self.ask(&redis::cmd("TIME"), "TIME").await?;
        parts
            .first()
            .and_then(|seconds| seconds.parse().ok())
            .ok_or_else(|| {
                TaskError::failed(format!(
                    "unexpected TIME reply from Redis at {}: {parts:?}",
                    self.target
                ))
            })
    }

    /// `INFO persistence` as key/value pairs; `None` when INFO is not allowed.
    async fn persistence(&mut self) -> Result<Option<HashMap<String, String>>, TaskError> {
        let mut command = redis::cmd("INFO");
        command.arg("persistence");
        let reply: Result<String, String> = self.try_ask(&command).await?;
        Ok(reply.ok().map(|text| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                .collect()
        }))
    }

    async fn config(&mut self, key: &str) -> Result<String, TaskError> {
        let mut command = redis::cmd("CONFIG");
        command.arg("GET").arg(key);
        let reply: Result<HashMap<String, String>, String> = self.try_ask(&command).await?;
        let values = reply.map_err(|error| {
            TaskError::failed(format!(
                "cannot ask Redis at {} where the RDB is (CONFIG GET {key}): {error}; allow \
                 CONFIG GET for this user",
                self.target
            ))
        })?;
        values.get(key).cloned().ok_or_else(|| {
            TaskError::failed(format!(
                "Redis at {} did not answer CONFIG GET {key}",
                self.target
            ))
        })
    }

    async fn pause(&self, delay: Duration) -> Result<(), TaskError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(TaskError::Cancelled),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }
}

async fn redis_copy(
    url: &str,
    partial: &Path,
    context: &TaskContext,
) -> Result<(String, u64), TaskError> {
    let output = &context.output;
    let mut redis = Redis::connect(url, &context.cancel).await?;
    let before = redis.lastsave().await?;
    // LASTSAVE has whole seconds: a save finishing in the second of the previous one would go
    // unnoticed, so start ours in a later second.
    let mut asked_at = redis.time().await?;
    // Bounded: with a server clock that went back, a failed save is still told apart by INFO.
    for _ in 0..20 {
        if asked_at > before {
            break;
        }
        redis.pause(Duration::from_millis(100)).await?;
        asked_at = redis.time().await?;
    }
    let started: Result<String, String> = redis.try_ask(&redis::cmd("BGSAVE")).await?;
    match started {
        Ok(_) => output.line(format!("BGSAVE started on {}", redis.target)),
        Err(error) if error.contains("already in progress") => output.line(format!(
            "a save is already in progress on {}; waiting for it",
            redis.target
        )),
        Err(error) => {
            return Err(TaskError::failed(format!(
                "Redis at {} refused BGSAVE: {error}; try again once the server is done with \
                 its own background work",
                redis.target
            )));
        }
    }
    let saved = tokio::time::Instant::now();
    loop {
        redis.pause(BGSAVE_POLL).await?;
        if redis.lastsave().await? != before {
            break;
        }
        let Some(info) = redis.persistence().await? else {
            continue;
        };
        let field = |key: &str| info.get(key).map_or("?", String::as_str).to_owned();
        // The save may finish between LASTSAVE and INFO: ask LASTSAVE once more before calling
        // it failed.
        if field("rdb_bgsave_in_progress") == "0" && redis.lastsave().await? == before {
            return Err(TaskError::failed(format!(
                "BGSAVE on {} did not complete (rdb_bgsave_in_progress:{}, \
                 rdb_last_bgsave_status:{}); see the Redis log — a full disk or a refused fork \
                 (vm.overcommit_memory) are the usual causes",
                redis.target,
                field("rdb_bgsave_in_progress"),
                field("rdb_last_bgsave_status")
            )));
        }
    }
    output.line(format!(
        "BGSAVE finished after {:.1} s",
        saved.elapsed().as_secs_f64()
    ));
    let directory = redis.config("dir").await?;
    let file_name = redis.config("dbfilename").await?;
    let rdb = Path::new(&directory).join(&file_name);
    output.line(format!(
        "copying {} to {}",
        rdb.display(),
        partial.display()
    ));

    let written = Arc::new(AtomicU64::new(0));
    let source = rdb.clone();
    let destination = partial.to_path_buf();
    let token = context.cancel.clone();
    let counter = written.clone();
    let copying = blocking(move || -> Result<(String, u64), TaskError> {
        let not_here = |error: &dyn std::fmt::Display| {
            TaskError::failed(format!(
                "the RDB at {} is not readable from here ({error}); run opsdeck on the Redis host, \
                 as a user that can read {}",
                source.display(),
                source.parent().unwrap_or(&source).display()
            ))
        };
        let file = File::open(&source).map_err(|error| not_here(&error))?;
        let meta = file.metadata().map_err(|error| not_here(&error))?;
        if meta.mtime() + RDB_CLOCK_SLACK < asked_at {
            return Err(not_here(
                &"the file here is older than the save that just completed, so it is not the \
                  one the server wrote",
            ));
        }
        let mut sink = open_partial(&destination, counter).map_err(|error| {
            TaskError::failed(format!("cannot create {}: {error}", destination.display()))
        })?;
        let mut reader = Cancellable {
            inner: file,
            cancel: token.clone(),
        };
        io::copy(&mut reader, &mut sink).map_err(|error| {
            io_failure(&token, || {
                format!(
                    "copying {} to {}: {error}",
                    source.display(),
                    destination.display()
                )
            })
        })?;
        close_partial(sink).map_err(|error| {
            TaskError::failed(format!("writing {}: {error}", destination.display()))
        })
    });
    with_progress(copying, || {
        output.line(format!(
            "copying the RDB: {} written",
            format_bytes(written.load(Ordering::Relaxed) as f64)
        ));
    })
    .await?
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    files: u64,
    directories: u64,
    links: u64,
    skipped: u64,
    /// Directories already archived (device, inode): overlapping paths are stored once.
    seen: HashSet<(u64, u64)>,
}

async fn archive_paths(
    paths: &[PathBuf],
    directory: &Path,
    partial: &Path,
    context: &TaskContext,
) -> Result<(String, u64), TaskError> {
    let paths = paths.to_vec();
    let directory = directory.to_path_buf();
    let destination = partial.to_path_buf();
    let output = context.output.clone();
    let cancel = context.cancel.clone();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let archiving = blocking(move || {
        archive(
            &paths,
            &directory,
            &destination,
            &Walk {
                output: &output,
                cancel: &cancel,
            },
            counter,
        )
    });
    with_progress(archiving, || {
        context.output.line(format!(
            "tar.gz: {} written",
            format_bytes(written.load(Ordering::Relaxed) as f64)
        ));
    })
    .await?
}

struct Walk<'a> {
    output: &'a Output,
    cancel: &'a CancellationToken,
}

type Archive = tar::Builder<GzEncoder<Hashing<BufWriter<File>>>>;

fn archive(
    paths: &[PathBuf],
    directory: &Path,
    partial: &Path,
    walk: &Walk,
    written: Arc<AtomicU64>,
) -> Result<(String, u64), TaskError> {
    for path in paths {
        if !path.is_absolute() {
            return Err(TaskError::failed(format!(
                "backup path {} is not absolute; write it from / in [backup.create] paths",
                path.display()
            )));
        }
        match fs::symlink_metadata(path) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(TaskError::failed(format!(
                    "backup path {} does not exist; fix [backup.create] paths",
                    path.display()
                )));
            }
            Err(error) => {
                return Err(TaskError::failed(format!(
                    "backup path {} cannot be read ({error}); fix [backup.create] paths or run \
                     opsdeck as a user that can read it",
                    path.display()
                )));
            }
        }
    }
    // Backups of a tree that holds the set's own directory would contain every earlier backup.
    let own = fs::metadata(directory)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()));
    let sink = open_partial(partial, written).map_err(|error| {
        TaskError::failed(format!("cannot create {}: {error}", partial.display()))
    })?;
    let mut builder = tar::Builder::new(GzEncoder::new(sink, Compression::default()));
    let mut tally = Tally::default();
    let failed = |error: io::Error| {
        io_failure(walk.cancel, || {
            format!("writing {}: {error}", partial.display())
        })
    };
    for top in paths {
        walk.output.line(format!("adding {}", top.display()));
        let mut pending = vec![top.clone()];
        while let Some(path) = pending.pop() {
            if walk.cancel.is_cancelled() {
                return Err(TaskError::Cancelled);
            }
            add_entry(&mut builder, &path, own, walk, &mut tally, &mut pending).map_err(failed)?;
        }
    }
    let sink = builder
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(failed)?;
    let (digest, size) = close_partial(sink).map_err(failed)?;
    walk.output.line(format!(
        "tar.gz: {} files, {} directories, {} symlinks{}",
        tally.files,
        tally.directories,
        tally.links,
        if tally.skipped > 0 {
            format!(", {} skipped", tally.skipped)
        } else {
            String::new()
        }
    ));
    Ok((digest, size))
}

/// Adds one file, directory or symlink (queueing a directory's children). Problems with the
/// entry itself are reported and skipped; only errors writing the archive are returned.
fn add_entry(
    builder: &mut Archive,
    path: &Path,
    own: Option<(u64, u64)>,
    walk: &Walk,
    tally: &mut Tally,
    pending: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let skip = |tally: &mut Tally, why: &dyn std::fmt::Display| {
        walk.output
            .line(format!("skipped {}: {why}", path.display()));
        tally.skipped += 1;
    };
    let name = path.strip_prefix("/").unwrap_or(path);
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) => {
            skip(tally, &error);
            return Ok(());
        }
    };
    let file_type = meta.file_type();
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if file_type.is_dir() {
        let id = (meta.dev(), meta.ino());
        if own == Some(id) {
            skip(tally, &"it is where this set's backups are written");
            return Ok(());
        }
        if !tally.seen.insert(id) {
            walk.output.line(format!(
                "{} is already in the archive (the configured paths overlap)",
                path.display()
            ));
            return Ok(());
        }
        let children = match fs::read_dir(path) {
            Ok(entries) => {
                let mut names: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
                names.sort();
                names
            }
            Err(error) => {
                skip(tally, &error);
                return Ok(());
            }
        };
        // The root itself has no name in an archive relative to /.
        if !name.as_os_str().is_empty() {
            builder.append_data(&mut header, name, io::empty())?;
        }
        tally.directories += 1;
        pending.extend(children.into_iter().rev());
    } else if file_type.is_symlink() {
        match fs::read_link(path) {
            Ok(link) => {
                builder.append_link(&mut header, name, link)?;
                tally.links += 1;
            }
            Err(error) => skip(tally, &error),
        }
    } else if file_type.is_file() {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) => {
                skip(tally, &error);
                return Ok(());
            }
        };
        // The header must carry the size of what is read, so take it from the open file.
        if let Ok(opened) = file.metadata() {
            header.set_metadata_in_mode(&opened, tar::HeaderMode::Complete);
        }
        let size = header.size()?;
        let mut content = Exactly {
            inner: Cancellable {
                inner: file,
                cancel: walk.cancel.clone(),
            },
            left: size,
            short: false,
        };
        builder.append_data(&mut header, name, &mut content)?;
        if content.short {
            walk.output.line(format!(
                "{} shrank while it was read; stored padded with zeros to its former size",
                path.display()
            ));
        }
        tally.files += 1;
    } else {
        skip(tally, &"not a regular file, directory or symlink");
    }
    Ok(())
}

/// Reads exactly `left` bytes: a file that grows is cut, one that shrinks is padded with zeros,
/// so the archive stays well-formed whatever happens to the file meanwhile.
struct Exactly<R> {
    inner: R,
    left: u64,
    short: bool,
}

impl<R: Read> Read for Exactly<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let want = buffer
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let count = if self.short {
            0
        } else {
            self.inner.read(&mut buffer[..want])?
        };
        let count = if count == 0 {
            self.short = true;
            buffer[..want].fill(0);
            want
        } else {
            count
        };
        self.left -= count as u64;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_content_is_padded_and_growing_content_cut() {
        let mut short = Exactly {
            inner: &b"abc"[..],
            left: 5,
            short: false,
        };
        let mut read = Vec::new();
        short.read_to_end(&mut read).unwrap();
        assert_eq!(read, b"abc\0\0");
        assert!(short.short);

        let mut long = Exactly {
            inner: &b"abcdef"[..],
            left: 4,
            short: false,
        };
        let mut read = Vec::new();
        long.read_to_end(&mut read).unwrap();
        assert_eq!(read, b"abcd");
        assert!(!long.short);
    }

    #[test]
    fn tool_errors_pick_the_first_error_line() {
        let finished = Finished {
            status: std::os::unix::process::ExitStatusExt::from_raw(256),
            stderr: vec![
                "pg_dump: warning: something".to_owned(),
                "pg_dump: error: connection failed".to_owned(),
            ],
        };
        assert_eq!(
            finished.problem().as_deref(),
            Some("exited with status 1: pg_dump: error: connection failed")
        );
    }
}
