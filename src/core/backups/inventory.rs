//! The inventory of one backup set: which backup files its directory holds, with their times,
//! sizes, detected kinds and `.sha256` sidecars, plus the backups still being written.
//!
//! Scanning is blocking file-system work (the runner calls it from `spawn_blocking`). Reading
//! the first bytes of every file is what costs, so a [`KindCache`] carries what was read from
//! one scan to the next, and the reads of a first scan are spread over a few threads.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, DirEntry, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rustix::fs::{Mode, OFlags};

use crate::core::backups::detect::{self, HEAD_BYTES};
use crate::core::backups::{BackupFile, BackupSet, DetectedKind, Sidecar, names};

const SIDECAR_SUFFIX: &[u8] = b".sha256";
const PARTIAL_SUFFIX: &[u8] = b".partial";

/// A `sha256sum` line is under 100 bytes plus the file name; anything much larger is not one.
const SIDECAR_MAX_BYTES: usize = 64 * 1024;

/// Below this many files per thread, starting threads costs more than it saves.
const FILES_PER_THREAD: usize = 256;
const MAX_THREADS: usize = 4;

/// What is on disk for one backup set.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub set: String,
    /// Newest first by `time`, then by path.
    pub files: Vec<BackupFile>,
    /// Why the directory could not be listed (missing, unreadable, not a directory, a bad
    /// pattern), naming the path and the fix.
    pub problem: Option<String>,
    /// `*.partial` files: backups being written by `backup-create`.
    pub in_progress: Vec<PathBuf>,
    pub scanned_at: DateTime<Utc>,
    pub took: Duration,
}

/// What earlier scans read from files, so that a rescan of unchanged files reads no contents.
///
/// A file counts as unchanged while its size, mtime (to the nanosecond) and inode stay the same:
/// the test `make` and `rsync` rely on. A rewrite that keeps all three (same size, mtime set
/// back) goes unnoticed, which only a deliberate `touch -d` after an in-place rewrite achieves;
/// backup tools write new files. Failed reads are not remembered, so fixing a permission takes
/// effect on the next scan. Entries are kept per set and only for files seen in the set's last
/// scan.
#[derive(Debug, Default)]
pub struct KindCache {
    sets: HashMap<String, SetCache>,
}

/// Keyed by file name within `directory`: cheaper to hash than whole paths.
#[derive(Debug, Default)]
struct SetCache {
    directory: PathBuf,
    kinds: HashMap<OsString, (FileVersion, DetectedKind)>,
    sidecars: HashMap<OsString, (FileVersion, SidecarContent)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    size: u64,
    modified_seconds: i64,
    modified_nanoseconds: i64,
    inode: u64,
}

impl FileVersion {
    fn of(metadata: &Metadata) -> FileVersion {
        FileVersion {
            size: metadata.len(),
            modified_seconds: metadata.mtime(),
            modified_nanoseconds: metadata.mtime_nsec(),
            inode: metadata.ino(),
        }
    }

    fn modified(&self) -> DateTime<Utc> {
        u32::try_from(self.modified_nanoseconds)
            .ok()
            .and_then(|nanoseconds| DateTime::from_timestamp(self.modified_seconds, nanoseconds))
            .unwrap_or(DateTime::UNIX_EPOCH)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SidecarContent {
    digest: Option<String>,
    problem: Option<String>,
}

/// Inventories `set`, reading backup names' timestamps as local time.
pub fn scan(set: &BackupSet, cache: &mut KindCache) -> Inventory {
    scan_with_zone(set, cache, &chrono::Local)
}

/// Inventories `set`, reading backup names' timestamps as local time in `zone`.
pub fn scan_with_zone<Tz: TimeZone>(
    set: &BackupSet,
    cache: &mut KindCache,
    zone: &Tz,
) -> Inventory {
    let started = Instant::now();
    let mut inventory = Inventory {
        set: set.name.clone(),
        files: Vec::new(),
        problem: None,
        in_progress: Vec::new(),
        scanned_at: Utc::now(),
        took: Duration::ZERO,
    };
    match list(set) {
        Err(problem) => inventory.problem = Some(problem),
        Ok(listing) => {
            let previous = cache
                .sets
                .remove(&set.name)
                .filter(|previous| previous.directory == set.directory)
                .unwrap_or_default();
            let (inspected, stat_error) = inspect_all(&listing, &previous);
            let mut next = SetCache {
                directory: set.directory.clone(),
                ..SetCache::default()
            };
            inventory.files = Vec::with_capacity(inspected.len());
            for Inspected {
                name,
                mut file,
                kind_read,
                sidecar_read,
            } in inspected
            {
                if let Some(time) = names::time_of_backup(&name.to_string_lossy(), file.time, zone)
                {
                    file.time = time;
                    file.time_from_name = true;
                }
                if let Some(read) = kind_read {
                    next.kinds.insert(name, read);
                }
                if let Some((sidecar_name, read)) = sidecar_read {
                    next.sidecars.insert(sidecar_name, read);
                }
                inventory.files.push(file);
            }
            cache.sets.insert(set.name.clone(), next);
            inventory.files.sort_by(|left, right| {
                right
                    .time
                    .cmp(&left.time)
                    .then_with(|| left.path.cmp(&right.path))
            });
            inventory.in_progress = listing.in_progress;
            inventory.in_progress.sort();
            inventory.problem = listing.problem.or_else(|| {
                stat_error.map(|error| {
                    format!(
                        "cannot read file details in backup directory {}: {error}; give the \
                         user opsdeck runs as read and search permission (r-x) on it",
                        set.directory.display()
                    )
                })
            });
        }
    }
    inventory.took = started.elapsed();
    inventory
}

/// The directory's entries, sorted out by name only (no file is opened yet).
struct Listing {
    /// The open directory, to open and stat its files by name rather than by whole path.
    directory: File,
    /// Regular files (by directory entry type) whose names match the set's patterns, each with
    /// its sidecar when there is one.
    candidates: Vec<(DirEntry, Option<DirEntry>)>,
    in_progress: Vec<PathBuf>,
    /// The listing stopped part way.
    problem: Option<String>,
}

fn list(set: &BackupSet) -> Result<Listing, String> {
    let patterns = set
        .patterns
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern).map_err(|error| {
                format!(
                    "file pattern `{pattern}` of backup set `{}` is invalid: {error}",
                    set.name
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let directory_path = &set.directory;
    match fs::metadata(directory_path) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(format!(
                "{} is not a directory: point `directory` of backup set `{}` at the directory \
                 that holds its backups",
                directory_path.display(),
                set.name
            ));
        }
        Ok(_) => {}
        Err(error) => return Err(directory_problem(set, &error)),
    }
    let directory = File::open(directory_path).map_err(|error| directory_problem(set, &error))?;
    let entries = fs::read_dir(directory_path).map_err(|error| directory_problem(set, &error))?;

    let mut backups = Vec::new();
    let mut sidecars: HashMap<OsString, DirEntry> = HashMap::new();
    let mut in_progress = Vec::new();
    let mut problem = None;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                problem = Some(format!(
                    "listing backup directory {} stopped part way: {error}",
                    directory_path.display()
                ));
                break;
            }
        };
        // Symlinks, directories, sockets and the like are not backups. The entry type usually
        // comes with the listing; when it does not, this is an lstat.
        if !entry.file_type().is_ok_and(|file_type| file_type.is_file()) {
            continue;
        }
        let name = entry.file_name();
        let name_bytes = name.as_bytes();
        if name_bytes.ends_with(PARTIAL_SUFFIX) {
            in_progress.push(entry.path());
        } else if let Some(backup_name) = name_bytes.strip_suffix(SIDECAR_SUFFIX) {
            sidecars.insert(OsStr::from_bytes(backup_name).to_owned(), entry);
        } else if patterns.is_empty()
            || patterns
                .iter()
                .any(|pattern| pattern.matches(&name.to_string_lossy()))
        {
            backups.push((name, entry));
        }
    }
    let candidates = backups
        .into_iter()
        .map(|(name, entry)| (entry, sidecars.remove(&name)))
        .collect();
    Ok(Listing {
        directory,
        candidates,
        in_progress,
        problem,
    })
}

fn directory_problem(set: &BackupSet, error: &io::Error) -> String {
    let directory = set.directory.display();
    match error.kind() {
        io::ErrorKind::NotFound => format!(
            "backup directory {directory} does not exist: create it, or correct `directory` of \
             backup set `{}` in the config",
            set.name
        ),
        io::ErrorKind::NotADirectory => format!(
            "backup directory {directory} is not a directory (a part of the path is a file): \
             correct `directory` of backup set `{}` in the config",
            set.name
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot read backup directory {directory}: {error}; give the user opsdeck runs as \
             read and search permission (r-x) on it and its parents"
        ),
        _ => format!("cannot read backup directory {directory}: {error}"),
    }
}

/// One backup file as inspected, with the reads worth remembering for the next scan.
struct Inspected {
    name: OsString,
    file: BackupFile,
    kind_read: Option<(FileVersion, DetectedKind)>,
    sidecar_read: Option<(OsString, (FileVersion, SidecarContent))>,
}

/// Inspects every candidate, on a few threads when there are many. Files that vanished are left
/// out. The first error getting a file's metadata (other than its vanishing) is returned: it
/// says something about the directory's permissions rather than about the file.
fn inspect_all(listing: &Listing, previous: &SetCache) -> (Vec<Inspected>, Option<io::Error>) {
    let candidates = &listing.candidates;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS)
        .min(candidates.len() / FILES_PER_THREAD)
        .max(1);
    if threads == 1 {
        return inspect_chunk(&listing.directory, candidates, previous);
    }
    let chunk_size = candidates.len().div_ceil(threads);
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = candidates
            .chunks(chunk_size)
            .map(|chunk| scope.spawn(|| inspect_chunk(&listing.directory, chunk, previous)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut inspected = Vec::with_capacity(candidates.len());
    let mut first_error = None;
    for (chunk, error) in results {
        inspected.extend(chunk);
        first_error = first_error.or(error);
    }
    (inspected, first_error)
}

fn inspect_chunk(
    directory: &File,
    candidates: &[(DirEntry, Option<DirEntry>)],
    previous: &SetCache,
) -> (Vec<Inspected>, Option<io::Error>) {
    let mut opener = Opener {
        directory,
        no_atime: true,
    };
    let mut inspected = Vec::with_capacity(candidates.len());
    let mut first_error = None;
    let mut head = vec![0u8; HEAD_BYTES];
    for (entry, sidecar) in candidates {
        match inspect(&mut opener, entry, sidecar.as_ref(), previous, &mut head) {
            Ok(Some(file)) => inspected.push(file),
            Ok(None) => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    (inspected, first_error)
}

/// `Ok(None)` when the file vanished or stopped being a regular file since the listing.
fn inspect(
    opener: &mut Opener,
    entry: &DirEntry,
    sidecar_entry: Option<&DirEntry>,
    previous: &SetCache,
    head: &mut [u8],
) -> io::Result<Option<Inspected>> {
    let name = entry.file_name();
    let Some(examined) =
        opener.examine(entry, &name, previous.kinds.get(&name), |file, size| {
            read_head(file, size, head).map(|length| detect::detect(&head[..length]))
        })?
    else {
        return Ok(None);
    };
    let version = examined.version;
    let (kind, problem, kind_read) = match examined.content {
        Ok(kind) => (kind, None, Some((version, kind))),
        Err(error) => (
            DetectedKind::Unknown,
            Some(format!("cannot read: {error}")),
            None,
        ),
    };
    let (sidecar, sidecar_read) = match sidecar_entry {
        Some(sidecar_entry) => inspect_sidecar(opener, sidecar_entry, &name, previous)?,
        None => (None, None),
    };
    let modified = version.modified();
    Ok(Some(Inspected {
        file: BackupFile {
            path: entry.path(),
            time: modified,
            time_from_name: false,
            modified,
            size: version.size,
            kind,
            problem,
            sidecar,
        },
        name,
        kind_read,
        sidecar_read,
    }))
}

type SidecarRead = (OsString, (FileVersion, SidecarContent));

fn inspect_sidecar(
    opener: &mut Opener,
    entry: &DirEntry,
    backup_name: &OsStr,
    previous: &SetCache,
) -> io::Result<(Option<Sidecar>, Option<SidecarRead>)> {
    let name = entry.file_name();
    let examined = opener.examine(entry, &name, previous.sidecars.get(&name), |file, _| {
        let mut text = Vec::new();
        file.take(SIDECAR_MAX_BYTES as u64 + 1)
            .read_to_end(&mut text)?;
        Ok(match parse_sidecar(&text, backup_name) {
            Ok(digest) => SidecarContent {
                digest: Some(digest),
                problem: None,
            },
            Err(problem) => SidecarContent {
                digest: None,
                problem: Some(problem),
            },
        })
    })?;
    let Some(Examined { version, content }) = examined else {
        // Vanished or replaced since the listing: as if there were none.
        return Ok((None, None));
    };
    let (shown, read) = match content {
        Ok(content) => (content.clone(), Some((name, (version, content)))),
        Err(error) => (
            SidecarContent {
                digest: None,
                problem: Some(format!("cannot read: {error}")),
            },
            None,
        ),
    };
    let sidecar = Sidecar {
        path: entry.path(),
        digest: shown.digest,
        problem: shown.problem,
        bytes: version.size,
    };
    Ok((Some(sidecar), read))
}

/// A file's version and what was made of its content, or the error reading it.
struct Examined<T> {
    version: FileVersion,
    content: io::Result<T>,
}

/// Opens and stats files by name relative to the directory, which saves a path walk per file.
struct Opener<'a> {
    directory: &'a File,
    /// Reading with `O_NOATIME` keeps a scan from dirtying every file's inode (`relatime` still
    /// updates atime once a day); only the owner or root may ask for it, so after a refusal the
    /// plain open is used.
    no_atime: bool,
}

impl Opener<'_> {
    /// The entry's version and what `read` makes of its content, taken from `cached` instead
    /// when the version is unchanged. `Ok(None)` when the entry vanished or is no longer a
    /// regular file; `Err` when even its metadata cannot be had.
    fn examine<T: Clone>(
        &mut self,
        entry: &DirEntry,
        name: &OsStr,
        cached: Option<&(FileVersion, T)>,
        read: impl FnOnce(&mut File, u64) -> io::Result<T>,
    ) -> io::Result<Option<Examined<T>>> {
        if let Some((cached_version, value)) = cached {
            let Some(metadata) = regular_file_metadata(entry)? else {
                return Ok(None);
            };
            let version = FileVersion::of(&metadata);
            if version == *cached_version {
                return Ok(Some(Examined {
                    version,
                    content: Ok(value.clone()),
                }));
            }
        }
        match self.open(name) {
            Ok(mut file) => {
                let metadata = file.metadata()?;
                if !metadata.is_file() {
                    return Ok(None);
                }
                let version = FileVersion::of(&metadata);
                let content = read(&mut file, version.size);
                Ok(Some(Examined { version, content }))
            }
            Err(error) if error == rustix::io::Errno::NOENT || error == rustix::io::Errno::LOOP => {
                Ok(None)
            }
            Err(error) => {
                let Some(metadata) = regular_file_metadata(entry)? else {
                    return Ok(None);
                };
                Ok(Some(Examined {
                    version: FileVersion::of(&metadata),
                    content: Err(error.into()),
                }))
            }
        }
    }

    /// Opens for reading without following a symlink (`ELOOP`) or waiting on a FIFO that
    /// replaced the file since the listing.
    fn open(&mut self, name: &OsStr) -> rustix::io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
        if self.no_atime {
            match rustix::fs::openat(self.directory, name, flags | OFlags::NOATIME, Mode::empty()) {
                Err(rustix::io::Errno::PERM) => self.no_atime = false,
                opened => return opened.map(File::from),
            }
        }
        rustix::fs::openat(self.directory, name, flags, Mode::empty()).map(File::from)
    }
}

/// The entry's own metadata (not a symlink target's); `None` when it vanished or is no longer a
/// regular file.
fn regular_file_metadata(entry: &DirEntry) -> io::Result<Option<Metadata>> {
    match entry.metadata() {
        Ok(metadata) => Ok(metadata.is_file().then_some(metadata)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Reads up to `head.len()` bytes, or `size` when smaller, so that a small file takes one
/// `read` rather than a second one to find the end.
fn read_head(file: &mut File, size: u64, head: &mut [u8]) -> io::Result<usize> {
    let wanted = usize::try_from(size).map_or(head.len(), |size| size.min(head.len()));
    let mut filled = 0;
    while filled < wanted {
        match file.read(&mut head[filled..wanted]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The lower-case hex digest a sidecar gives for `backup_name`, from `sha256sum` output (text or
/// binary mode, with its backslash escaping of odd names), `sha256sum --tag` output, or a bare
/// digest. A sidecar naming another file is an error: its digest is not this file's.
fn parse_sidecar(text: &[u8], backup_name: &OsStr) -> Result<String, String> {
    if text.len() > SIDECAR_MAX_BYTES {
        return Err(format!(
            "is over {} KiB, too large to be a sha256sum line",
            SIDECAR_MAX_BYTES / 1024
        ));
    }
    let lines: Vec<&[u8]> = text
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.trim_ascii().is_empty())
        .collect();
    let entries = lines
        .iter()
        .map(|line| parse_sidecar_line(line))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "is not in sha256sum format (`<64 hex digits>  <file name>`)".to_string())?;
    let shown_name = || backup_name.to_string_lossy().escape_debug().to_string();
    let names_this_file = |name: &Option<Vec<u8>>| {
        name.as_deref()
            .is_none_or(|name| base_name(name) == backup_name.as_bytes())
    };
    match entries.as_slice() {
        [] => Err("is empty".to_string()),
        [(digest, name)] if names_this_file(name) => Ok(digest.clone()),
        [(_, Some(name))] => Err(format!(
            "is for `{}`, not `{}`",
            String::from_utf8_lossy(name).escape_debug(),
            shown_name()
        )),
        _ => {
            let mut matching = entries.iter().filter(|(_, name)| {
                name.as_deref()
                    .is_some_and(|name| base_name(name) == backup_name.as_bytes())
            });
            match (matching.next(), matching.next()) {
                (Some((digest, _)), None) => Ok(digest.clone()),
                (None, _) => Err(format!("has no line for `{}`", shown_name())),
                (Some(_), Some(_)) => Err(format!("has more than one line for `{}`", shown_name())),
            }
        }
    }
}

/// One line: `<hex>`, `<hex>  <name>`, `<hex> *<name>`, `SHA256 (<name>) = <hex>`, where a
/// leading backslash means the name is escaped. The digest is returned in lower case.
fn parse_sidecar_line(line: &[u8]) -> Option<(String, Option<Vec<u8>>)> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let unescape = |name: &[u8]| {
        if escaped {
            unescape_name(name)
        } else {
            name.to_vec()
        }
    };
    if let Some(rest) = line.strip_prefix(b"SHA256 (") {
        let split = rest.windows(4).rposition(|window| window == b") = ")?;
        let digest = hex_digest(&rest[split + 4..])?;
        return Some((digest, Some(unescape(&rest[..split]))));
    }
    let digest = hex_digest(line.get(..64)?)?;
    match &line[64..] {
        rest if rest.trim_ascii().is_empty() => Some((digest, None)),
        [b' ', b' ' | b'*', name @ ..] if !name.is_empty() => Some((digest, Some(unescape(name)))),
        _ => None,
    }
}

fn hex_digest(text: &[u8]) -> Option<String> {
    let text = text.trim_ascii_end();
    (text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit))
        .then(|| String::from_utf8_lossy(text).to_ascii_lowercase())
}

/// Undoes `sha256sum`'s escaping of names holding a backslash, newline or carriage return.
fn unescape_name(name: &[u8]) -> Vec<u8> {
    let mut unescaped = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'\\' {
            unescaped.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'n') => unescaped.push(b'\n'),
            Some(b'r') => unescaped.push(b'\r'),
            Some(&other) => unescaped.push(other),
            None => unescaped.push(b'\\'),
        }
    }
    unescaped
}

/// The last component of a name as written in a sidecar (`sha256sum /var/backups/x` writes the
/// whole path).
fn base_name(name: &[u8]) -> &[u8] {
    name.rsplit(|&byte| byte == b'/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;
    use crate::core::backups::{ExpectedKind, Freshness, Retention};

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn set_in(directory: &Path, patterns: &[&str]) -> BackupSet {
        BackupSet {
            name: "db".into(),
            directory: directory.to_path_buf(),
            patterns: patterns.iter().map(|pattern| pattern.to_string()).collect(),
            kind: ExpectedKind::PgDumpGzip,
            freshness: Freshness::MaxAge(Duration::from_secs(86_400)),
            retention: Retention::Days(30),
            min_size: 0,
            encryption_required: false,
            create: None,
            prefix: "db".into(),
            restore: None,
        }
    }

    fn scan_utc(set: &BackupSet, cache: &mut KindCache) -> Inventory {
        scan_with_zone(set, cache, &Utc)
    }

    /// `nobody` on Debian and most systems; the kernel needs no account behind it.
    const UNPRIVILEGED: u32 = 65534;

    /// Runs `work` as a user permissions apply to. Permissions do not stop root, and CI runs the
    /// tests as root: then `work` runs on a thread whose own credentials are dropped to
    /// [`UNPRIVILEGED`] (Linux keeps credentials per thread, so the rest of the test binary stays
    /// root). Otherwise it runs as the current user. The paths it reads must let that user in.
    fn as_unprivileged<T: Send>(work: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if rustix::process::geteuid().is_root() {
                        let gid = rustix::process::Gid::from_raw(UNPRIVILEGED);
                        let uid = rustix::process::Uid::from_raw(UNPRIVILEGED);
                        rustix::thread::set_thread_groups(&[]).unwrap();
                        rustix::thread::set_thread_res_gid(gid, gid, gid).unwrap();
                        rustix::thread::set_thread_res_uid(uid, uid, uid).unwrap();
                    }
                    assert!(!rustix::process::geteuid().is_root());
                    work()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A temporary directory [`as_unprivileged`] can list (`tempdir` makes it owner-only).
    fn tempdir_others_may_enter() -> tempfile::TempDir {
        let directory = tempfile::tempdir().unwrap();
        fs::set_permissions(directory.path(), fs::Permissions::from_mode(0o755)).unwrap();
        directory
    }

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(content).unwrap();
        encoder.finish().unwrap()
    }

    fn pg_dump_gzip() -> Vec<u8> {
        gzip(b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n")
    }

    fn tar_gz() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "data.txt", b"hello".as_slice())
            .unwrap();
        gzip(&builder.into_inner().unwrap())
    }

    fn write(directory: &Path, name: impl AsRef<OsStr>, content: &[u8]) -> PathBuf {
        let path = directory.join(name.as_ref());
        fs::write(&path, content).unwrap();
        path
    }

    fn file_named<'a>(inventory: &'a Inventory, name: &str) -> &'a BackupFile {
        inventory
            .files
            .iter()
            .find(|file| file.path.file_name() == Some(OsStr::new(name)))
            .unwrap_or_else(|| panic!("{name} not in {:#?}", inventory.files))
    }

    fn listed_names(inventory: &Inventory) -> Vec<String> {
        inventory
            .files
            .iter()
            .map(|file| {
                file.path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn detects_kinds_and_times() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        write(dir, "db_20251120_030000.sql.gz", &pg_dump_gzip());
        write(dir, "files_2025-11-19.tar.gz", &tar_gz());
        write(dir, "db_20251118_030000.dump", b"PGDMP\x01\x0e\x00");
        write(dir, "redis-20251117.rdb", b"REDIS0011\xfa");
        write(dir, "db_20251116_030000.sql.gz", b"");
        let undated = write(dir, "notes.txt", b"hello");
        let noon_21st = std::time::UNIX_EPOCH + Duration::from_secs(1_763_726_400);
        File::options()
            .write(true)
            .open(&undated)
            .unwrap()
            .set_modified(noon_21st)
            .unwrap();

        let inventory = scan_utc(&set_in(dir, &[]), &mut KindCache::default());
        assert_eq!(inventory.set, "db");
        assert_eq!(inventory.problem, None);
        assert_eq!(
            listed_names(&inventory),
            [
                "notes.txt",
                "db_20251120_030000.sql.gz",
                "files_2025-11-19.tar.gz",
                "db_20251118_030000.dump",
                "redis-20251117.rdb",
                "db_20251116_030000.sql.gz",
            ]
        );
        let kinds: Vec<DetectedKind> = inventory.files.iter().map(|file| file.kind).collect();
        assert_eq!(
            kinds,
            [
                DetectedKind::Unknown,
                DetectedKind::PgDumpPlainGzip,
                DetectedKind::TarGz,
                DetectedKind::PgDumpCustom,
                DetectedKind::RedisRdb,
                DetectedKind::Empty,
            ]
        );

        let dump = file_named(&inventory, "db_20251120_030000.sql.gz");
        assert!(dump.time_from_name);
        assert_eq!(dump.time.to_rfc3339(), "2025-11-20T03:00:00+00:00");
        assert_eq!(dump.size, pg_dump_gzip().len() as u64);
        assert_eq!(dump.problem, None);
        assert_eq!(dump.sidecar, None);

        let notes = file_named(&inventory, "notes.txt");
        assert!(!notes.time_from_name);
        assert_eq!(notes.time, notes.modified);
        assert_eq!(notes.modified.to_rfc3339(), "2025-11-21T12:00:00+00:00");
    }

    #[test]
    fn a_date_only_name_written_late_that_day_is_as_old_as_its_mtime() {
        use chrono::TimeZone;
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        let seoul = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let written = seoul.with_ymd_and_hms(2026, 12, 1, 23, 30, 0).unwrap();
        let path = write(dir, "redis-2026-12-01.rdb", b"REDIS0011\xfa");
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(written.into())
            .unwrap();
        let mut set = set_in(dir, &[]);
        set.kind = ExpectedKind::RedisRdb;

        let inventory = scan_with_zone(&set, &mut KindCache::default(), &seoul);
        let file = file_named(&inventory, "redis-2026-12-01.rdb");
        assert_eq!(file.time, written.with_timezone(&Utc));
        // At 00:30 the next day it is an hour old, and a 24 h RPO holds.
        let half_past_midnight = seoul.with_ymd_and_hms(2026, 12, 2, 0, 30, 0).unwrap();
        let report = crate::core::backups::status::evaluate_in(
            &set,
            inventory,
            &crate::core::backups::status::Known::default(),
            half_past_midnight.with_timezone(&Utc),
            &seoul,
        );
        assert_eq!(report.newest_age, Some(3600));
        assert!(!report.stale, "{:?}", report.findings);
    }

    #[test]
    fn equal_times_are_ordered_by_name() {
        let directory = tempfile::tempdir().unwrap();
        write(directory.path(), "b_20251120.sql", b"x");
        write(directory.path(), "a_20251120.sql", b"x");
        write(directory.path(), "c_20251121.sql", b"x");
        let inventory = scan_utc(&set_in(directory.path(), &[]), &mut KindCache::default());
        assert_eq!(
            listed_names(&inventory),
            ["c_20251121.sql", "a_20251120.sql", "b_20251120.sql"]
        );
    }

    #[test]
    fn patterns_select_files_and_sidecars_and_partials_are_never_backups() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        write(dir, "db_20251120_030000.sql.gz", &pg_dump_gzip());
        write(
            dir,
            "db_20251120_030000.sql.gz.sha256",
            format!("{DIGEST}  db_20251120_030000.sql.gz\n").as_bytes(),
        );
        write(dir, "db_20251121_030000.sql.gz.partial", b"\x1f\x8b");
        write(dir, "redis_20251120.rdb", b"REDIS0011");
        write(dir, "orphan.sql.gz.sha256", DIGEST.as_bytes());

        let inventory = scan_utc(
            &set_in(dir, &["db_*", "*.sha256"]),
            &mut KindCache::default(),
        );
        assert_eq!(listed_names(&inventory), ["db_20251120_030000.sql.gz"]);
        assert_eq!(
            inventory.in_progress,
            [dir.join("db_20251121_030000.sql.gz.partial")]
        );
        let sidecar = inventory.files[0].sidecar.as_ref().unwrap();
        assert_eq!(sidecar.path, dir.join("db_20251120_030000.sql.gz.sha256"));
        assert_eq!(sidecar.digest.as_deref(), Some(DIGEST));
        assert_eq!(sidecar.problem, None);
        assert_eq!(sidecar.bytes, 64 + 2 + 25 + 1);

        let everything = scan_utc(&set_in(dir, &[]), &mut KindCache::default());
        assert_eq!(
            listed_names(&everything),
            ["db_20251120_030000.sql.gz", "redis_20251120.rdb"]
        );
    }

    #[test]
    fn sidecar_formats() {
        let name = OsStr::new("db.sql.gz");
        let upper = DIGEST.to_ascii_uppercase();
        for text in [
            format!("{DIGEST}  db.sql.gz\n"),
            format!("{DIGEST} *db.sql.gz\n"),
            format!("{DIGEST}  /var/backups/db.sql.gz\r\n"),
            format!("{DIGEST}\n"),
            format!("{upper}  db.sql.gz"),
            format!("SHA256 (db.sql.gz) = {DIGEST}\n"),
            format!("{DIGEST}  other.sql.gz\n{DIGEST}  db.sql.gz\n"),
        ] {
            assert_eq!(
                parse_sidecar(text.as_bytes(), name).as_deref(),
                Ok(DIGEST),
                "{text:?}"
            );
        }
        let odd_name = OsStr::from_bytes(b"db\nback\\slash.sql");
        assert_eq!(
            parse_sidecar(
                format!("\\{DIGEST}  db\\nback\\\\slash.sql\n").as_bytes(),
                odd_name
            )
            .as_deref(),
            Ok(DIGEST)
        );
    }

    #[test]
    fn bad_sidecars() {
        let name = OsStr::new("db.sql.gz");
        let problem = |text: &str| parse_sidecar(text.as_bytes(), name).unwrap_err();
        assert_eq!(problem(""), "is empty");
        assert_eq!(problem("\n  \n"), "is empty");
        assert!(problem("not a checksum\n").starts_with("is not in sha256sum format"));
        assert!(problem(&format!("{}  db.sql.gz", &DIGEST[1..])).starts_with("is not in"));
        assert!(problem(&format!("{DIGEST}db.sql.gz")).starts_with("is not in"));
        assert!(problem(&format!("{DIGEST} db.sql.gz")).starts_with("is not in"));
        assert_eq!(
            problem(&format!("{DIGEST}  other.sql.gz\n")),
            "is for `other.sql.gz`, not `db.sql.gz`"
        );
        assert_eq!(
            problem(&format!("{DIGEST}  a\n{DIGEST}  b\n")),
            "has no line for `db.sql.gz`"
        );
        assert_eq!(
            problem(&format!("{DIGEST}  db.sql.gz\n{DIGEST}  ./db.sql.gz\n")),
            "has more than one line for `db.sql.gz`"
        );
        let huge = "x".repeat(SIDECAR_MAX_BYTES + 1);
        assert!(problem(&huge).starts_with("is over 64 KiB"));
    }

    #[test]
    fn bad_sidecar_is_attached_with_its_problem() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        write(dir, "db.sql.gz", &pg_dump_gzip());
        write(dir, "db.sql.gz.sha256", b"garbage\n");
        let inventory = scan_utc(&set_in(dir, &[]), &mut KindCache::default());
        assert_eq!(listed_names(&inventory), ["db.sql.gz"]);
        let sidecar = inventory.files[0].sidecar.as_ref().unwrap();
        assert_eq!(sidecar.digest, None);
        assert!(
            sidecar
                .problem
                .as_deref()
                .unwrap()
                .contains("sha256sum format")
        );
        assert_eq!(sidecar.bytes, 8);
    }

    #[test]
    fn missing_directory_names_the_path_and_the_fix() {
        let directory = tempfile::tempdir().unwrap();
        let missing = directory.path().join("nowhere");
        let inventory = scan_utc(&set_in(&missing, &[]), &mut KindCache::default());
        let problem = inventory.problem.unwrap();
        assert!(
            problem.contains(&missing.display().to_string()),
            "{problem}"
        );
        assert!(problem.contains("does not exist"), "{problem}");
        assert!(
            problem.contains("`directory` of backup set `db`"),
            "{problem}"
        );
        assert!(inventory.files.is_empty());
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let directory = tempfile::tempdir().unwrap();
        let file = write(directory.path(), "plain-file", b"x");
        let problem = scan_utc(&set_in(&file, &[]), &mut KindCache::default())
            .problem
            .unwrap();
        assert!(problem.contains("is not a directory"), "{problem}");

        let below_file = file.join("backups");
        let problem = scan_utc(&set_in(&below_file, &[]), &mut KindCache::default())
            .problem
            .unwrap();
        assert!(problem.contains("is not a directory"), "{problem}");
    }

    #[test]
    fn an_invalid_pattern_is_a_problem() {
        let directory = tempfile::tempdir().unwrap();
        let problem = scan_utc(
            &set_in(directory.path(), &["db_[.sql"]),
            &mut KindCache::default(),
        )
        .problem
        .unwrap();
        assert!(problem.starts_with("file pattern `db_[.sql` of backup set `db` is invalid"));
    }

    #[test]
    fn unreadable_directory_is_a_problem() {
        let directory = tempdir_others_may_enter();
        let locked = directory.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let inventory =
            as_unprivileged(|| scan_utc(&set_in(&locked, &[]), &mut KindCache::default()));
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        let problem = inventory.problem.unwrap();
        assert!(
            problem.contains("cannot read backup directory"),
            "{problem}"
        );
        assert!(problem.contains("r-x"), "{problem}");
    }

    #[test]
    fn unreadable_file_keeps_its_metadata() {
        let directory = tempdir_others_may_enter();
        let path = write(directory.path(), "db_20251120.sql.gz", &pg_dump_gzip());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        let inventory =
            as_unprivileged(|| scan_utc(&set_in(directory.path(), &[]), &mut KindCache::default()));
        assert_eq!(inventory.problem, None);
        let file = &inventory.files[0];
        assert_eq!(file.size, pg_dump_gzip().len() as u64);
        assert!(file.time_from_name);
        assert_eq!(file.kind, DetectedKind::Unknown);
        assert_eq!(
            file.problem.as_deref(),
            Some("cannot read: Permission denied (os error 13)")
        );
    }

    #[test]
    fn symlinks_and_directories_are_not_backups() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        let target = write(dir, "real.sql", b"--\n-- PostgreSQL database dump\n");
        std::os::unix::fs::symlink(&target, dir.join("link.sql")).unwrap();
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling.sql")).unwrap();
        fs::create_dir(dir.join("sub.sql")).unwrap();
        write(&dir.join("sub.sql"), "nested.sql", b"x");
        let inventory = scan_utc(&set_in(dir, &["*.sql"]), &mut KindCache::default());
        assert_eq!(listed_names(&inventory), ["real.sql"]);
        assert_eq!(inventory.files[0].kind, DetectedKind::PgDumpPlain);
    }

    #[test]
    fn odd_names_keep_their_real_paths() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        let names: [&[u8]; 3] = [
            b"db\n\x1b[31m_20251120_030000.sql.gz",
            b"db \xff\xfe_20251119_030000.sql.gz",
            b"with space 2025-11-18.sql.gz",
        ];
        for name in names {
            write(dir, OsStr::from_bytes(name), &pg_dump_gzip());
        }
        write(
            dir,
            OsStr::from_bytes(b"db \xff\xfe_20251119_030000.sql.gz.sha256"),
            format!("{DIGEST}\n").as_bytes(),
        );
        let inventory = scan_utc(&set_in(dir, &["*.sql.gz"]), &mut KindCache::default());
        let paths: Vec<PathBuf> = inventory
            .files
            .iter()
            .map(|file| file.path.clone())
            .collect();
        let expected: Vec<PathBuf> = names
            .iter()
            .map(|name| dir.join(OsStr::from_bytes(name)))
            .collect();
        assert_eq!(paths, expected);
        assert!(
            inventory
                .files
                .iter()
                .all(|file| file.time_from_name && file.kind == DetectedKind::PgDumpPlainGzip)
        );
        assert_eq!(
            inventory.files[1]
                .sidecar
                .as_ref()
                .unwrap()
                .digest
                .as_deref(),
            Some(DIGEST)
        );
    }

    #[test]
    fn rescan_uses_the_cache_while_size_and_mtime_stay() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        let path = write(dir, "db.bin", b"PGDMP-custom-format!");
        let sidecar = write(dir, "db.bin.sha256", format!("{DIGEST}\n").as_bytes());
        let set = set_in(dir, &[]);
        let mut cache = KindCache::default();
        let first = scan_utc(&set, &mut cache);
        assert_eq!(first.files[0].kind, DetectedKind::PgDumpCustom);

        // Same size, mtime put back: the cached results stand, so nothing was read.
        let rewrite = |path: &Path, content: &[u8]| {
            let modified = fs::metadata(path).unwrap().modified().unwrap();
            fs::write(path, content).unwrap();
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        };
        rewrite(&path, b"REDIS0011-rdb-format");
        rewrite(&sidecar, format!("{}\n", "0".repeat(64)).as_bytes());
        let second = scan_utc(&set, &mut cache);
        assert_eq!(second.files[0].kind, DetectedKind::PgDumpCustom);
        assert_eq!(
            second.files[0].sidecar.as_ref().unwrap().digest.as_deref(),
            Some(DIGEST)
        );

        // A new mtime is a new version.
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        let third = scan_utc(&set, &mut cache);
        assert_eq!(third.files[0].kind, DetectedKind::RedisRdb);
    }

    #[test]
    fn cache_forgets_vanished_files_and_keeps_sets_apart() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        let doomed = write(dir, "a.sql", b"x");
        write(dir, "b.sql", b"y");
        let set = set_in(dir, &[]);
        let mut other = set_in(dir, &["b.*"]);
        other.name = "other".into();
        let mut cache = KindCache::default();
        scan_utc(&set, &mut cache);
        scan_utc(&other, &mut cache);
        assert_eq!(cache.sets["db"].kinds.len(), 2);
        assert_eq!(cache.sets["other"].kinds.len(), 1);
        fs::remove_file(doomed).unwrap();
        let inventory = scan_utc(&set, &mut cache);
        assert_eq!(listed_names(&inventory), ["b.sql"]);
        assert_eq!(cache.sets["db"].kinds.len(), 1);
    }

    #[test]
    fn unreadable_files_are_not_cached() {
        let directory = tempdir_others_may_enter();
        let path = write(directory.path(), "db.dump", b"PGDMP");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        let set = set_in(directory.path(), &[]);
        let mut cache = KindCache::default();
        let unreadable = as_unprivileged(|| scan_utc(&set, &mut cache));
        assert!(unreadable.files[0].problem.is_some());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let inventory = as_unprivileged(|| scan_utc(&set, &mut cache));
        assert_eq!(inventory.files[0].problem, None);
        assert_eq!(inventory.files[0].kind, DetectedKind::PgDumpCustom);
    }

    #[test]
    fn many_files_are_read_on_several_threads() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path();
        let count = FILES_PER_THREAD * MAX_THREADS + 7;
        let content = pg_dump_gzip();
        for index in 0..count {
            write(
                dir,
                format!("db_20251120_030000_{index:04}.sql.gz"),
                &content,
            );
            if index % 3 == 0 {
                write(
                    dir,
                    format!("db_20251120_030000_{index:04}.sql.gz.sha256"),
                    format!("{DIGEST}  db_20251120_030000_{index:04}.sql.gz\n").as_bytes(),
                );
            }
        }
        let mut cache = KindCache::default();
        for _ in 0..2 {
            let inventory = scan_utc(&set_in(dir, &["*.sql.gz"]), &mut cache);
            assert_eq!(inventory.files.len(), count);
            assert!(
                inventory
                    .files
                    .iter()
                    .all(|file| file.kind == DetectedKind::PgDumpPlainGzip)
            );
            let with_sidecar = inventory
                .files
                .iter()
                .filter(|file| {
                    file.sidecar
                        .as_ref()
                        .is_some_and(|sidecar| sidecar.digest.is_some())
                })
                .count();
            assert_eq!(with_sidecar, count.div_ceil(3));
            // Same time for all: name order.
            assert!(
                inventory
                    .files
                    .windows(2)
                    .all(|pair| pair[0].path < pair[1].path)
            );
        }
    }
}
