//! Following one log file: the complete lines appended since the last read, across rotation
//! (the file renamed and a new one created: the old one is finished first) and copytruncate (the
//! file copied to `PATH.1` and emptied: the rest is read from the copy, then the file from its
//! start), with a [`Position`] the caller stores so a restart resumes where it stopped.
//!
//! Memory is bounded whatever the file holds: input is read in fixed chunks, a line keeps at
//! most [`MAX_LINE`] bytes (the rest is counted and replaced by a marker, never buffered) and a
//! poll stops after [`BATCH_BYTES`] of each file it reads (a rotated-away file, then the
//! current one), so a huge backlog comes out over several polls. Invalid UTF-8 is replaced, not
//! rejected; NUL bytes stay in the text (escaping is the display's job).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The longest line kept; the rest of a longer line is dropped and counted in a marker.
pub const MAX_LINE: usize = 64 * 1024;
/// How much of one file a [`Follower::poll`] reads before it stops (to the next chunk);
/// [`Batch::more`] says there is more to read right away.
pub const BATCH_BYTES: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
/// How many bytes before the read position identify it: if they change, the file was
/// rewritten from the start (copytruncate followed by enough new lines to outgrow the old size).
const FINGERPRINT: usize = 64;

/// How far a file was read: the file (by inode) and the end of the last complete line read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub inode: u64,
    pub offset: u64,
}

/// Where a [`Follower::poll_each`] left off: the position to store once its lines are
/// handled, and whether more is already written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub position: Position,
    /// The poll stopped at [`BATCH_BYTES`] with more already written.
    pub more: bool,
}

/// The lines one poll found, and the position to store once they are handled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub lines: Vec<String>,
    pub position: Position,
    /// The poll stopped at [`BATCH_BYTES`] with more already written.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the log file {path}: {reason}\n  fix: check that the file exists and is readable by this user"
)]
pub struct FollowError {
    pub path: String,
    pub reason: io::Error,
}

/// One open file being read: complete lines are cut from it, a trailing partial line waits.
#[derive(Debug)]
struct Reader {
    file: File,
    inode: u64,
    /// End of the last complete line handed out.
    offset: u64,
    /// How far the file has been read (past `offset` while a partial line waits).
    read_to: u64,
    /// The partial line read so far, at most [`MAX_LINE`] bytes.
    pending: Vec<u8>,
    /// Bytes of the partial line dropped past [`MAX_LINE`].
    cut: u64,
    /// The last bytes up to `read_to`, and the snapshot of them at `offset`.
    recent: Vec<u8>,
    fingerprint: Vec<u8>,
}

impl Reader {
    fn open(path: &Path, offset: u64) -> io::Result<Reader> {
        let file = File::open(path)?;
        let inode = file.metadata()?.ino();
        Ok(Reader {
            file,
            inode,
            offset,
            read_to: offset,
            pending: Vec::new(),
            cut: 0,
            recent: Vec::new(),
            fingerprint: Vec::new(),
        })
    }

    fn position(&self) -> Position {
        Position {
            inode: self.inode,
            offset: self.offset,
        }
    }

    /// Reads up to `budget` bytes of complete lines; true when it stopped before the end.
    fn read(&mut self, each: &mut dyn FnMut(&str), budget: u64) -> io::Result<bool> {
        let mut buffer = vec![0; CHUNK];
        let mut spent = 0;
        loop {
            if spent >= budget {
                return Ok(true);
            }
            let read = self.file.read_at(&mut buffer, self.read_to)?;
            if read == 0 {
                return Ok(false);
            }
            spent += read as u64;
            self.take(&buffer[..read], each);
        }
    }

    /// Hands out the complete lines of `bytes` straight from the chunk (a line split across
    /// chunks goes through `pending`); the fingerprint is taken once per chunk, at the end of
    /// its last complete line, not once per line.
    fn take(&mut self, bytes: &[u8], each: &mut dyn FnMut(&str)) {
        let complete = memchr::memrchr(b'\n', bytes).map_or(0, |end| end + 1);
        // One validation of the whole chunk instead of one lossy conversion per line; a
        // newline is never inside a UTF-8 sequence, so every line of a valid chunk is valid.
        let valid = std::str::from_utf8(&bytes[..complete]).ok();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &bytes[..complete]) {
            let body = &bytes[start..end];
            match valid {
                Some(text)
                    if self.pending.is_empty() && self.cut == 0 && body.len() <= MAX_LINE =>
                {
                    let line = &text[start..end];
                    each(line.strip_suffix('\r').unwrap_or(line));
                }
                _ => {
                    self.keep(body);
                    self.finish_line(each);
                }
            }
            start = end + 1;
        }
        if complete > 0 {
            roll(&mut self.recent, &bytes[..complete]);
            self.offset = self.read_to + complete as u64;
            self.fingerprint.clone_from(&self.recent);
        }
        self.keep(&bytes[complete..]);
        roll(&mut self.recent, &bytes[complete..]);
        self.read_to += bytes.len() as u64;
    }

    /// Adds part of a line to `pending`, counting what does not fit under [`MAX_LINE`].
    fn keep(&mut self, body: &[u8]) {
        let room = MAX_LINE - self.pending.len();
        let kept = body.len().min(room);
        self.pending.extend_from_slice(&body[..kept]);
        self.cut += (body.len() - kept) as u64;
    }

    fn finish_line(&mut self, each: &mut dyn FnMut(&str)) {
        if self.cut == 0 && self.pending.last() == Some(&b'\r') {
            self.pending.pop();
        }
        let mut text = String::from_utf8_lossy(&self.pending);
        if self.cut > 0 {
            text.to_mut()
                .push_str(&format!("…[cut {} bytes]", self.cut));
        }
        each(&text);
        self.pending.clear();
        self.cut = 0;
    }

    /// Hands out a trailing partial line: the file will not grow any more (it was rotated).
    fn flush(&mut self, each: &mut dyn FnMut(&str)) {
        if !self.pending.is_empty() || self.cut > 0 {
            self.finish_line(each);
            self.offset = self.read_to;
        }
    }

    /// Reads the same file again from its start, with nothing pending.
    fn restart(&mut self) {
        self.offset = 0;
        self.read_to = 0;
        self.pending.clear();
        self.cut = 0;
        self.recent.clear();
        self.fingerprint.clear();
    }

    /// The file was emptied or rewritten under the read position (copytruncate).
    fn truncated(&self) -> io::Result<bool> {
        if self.file.metadata()?.len() < self.read_to {
            return Ok(true);
        }
        matches_at(&self.file, self.offset, &self.fingerprint).map(|same| !same)
    }
}

/// Keeps the last [`FINGERPRINT`] bytes seen.
fn roll(recent: &mut Vec<u8>, segment: &[u8]) {
    if segment.len() >= FINGERPRINT {
        recent.clear();
        recent.extend_from_slice(&segment[segment.len() - FINGERPRINT..]);
    } else {
        recent.extend_from_slice(segment);
        let excess = recent.len().saturating_sub(FINGERPRINT);
        recent.drain(..excess);
    }
}

/// Whether `file` holds `fingerprint` just before `offset`.
fn matches_at(file: &File, offset: u64, fingerprint: &[u8]) -> io::Result<bool> {
    let Some(start) = offset.checked_sub(fingerprint.len() as u64) else {
        return Ok(false);
    };
    let mut found = vec![0; fingerprint.len()];
    match file.read_exact_at(&mut found, start) {
        Ok(()) => Ok(found == fingerprint),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(error),
    }
}

/// Follows one path; see the module documentation.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    reader: Option<Reader>,
    /// A rotated-away file with lines not read yet (`PATH.1` after copytruncate, or after a
    /// rotation while stopped): finished, a batch at a time, before `reader` goes on.
    draining: Option<Reader>,
    /// Where to start when the file is first opened (a stored position, or the start).
    resume: Position,
}

impl Follower {
    /// Follows `path` from its first line.
    pub fn new(path: impl Into<PathBuf>) -> Follower {
        Follower::resume(path, Position::default())
    }

    /// Follows `path` from a stored position. If the file at `path` is no longer the stored one,
    /// the stored file is finished from `PATH.1` when it is there (a rotation while stopped),
    /// then the new file is read from its start.
    pub fn resume(path: impl Into<PathBuf>, position: Position) -> Follower {
        Follower {
            path: path.into(),
            reader: None,
            draining: None,
            resume: position,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position to store: everything before it has been handed out. While a rotated file
    /// is being finished it is that file's position, so a restart finishes it too.
    pub fn position(&self) -> Position {
        self.draining
            .as_ref()
            .or(self.reader.as_ref())
            .map_or(self.resume, Reader::position)
    }

    /// The complete lines written since the last poll. A missing file is no error (it may be
    /// between rotation and creation): the poll is empty.
    pub fn poll(&mut self) -> Result<Batch, FollowError> {
        let mut lines = Vec::new();
        let progress = self.poll_each(|line| lines.push(line.to_owned()))?;
        Ok(Batch {
            lines,
            position: progress.position,
            more: progress.more,
        })
    }

    /// [`poll`](Self::poll) handing each line to `each` as it is read, without a `String` per
    /// line: the back-scan of a large file reads its lines straight from the read buffer.
    pub fn poll_each(&mut self, mut each: impl FnMut(&str)) -> Result<Progress, FollowError> {
        let more = self.poll_into(&mut each).map_err(|reason| FollowError {
            path: self.path.display().to_string(),
            reason,
        })?;
        Ok(Progress {
            position: self.position(),
            more,
        })
    }

    fn poll_into(&mut self, lines: &mut dyn FnMut(&str)) -> io::Result<bool> {
        if self.reader.is_none() && !self.open_first()? {
            return Ok(false);
        }
        if self.draining.is_none()
            && let Some(reader) = self.reader.as_mut()
            && reader.truncated()?
        {
            self.draining = rotated_copy(&self.path, reader)?;
            reader.restart();
        }
        if let Some(old) = self.draining.as_mut() {
            if old.read(lines, BATCH_BYTES)? {
                return Ok(true);
            }
            old.flush(lines);
            self.draining = None;
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(false);
        };
        if reader.read(lines, BATCH_BYTES)? {
            return Ok(true);
        }
        // At the end of the open file: if the path is now another file, this one was rotated
        // away and will not grow; finish it and move on.
        let current = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.ino(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        if current == reader.inode {
            return Ok(false);
        }
        reader.flush(lines);
        match Reader::open(&self.path, 0) {
            Ok(next) => self.reader = Some(next),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        }
        match self.reader.as_mut() {
            Some(reader) => reader.read(lines, BATCH_BYTES),
            None => Ok(false),
        }
    }

    /// Opens the file the first time, honouring the resume position; false when it is missing.
    fn open_first(&mut self) -> io::Result<bool> {
        let mut reader = match Reader::open(&self.path, 0) {
            Ok(reader) => reader,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        let resume = self.resume;
        if resume.inode == reader.inode {
            // Shorter than the stored offset: emptied while stopped, read again from the start.
            if reader.file.metadata()?.len() >= resume.offset {
                reader.offset = resume.offset;
                reader.read_to = resume.offset;
            }
        } else if resume.inode != 0 {
            self.draining = Reader::open(&rotated_path(&self.path), resume.offset)
                .ok()
                .filter(|old| old.inode == resume.inode);
        }
        self.reader = Some(reader);
        Ok(true)
    }
}

/// After copytruncate of `reader`'s file: `PATH.1` from the read position, if it is the copy
/// (another file holding the same bytes before that position).
fn rotated_copy(path: &Path, reader: &Reader) -> io::Result<Option<Reader>> {
    let Ok(copy) = Reader::open(&rotated_path(path), reader.offset) else {
        return Ok(None);
    };
    let is_copy = copy.inode != reader.inode
        && copy.file.metadata()?.len() >= reader.offset
        && matches_at(&copy.file, reader.offset, &reader.fingerprint)?;
    Ok(is_copy.then_some(copy))
}

/// Where logrotate puts the previous file (without `dateext`).
fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}
