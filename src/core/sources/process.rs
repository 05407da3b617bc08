//! Child processes: each runs in a process group of its own, so stopping it stops whatever it
//! started too; a stop is SIGTERM to the group, then SIGKILL after [`TERM_GRACE`]; a program
//! that is missing is told with the Debian package that installs it. [`Process`] is for async
//! callers (tokio), [`BlockingProcess`] for code on a blocking thread.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a stopped process group gets to exit after SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_millis(500);
/// How often a blocking caller looks at its child while waiting for it.
const BLOCKING_POLL: Duration = Duration::from_millis(20);

/// The Debian package of each program opsdeck runs by name.
const PACKAGES: &[(&str, &str)] = &[
    ("pg_dump", "postgresql-client"),
    ("pg_dumpall", "postgresql-client"),
    ("pg_restore", "postgresql-client"),
    ("psql", "postgresql-client"),
    ("redis-check-rdb", "redis-tools"),
    ("redis-check-aof", "redis-tools"),
    ("redis-cli", "redis-tools"),
    ("logrotate", "logrotate"),
    ("systemctl", "systemd"),
    ("apt-get", "apt"),
    ("needrestart", "needrestart"),
    ("sshd", "openssh-server"),
    ("ufw", "ufw"),
    ("nft", "nftables"),
];

/// "`pg_dump` was not found: install it with `apt-get install postgresql-client` or
/// {alternative}"; without an alternative, "or give its full path".
pub fn not_found(program: &str, alternative: Option<&str>) -> String {
    let name = Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let install = match PACKAGES.iter().find(|(known, _)| *known == name) {
        Some((_, package)) => format!("install it with `apt-get install {package}`"),
        None => "install it".to_owned(),
    };
    let alternative = alternative.unwrap_or("give its full path");
    format!(
        "`{}` was not found: {install} or {alternative}",
        crate::core::text::printable(program)
    )
}

/// Why a program could not be started.
#[derive(Debug, Error)]
pub enum SpawnError {
    #[error("{}", not_found(.0, None))]
    NotFound(String),
    /// It exists but cannot run (permissions, not an executable, its `#!` interpreter missing).
    #[error("cannot start `{}`: {}", crate::core::text::printable(.0), .1)]
    CannotStart(String, io::Error),
}

impl SpawnError {
    fn new(program: &Path, error: io::Error) -> SpawnError {
        let shown = program.display().to_string();
        match error.kind() {
            // A script whose interpreter is missing gives the same error as a missing program.
            io::ErrorKind::NotFound if program.components().count() > 1 && program.is_file() => {
                SpawnError::CannotStart(
                    shown,
                    io::Error::new(io::ErrorKind::NotFound, "its interpreter was not found"),
                )
            }
            io::ErrorKind::NotFound => SpawnError::NotFound(shown),
            _ => SpawnError::CannotStart(shown, error),
        }
    }
}

/// The program's path if it exists: as given when it has a slash, else on PATH or in the sbin
/// directories (where logrotate, sshd, ufw and nft live, and which ordinary users' PATH often
/// lacks).
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A child process in its own process group, for async callers.
pub struct Process {
    child: tokio::process::Child,
    group: Option<Pid>,
}

impl Process {
    /// Starts `command` in a process group of its own; the child is killed if the
    /// [`Process`] is dropped before it ends.
    pub fn spawn(command: &mut tokio::process::Command) -> Result<Process, SpawnError> {
        let program = Path::new(command.as_std().get_program()).to_owned();
        let child = command
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| SpawnError::new(&program, error))?;
        let group = child.id().and_then(|pid| Pid::from_raw(pid as i32));
        Ok(Process { child, group })
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut tokio::process::Child {
        &mut self.child
    }

    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Waits for the exit while reading stdout and stderr (when piped) to their end.
    pub async fn output(&mut self) -> io::Result<Output> {
        let (stdout, stderr) = (self.child.stdout.take(), self.child.stderr.take());
        let (status, stdout, stderr) =
            tokio::join!(self.child.wait(), read_all(stdout), read_all(stderr));
        Ok(Output {
            status: status?,
            stdout,
            stderr,
        })
    }

    /// SIGTERM to the group, SIGKILL after [`TERM_GRACE`] if the child is still there; reaped.
    pub async fn stop(&mut self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, Signal::TERM);
            if tokio::time::timeout(TERM_GRACE, self.child.wait())
                .await
                .is_err()
            {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
            }
        }
        let _ = self.child.kill().await;
    }

    /// SIGKILL to the group at once (a timeout has passed: no grace); reaped.
    pub async fn kill(&mut self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.kill().await;
    }
}

async fn read_all(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut stream) = stream {
        let _ = stream.read_to_end(&mut bytes).await;
    }
    bytes
}

/// A child process in its own process group, for code on a blocking thread.
pub struct BlockingProcess {
    child: std::process::Child,
    group: Option<Pid>,
}

impl BlockingProcess {
    /// Starts `command` in a process group of its own.
    pub fn spawn(command: &mut std::process::Command) -> Result<BlockingProcess, SpawnError> {
        use std::os::unix::process::CommandExt;
        let program = Path::new(command.get_program()).to_owned();
        let child = command
            .process_group(0)
            .spawn()
            .map_err(|error| SpawnError::new(&program, error))?;
        let group = Pid::from_raw(child.id() as i32);
        Ok(BlockingProcess { child, group })
    }

    /// The child, for its pipes.
    pub fn child(&mut self) -> &mut std::process::Child {
        &mut self.child
    }

    /// Waits for the exit, looking at `stop_now` between polls: when it says so the group is
    /// stopped ([`BlockingProcess::stop`]) and `Ok(None)` returned.
    pub fn wait_unless(&mut self, stop_now: impl Fn() -> bool) -> io::Result<Option<ExitStatus>> {
        loop {
            if stop_now() {
                self.stop();
                return Ok(None);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) => thread::sleep(BLOCKING_POLL),
                Err(error) => {
                    self.stop();
                    return Err(error);
                }
            }
        }
    }

    /// SIGTERM to the group, SIGKILL after [`TERM_GRACE`] if the child is still there; reaped.
    pub fn stop(&mut self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, Signal::TERM);
            let deadline = Instant::now() + TERM_GRACE;
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                thread::sleep(BLOCKING_POLL);
            }
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_programs_name_their_package() {
        assert_eq!(
            not_found("/usr/lib/postgresql/16/bin/pg_dump", None),
            "`/usr/lib/postgresql/16/bin/pg_dump` was not found: install it with `apt-get \
             install postgresql-client` or give its full path"
        );
        assert_eq!(
            not_found("logrotate", Some("set [tasks.log-rotation] program")),
            "`logrotate` was not found: install it with `apt-get install logrotate` or set \
             [tasks.log-rotation] program"
        );
        assert_eq!(
            not_found("my-tool", None),
            "`my-tool` was not found: install it or give its full path"
        );
    }

    /// Nothing is left in the group once the orphans it had are reaped: signal 0 to it fails.
    fn assert_group_ends(group: Pid) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while rustix::process::test_kill_process_group(group).is_ok() {
            assert!(
                Instant::now() < deadline,
                "process group {group:?} is still there"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn a_stop_ends_the_whole_group_even_when_term_is_ignored() {
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "trap '' TERM; sleep 30 & sleep 30; wait"]);
        let mut process = Process::spawn(&mut command).unwrap();
        let group = process.group.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        process.stop().await;
        assert!(started.elapsed() < TERM_GRACE + Duration::from_secs(1));
        assert_group_ends(group);
    }

    #[test]
    fn a_blocking_stop_ends_the_whole_group() {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30; wait"]);
        let mut process = BlockingProcess::spawn(&mut command).unwrap();
        let group = process.group.unwrap();
        let started = Instant::now();
        let status = process
            .wait_unless(|| started.elapsed() > Duration::from_millis(100))
            .unwrap();
        assert_eq!(status, None);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_group_ends(group);
    }

    #[test]
    fn missing_programs_and_interpreters_are_told_apart() {
        let missing = BlockingProcess::spawn(&mut std::process::Command::new("/no/such/pg_dump"));
        assert!(
            matches!(missing, Err(SpawnError::NotFound(ref program)) if program == "/no/such/pg_dump")
        );
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/no/such/interpreter\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let unstartable = BlockingProcess::spawn(&mut std::process::Command::new(&script));
        let message = unstartable.err().unwrap().to_string();
        assert!(
            message.ends_with("its interpreter was not found"),
            "{message}"
        );
    }
}
