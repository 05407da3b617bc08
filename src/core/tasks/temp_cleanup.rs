//! `temp-cleanup`: deletes files older than N days under configured directories that match
//! configured glob patterns, never following a symlink out of a configured directory.
//!
//! The walk works on directory file descriptors (`openat` with `O_NOFOLLOW`, `fstatat` with
//! `AT_SYMLINK_NOFOLLOW`, `unlinkat`), so a directory swapped for a symlink while the walk runs
//! (the classic attack on root-run /tmp cleaners) is never entered, and a file is always deleted
//! relative to the directory that was checked. Symlinks are skipped entirely: neither followed
//! nor deleted. The same walker serves `security-scan`.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use tokio_util::sync::CancellationToken;

use super::{ParamSpec, Params, Plan, PlanStep, PlannedFile, TaskContext, TaskError, TaskSummary};
use crate::core::checks::rules::format_bytes;

#[derive(Debug, Clone, PartialEq)]
pub struct TempCleanupSettings {
    pub directories: Vec<PathBuf>,
    /// File name globs such as `*.tmp`; empty means every file.
    pub patterns: Vec<String>,
    pub older_than: Duration,
}

pub const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "older_than",
    description: "age limit for this run, e.g. 3d or 12h (default from the config)",
}];

pub async fn plan(settings: &TempCleanupSettings, params: &Params) -> Result<Plan, TaskError> {
    let rule = Rule::new(settings, params)?;
    let note = rule.describe(&settings.directories);
    let directories = settings.directories.clone();
    let selection = tokio::task::spawn_blocking(move || {
        let mut select = Select {
            rule: &rule,
            files: Vec::new(),
            warnings: Vec::new(),
        };
        let never = CancellationToken::new();
        for directory in &directories {
            // Not cancellable: the token above is never cancelled.
            let _ = walk_directory(directory, &never, &mut select);
        }
        (select.files, select.warnings)
    })
    .await
    .map_err(|error| TaskError::failed(format!("temp-cleanup walk failed: {error}")))?;
    let (files, warnings) = selection;
    let total_bytes = files.iter().map(|file| file.bytes).sum();
    Ok(Plan {
        steps: vec![
            PlanStep::Files {
                action: "delete".into(),
                files,
                total_bytes,
            },
            Plan::note(note),
        ],
        warnings,
        refusal: None,
    })
}

pub async fn run(
    settings: &TempCleanupSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let rule = Rule::new(settings, &context.params)?;
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    context.output.line(rule.describe(&settings.directories));
    let directories = settings.directories.clone();
    let output = context.output.clone();
    let cancel = context.cancel.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut delete = Delete {
            rule: &rule,
            output: &output,
            deleted: 0,
            bytes: 0,
            failed: 0,
            warnings: 0,
        };
        let mut result = Ok(());
        for directory in &directories {
            result = walk_directory(directory, &cancel, &mut delete);
            if result.is_err() {
                break;
            }
        }
        if result.is_err() {
            output.line(format!(
                "cancelled after deleting {} ({})",
                files(delete.deleted),
                format_bytes(delete.bytes as f64)
            ));
        }
        result.map(|()| (delete.deleted, delete.bytes, delete.failed, delete.warnings))
    })
    .await
    .map_err(|error| TaskError::failed(format!("temp-cleanup walk failed: {error}")))?;
    let (deleted, bytes, failed, warnings) = outcome.map_err(|Cancelled| TaskError::Cancelled)?;
    let mut summary = format!(
        "deleted {} ({})",
        files(deleted),
        format_bytes(bytes as f64)
    );
    if warnings > 0 {
        summary.push_str(&format!(
            "; {warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    if failed > 0 {
        // Files the rule selected are still there: the run did not do its job.
        return Err(TaskError::Failed(format!("{summary}; {failed} failed")));
    }
    Ok(TaskSummary {
        exit_code: None,
        summary,
    })
}

fn files(count: u64) -> String {
    if count == 1 {
        "1 file".into()
    } else {
        format!("{count} files")
    }
}

/// Which files a run deletes: regular files whose name matches a pattern and whose mtime is older
/// than the limit.
struct Rule {
    patterns: Vec<glob::Pattern>,
    older_than: Duration,
    now: SystemTime,
}

impl Rule {
    fn new(settings: &TempCleanupSettings, params: &Params) -> Result<Rule, TaskError> {
        let older_than = match params.get("older_than") {
            Some(text) => {
                humantime::parse_duration(text.trim()).map_err(|error| TaskError::BadParam {
                    name: "older_than".into(),
                    message: format!("`{text}` is not an age such as 3d or 12h ({error})"),
                })?
            }
            None => settings.older_than,
        };
        if settings.directories.is_empty() {
            return Err(TaskError::failed(
                "nothing to clean: set [tasks.temp-cleanup] directories = [...]",
            ));
        }
        let patterns = settings
            .patterns
            .iter()
            .map(|pattern| {
                glob::Pattern::new(pattern).map_err(|error| {
                    TaskError::failed(format!("temp-cleanup pattern `{pattern}`: {error}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            patterns,
            older_than,
            now: SystemTime::now(),
        })
    }

    fn selects(&self, name: &CStr, stat: &Stat) -> bool {
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return false;
        }
        let name = OsStr::from_bytes(name.to_bytes()).to_string_lossy();
        let matches =
            self.patterns.is_empty() || self.patterns.iter().any(|pattern| pattern.matches(&name));
        matches
            && self
                .now
                .duration_since(modified(stat))
                .is_ok_and(|age| age > self.older_than)
    }

    fn describe(&self, directories: &[PathBuf]) -> String {
        let which = if self.patterns.is_empty() {
            "all files".to_owned()
        } else {
            let patterns: Vec<&str> = self.patterns.iter().map(glob::Pattern::as_str).collect();
            format!("files matching {}", patterns.join(", "))
        };
        let under: Vec<String> = directories
            .iter()
            .map(|dir| crate::core::text::printable_path(dir))
            .collect();
        format!(
            "{which} older than {} under {}; symlinks are never followed (and never deleted)",
            short_duration(self.older_than),
            under.join(", ")
        )
    }
}

/// `7d`, `12h`, `30m`, or humantime's form for anything else.
fn short_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if duration.subsec_nanos() == 0 && secs > 0 {
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if secs.is_multiple_of(size) {
                return format!("{}{unit}", secs / size);
            }
        }
    }
    humantime::format_duration(duration).to_string()
}

/// Collects the selection for a plan.
struct Select<'a> {
    rule: &'a Rule,
    files: Vec<PlannedFile>,
    warnings: Vec<String>,
}

impl Visitor for Select<'_> {
    fn entry(&mut self, entry: &Entry<'_>) {
        if let Some((_, name)) = entry.at
            && self.rule.selects(name, entry.stat)
        {
            self.files.push(PlannedFile {
                path: entry.path.to_path_buf(),
                bytes: to_u64(entry.stat.st_size),
            });
        }
    }

    fn warning(&mut self, message: String) {
        self.warnings.push(message);
    }
}

/// Deletes the selection as the walk finds it, one line per file.
struct Delete<'a> {
    rule: &'a Rule,
    output: &'a super::Output,
    deleted: u64,
    bytes: u64,
    failed: u64,
    warnings: u64,
}

impl Visitor for Delete<'_> {
    fn entry(&mut self, entry: &Entry<'_>) {
        let Some((parent, name)) = entry.at else {
            return;
        };
        if !self.rule.selects(name, entry.stat) {
            return;
        }
        let bytes = to_u64(entry.stat.st_size);
        // unlinkat on the checked directory: removes this name only (a link, never a target).
        match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) => {
                self.deleted += 1;
                self.bytes += bytes;
                self.output.line(format!(
                    "deleted {}  ({})",
                    crate::core::text::printable_path(entry.path),
                    format_bytes(bytes as f64)
                ));
            }
            Err(Errno::NOENT) => {} // gone since it was checked
            Err(error) => {
                self.failed += 1;
                self.output.line(format!(
                    "failed {}: {}",
                    crate::core::text::printable_path(entry.path),
                    describe_errno(error)
                ));
            }
        }
    }

    fn warning(&mut self, message: String) {
        self.warnings += 1;
        self.output.line(format!("warning: {message}"));
    }
}

fn modified(stat: &Stat) -> SystemTime {
    let secs = to_i64(stat.st_mtime);
    let nanos = u32::try_from(to_u64(stat.st_mtime_nsec))
        .unwrap_or(0)
        .min(999_999_999);
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

// Generic so that the field types of `Stat`, which differ between platforms, need no casts.
fn to_i64<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(0)
}

pub(super) fn to_u64<T: TryInto<u64>>(value: T) -> u64 {
    value.try_into().unwrap_or(0)
}

pub(super) fn describe_errno(error: Errno) -> String {
    std::io::Error::from(error).to_string()
}

// ----- The walker -----

/// The walk was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cancelled;

/// How deep the walker goes; each level holds one open directory.
const MAX_DEPTH: usize = 256;

/// One file-system entry found by the walk, never a symlink's target.
pub(super) struct Entry<'a> {
    /// The directory holding the entry and its name there; `None` for the configured path itself.
    pub at: Option<(BorrowedFd<'a>, &'a CStr)>,
    pub path: &'a Path,
    /// `lstat` of the entry.
    pub stat: &'a Stat,
}

impl Entry<'_> {
    pub fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode)
    }

    /// Permission bits including setuid, setgid and sticky.
    pub fn mode(&self) -> u32 {
        u32::try_from(to_u64(self.stat.st_mode)).unwrap_or(0) & 0o7777
    }
}

pub(super) trait Visitor {
    /// Called for every entry, the configured path first; directories before their contents.
    fn entry(&mut self, entry: &Entry<'_>);
    fn warning(&mut self, message: String);
}

/// Walks `root` (which must be a real directory, not a symlink to one), calling the visitor for
/// the root and every entry below it. Symlinks are reported as entries but never followed.
pub(super) fn walk_directory(
    root: &Path,
    cancel: &CancellationToken,
    visitor: &mut dyn Visitor,
) -> Result<(), Cancelled> {
    walk(root, false, cancel, visitor)
}

/// Like [`walk_directory`], but the configured path may also be a single file.
pub(super) fn walk_path(
    root: &Path,
    cancel: &CancellationToken,
    visitor: &mut dyn Visitor,
) -> Result<(), Cancelled> {
    walk(root, true, cancel, visitor)
}

fn walk(
    root: &Path,
    file_allowed: bool,
    cancel: &CancellationToken,
    visitor: &mut dyn Visitor,
) -> Result<(), Cancelled> {
    if cancel.is_cancelled() {
        return Err(Cancelled);
    }
    let stat = match rustix::fs::statat(CWD, root, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => {
            visitor.warning(format!(
                "{} does not exist; skipped",
                crate::core::text::printable_path(root)
            ));
            return Ok(());
        }
        Err(error) => {
            visitor.warning(format!(
                "{}: {}; skipped",
                crate::core::text::printable_path(root),
                describe_errno(error)
            ));
            return Ok(());
        }
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => {}
        FileType::Symlink => {
            visitor.warning(format!(
                "{} is a symlink; skipped (symlinks are never followed: configure the real path)",
                crate::core::text::printable_path(root)
            ));
            return Ok(());
        }
        _ if file_allowed => {
            visitor.entry(&Entry {
                at: None,
                path: root,
                stat: &stat,
            });
            return Ok(());
        }
        _ => {
            visitor.warning(format!(
                "{} is not a directory; skipped",
                crate::core::text::printable_path(root)
            ));
            return Ok(());
        }
    }
    let dir = match open_directory(CWD, root) {
        Ok(dir) => dir,
        Err(error) => {
            visitor.warning(format!(
                "{}: {}; skipped",
                crate::core::text::printable_path(root),
                describe_errno(error)
            ));
            return Ok(());
        }
    };
    // The stat of the open directory, in case the name changed since the lstat above.
    let stat = rustix::fs::fstat(&dir).unwrap_or(stat);
    visitor.entry(&Entry {
        at: None,
        path: root,
        stat: &stat,
    });
    walk_below(&dir, root, 1, cancel, visitor)
}

fn open_directory<Fd: AsFd>(
    parent: Fd,
    name: impl rustix::path::Arg,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn walk_below(
    dir: &OwnedFd,
    path: &Path,
    depth: usize,
    cancel: &CancellationToken,
    visitor: &mut dyn Visitor,
) -> Result<(), Cancelled> {
    // Read the names first so that deleting entries does not disturb the listing.
    let mut names: Vec<CString> = Vec::new();
    match Dir::read_from(dir) {
        Ok(listing) => {
            for item in listing {
                match item {
                    Ok(item) => {
                        let name = item.file_name();
                        if name != c"." && name != c".." {
                            names.push(name.to_owned());
                        }
                    }
                    Err(error) => {
                        visitor.warning(format!(
                            "reading {}: {}",
                            crate::core::text::printable_path(path),
                            describe_errno(error)
                        ));
                        break;
                    }
                }
            }
        }
        Err(error) => {
            visitor.warning(format!(
                "reading {}: {}",
                crate::core::text::printable_path(path),
                describe_errno(error)
            ));
            return Ok(());
        }
    }
    names.sort();
    for name in &names {
        if cancel.is_cancelled() {
            return Err(Cancelled);
        }
        let child = path.join(OsStr::from_bytes(name.to_bytes()));
        let stat = match rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => continue,
            Err(error) => {
                visitor.warning(format!(
                    "{}: {}",
                    crate::core::text::printable_path(&child),
                    describe_errno(error)
                ));
                continue;
            }
        };
        visitor.entry(&Entry {
            at: Some((dir.as_fd(), name.as_c_str())),
            path: &child,
            stat: &stat,
        });
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            continue;
        }
        if depth >= MAX_DEPTH {
            visitor.warning(format!(
                "{}: more than {MAX_DEPTH} levels deep; not entered",
                crate::core::text::printable_path(&child)
            ));
            continue;
        }
        // O_NOFOLLOW: if the directory was swapped for a symlink since the lstat, this fails.
        match open_directory(dir, name.as_c_str()) {
            Ok(subdir) => walk_below(&subdir, &child, depth + 1, cancel, visitor)?,
            Err(Errno::NOENT) => {}
            Err(error) => visitor.warning(format!(
                "{}: {}; not entered",
                crate::core::text::printable_path(&child),
                describe_errno(error)
            )),
        }
    }
    Ok(())
}
