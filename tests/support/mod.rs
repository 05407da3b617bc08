//! Test support: throwaway PostgreSQL and Redis servers for integration tests.
//!
//! This module owns the full lifecycle of servers started from the system
//! binaries: a private temporary directory (data directory, socket directory
//! and log files), a free TCP port on 127.0.0.1, the server child process,
//! readiness polling, clean shutdown and restart on the same port. Everything
//! is torn down when the handle is dropped, including during a panic unwind.
//!
//! All functions are blocking, so they work from `#[test]` and from
//! `#[tokio::test]` alike. Setup failures panic with a message that includes
//! the tail of the server log.
//!
//! PostgreSQL refuses to run as root; when the tests run as root (as in CI),
//! `initdb` and `postgres` are run as the unprivileged `postgres` OS user.

#![allow(dead_code)]

pub mod docker;
pub mod journal;
pub mod logs;
pub mod prometheus;
pub mod receivers;
pub mod run;
pub mod runner;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long `PgServer::start`/`restart` waits for the server to accept connections.
const PG_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `RedisServer::start`/`restart` waits for a `+PONG`.
const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop()` waits for a graceful exit before sending SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Delay between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How many lines of a server log are included in panic messages.
const LOG_TAIL_LINES: usize = 40;
/// How many times `start()` retries with a fresh port when the one it picked
/// was taken by someone else before the server could bind it.
const PORT_ATTEMPTS: usize = 3;

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// A private PostgreSQL cluster listening on `127.0.0.1:<port>` with trust
/// authentication for the `postgres` superuser and `pg_stat_statements`
/// preloaded. Stopped and deleted on drop.
pub struct PgServer {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    sock_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    /// `Some((uid, gid))` of the `postgres` OS user when we are root.
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
    // Declared last so it is removed after the server has been stopped.
    tmp: tempfile::TempDir,
}

impl PgServer {
    /// Creates a new cluster with `initdb` in a fresh temporary directory,
    /// starts `postgres` on a free port and waits until it accepts
    /// connections.
    pub fn start() -> PgServer {
        let bin_dir = pg_bin_dir();
        let run_as = if current_euid() == 0 {
            Some(passwd_ids("postgres").unwrap_or_else(|| {
                panic!(
                    "running as root, but there is no `postgres` user in /etc/passwd to run \
                     initdb/postgres as (PostgreSQL refuses to run as root)"
                )
            }))
        } else {
            None
        };

        // Under /tmp (not $TMPDIR, which may be e.g. /root/tmp) so that the
        // postgres user can traverse the parents, and so that the socket path
        // stays well below the 107-byte limit.
        let tmp = tempfile::Builder::new()
            .prefix("opsdeck-pg-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("PgServer: cannot create a temp dir under /tmp: {e}"));
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("PgServer: cannot chmod {}: {e}", tmp.path().display()));
        let data_dir = tmp.path().join("data");
        let sock_dir = tmp.path().join("sock");
        for dir in [&data_dir, &sock_dir] {
            fs::create_dir(dir)
                .unwrap_or_else(|e| panic!("PgServer: cannot create {}: {e}", dir.display()));
            if let Some((uid, gid)) = run_as {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap_or_else(|e| {
                    panic!("PgServer: cannot chown {} to postgres: {e}", dir.display())
                });
            }
        }
        let log_path = tmp.path().join("postgres.log");

        let mut server = PgServer {
            bin_dir,
            data_dir,
            sock_dir,
            log_path,
            port: 0,
            run_as,
            child: None,
            tmp,
        };
        server.initdb();

        let mut attempt = 1;
        loop {
            server.port = free_port();
            server.spawn();
            match server.wait_ready() {
                Ok(()) => return server,
                Err(why) if attempt < PORT_ATTEMPTS && server.lost_port_race() => {
                    eprintln!(
                        "PgServer: port {} was taken before postgres could bind it ({why}); \
                         retrying with another port",
                        server.port
                    );
                    server.stop();
                    attempt += 1;
                }
                Err(why) => server.fail(&why),
            }
        }
    }

    /// The TCP port on 127.0.0.1 the server listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL for the default `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Connection URL for `database`, as the `postgres` superuser.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database owned by `postgres` with `createdb`.
    pub fn create_database(&self, name: &str) {
        let mut cmd = self.client_command("createdb");
        cmd.arg(name);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("PgServer: cannot run createdb: {e}"));
        if !out.status.success() {
            panic!(
                "PgServer: `createdb {name}` failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
        }
    }

    /// The directory holding the server and client binaries (`psql`,
    /// `pg_dump`, `pgbench`, ...) of the version that is running.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.sock_dir
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the server log, for diagnostics.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// A `Command` for a client tool from `bin_dir()` (e.g. `psql`,
    /// `pgbench`, `pg_dump`) preset with `-h 127.0.0.1 -p PORT -U postgres`.
    /// Client tools do not mind running as root, so no user switch is done.
    pub fn client_command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool_path(&self.bin_dir, tool));
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ])
        .current_dir(self.tmp.path())
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .stdin(Stdio::null());
        cmd
    }

    /// Fast shutdown: SIGINT to the postmaster, then wait up to 10 s for it
    /// to exit, falling back to SIGKILL. Idempotent; never panics.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child, "INT");
        }
    }

    /// Starts the server again on the same data directory and the same port,
    /// and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        if let Err(why) = self.wait_ready() {
            self.fail(&why);
        }
    }

    /// A `Command` for a server binary, run as the `postgres` user when we
    /// are root.
    fn server_command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool_path(&self.bin_dir, tool));
        cmd.current_dir(self.tmp.path()).stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
            // HOME of root is not readable by postgres; avoid surprises.
            cmd.env("HOME", self.tmp.path());
        }
        cmd
    }

    fn initdb(&self) {
        let started = Instant::now();
        let mut cmd = self.server_command("initdb");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            // A fresh CI machine may have no locales generated: C always works.
            .arg("--locale=C");
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("PgServer: cannot run {:?}: {e}", cmd.get_program()));
        if !out.status.success() {
            panic!(
                "PgServer: initdb failed ({}) after {:?}:\n{}{}",
                out.status,
                started.elapsed(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
        }
    }

    fn spawn(&mut self) {
        let log = open_log(&self.log_path);
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("PgServer: cannot dup log file handle: {e}"));
        let mut cmd = self.server_command("postgres");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&self.sock_dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
            ])
            .stdout(log)
            .stderr(log_err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("PgServer: cannot spawn {:?}: {e}", cmd.get_program()));
        self.child = Some(child);
    }

    /// Polls TCP connect, then `pg_isready`, until the server accepts
    /// connections, the postmaster exits, or the timeout expires.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PG_READY_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let pg_isready = tool_path(&self.bin_dir, "pg_isready");
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("postgres exited early with {status}"));
            }
            let last = if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let probe = Command::new(&pg_isready)
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .args(["-U", "postgres", "-d", "postgres", "-t", "2"])
                    .current_dir(self.tmp.path())
                    .stdin(Stdio::null())
                    .output();
                match probe {
                    Ok(out) if out.status.success() => return Ok(()),
                    Ok(out) => format!(
                        "pg_isready: {} {}",
                        out.status,
                        String::from_utf8_lossy(&out.stdout).trim()
                    ),
                    Err(e) => format!("cannot run {}: {e}", pg_isready.display()),
                }
            } else {
                format!("nothing accepts TCP connections on {addr} yet")
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready after {PG_READY_TIMEOUT:?} (last probe: {last})"
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether the last failed start was caused by the port being taken.
    fn lost_port_race(&self) -> bool {
        let tail = self.log_tail();
        self.child.is_none()
            && (tail.contains("could not bind") || tail.contains("Address already in use"))
    }

    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        panic!(
            "PgServer on port {} failed to start: {why}\n--- tail of {} ---\n{}",
            self.port,
            self.log_path.display(),
            self.log_tail()
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin`, else the directory of
/// `initdb` on PATH (symlinks resolved, so the sibling tools are found).
fn pg_bin_dir() -> PathBuf {
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(version) = name.to_str().and_then(parse_version) else {
                continue;
            };
            let bin = entry.path().join("bin");
            if !bin.join("initdb").is_file() || !bin.join("postgres").is_file() {
                continue;
            }
            if best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    if let Some((_, bin)) = best {
        return bin;
    }
    if let Some(initdb) = find_on_path("initdb") {
        let real = fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "PgServer: no PostgreSQL server binaries found: nothing in /usr/lib/postgresql/*/bin \
         and no `initdb` on PATH (install e.g. the postgresql-15 package)"
    );
}

/// "15" -> [15], "9.6" -> [9, 6]; None for anything that is not a version.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/// A private, non-persistent `redis-server` on `127.0.0.1:<port>`. Stopped
/// and deleted on drop.
pub struct RedisServer {
    port: u16,
    log_path: PathBuf,
    stdio_path: PathBuf,
    child: Option<Child>,
    // Declared last so it is removed after the server has been stopped.
    tmp: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let tmp = tempfile::Builder::new()
            .prefix("opsdeck-redis-")
            .tempdir()
            .unwrap_or_else(|e| panic!("RedisServer: cannot create a temp dir: {e}"));
        let mut server = RedisServer {
            port: 0,
            log_path: tmp.path().join("redis.log"),
            stdio_path: tmp.path().join("redis.stdio.log"),
            child: None,
            tmp,
        };
        let mut attempt = 1;
        loop {
            server.port = free_port();
            server.spawn();
            match server.wait_ready() {
                Ok(()) => return server,
                Err(why) if attempt < PORT_ATTEMPTS && server.lost_port_race() => {
                    eprintln!(
                        "RedisServer: port {} was taken before redis could bind it ({why}); \
                         retrying with another port",
                        server.port
                    );
                    server.stop();
                    attempt += 1;
                }
                Err(why) => server.fail(&why),
            }
        }
    }

    /// The TCP port on 127.0.0.1 the server listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL, e.g. `redis://127.0.0.1:6390/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the server log (and of its stdout/stderr).
    pub fn log_tail(&self) -> String {
        format!(
            "{}\n--- stdout/stderr ---\n{}",
            log_tail(&self.log_path),
            log_tail(&self.stdio_path)
        )
    }

    /// Sends one command over a fresh TCP connection and returns the raw
    /// first reply line (e.g. `+PONG`, `$5`, `:1`); see [`resp_command`].
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        resp_command(self.port, args)
    }

    /// SIGTERM (redis' graceful shutdown), wait up to 10 s, then SIGKILL.
    /// Idempotent; never panics.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child, "TERM");
        }
    }

    /// Starts the server again on the same port and waits until it answers
    /// PING. The data set is empty afterwards (nothing is persisted).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        if let Err(why) = self.wait_ready() {
            self.fail(&why);
        }
    }

    fn spawn(&mut self) {
        let stdio = open_log(&self.stdio_path);
        let stdio_err = stdio
            .try_clone()
            .unwrap_or_else(|e| panic!("RedisServer: cannot dup log file handle: {e}"));
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.tmp.path())
            .args(["--daemonize", "no"])
            .arg("--logfile")
            .arg(&self.log_path)
            .current_dir(self.tmp.path())
            .stdin(Stdio::null())
            .stdout(stdio)
            .stderr(stdio_err);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("RedisServer: cannot spawn redis-server (is it installed and on PATH?): {e}")
        });
        self.child = Some(child);
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + REDIS_READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("redis-server exited early with {status}"));
            }
            let last = match resp_command(self.port, &["PING"]) {
                Ok(reply) if reply == "+PONG" => return Ok(()),
                Ok(reply) => format!("PING answered {reply:?}"),
                Err(e) => format!("PING failed: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "no +PONG after {REDIS_READY_TIMEOUT:?} (last probe: {last})"
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn lost_port_race(&self) -> bool {
        self.child.is_none() && self.log_tail().contains("Address already in use")
    }

    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        panic!(
            "RedisServer on port {} failed to start: {why}\n--- tail of {} ---\n{}",
            self.port,
            self.log_path.display(),
            self.log_tail()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends one RESP command to `127.0.0.1:port` over a fresh connection and
/// returns the first reply line without its CRLF. For a bulk string reply
/// (`$N`) the payload is returned instead, and `$-1` becomes `(nil)`.
pub fn resp_command(port: u16, args: &[&str]) -> io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;

    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    (&stream).write_all(&request)?;

    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a reply",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?;
        if len < 0 {
            return Ok("(nil)".to_string());
        }
        let mut payload = vec![0; len as usize + 2];
        reader.read_exact(&mut payload)?;
        payload.truncate(len as usize);
        return Ok(String::from_utf8_lossy(&payload).into_owned());
    }
    Ok(line)
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// A self-signed certificate for `localhost` valid for `days`, as (certificate, key) PEM files.
pub fn self_signed(dir: &Path, name: &str, days: u32) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", &days.to_string(), "-subj", "/CN=localhost"])
        .output();
    match output {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            panic!("the openssl command is missing: apt-get install openssl")
        }
        Err(error) => panic!("cannot run openssl: {error}"),
        Ok(output) => assert!(
            output.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
    (cert, key)
}

/// Asks the OS for a free port on 127.0.0.1, one no other test of this process was given. There
/// is a small window in which another process can take it; `start()` retries in that case.
pub fn free_port() -> u16 {
    // Tests of one binary run at once and start their servers a moment after choosing a port;
    // the kernel may offer a port just released to the next caller, so a port is handed out
    // once per test process.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read the local address of a listener: {e}"))
            .port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Signals `child` (by name, e.g. "INT"), waits up to `STOP_TIMEOUT` for it
/// to exit, then SIGKILLs it. Never panics: it runs from `Drop`.
fn stop_child(mut child: Child, signal: &str) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .or_else(|_| {
            // No procps `kill` binary (e.g. a slim image): use the shell builtin.
            Command::new("sh")
                .args(["-c", &format!("kill -{signal} {pid}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        })
        .is_ok_and(|status| status.success());
    if sent {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        eprintln!(
            "support: pid {pid} did not exit within {STOP_TIMEOUT:?} of SIG{signal}; killing it"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn open_log(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log file {}: {e}", path.display()))
}

/// The last `LOG_TAIL_LINES` lines of a file, or a note why there are none.
fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            if lines.is_empty() {
                "(log is empty)".to_string()
            } else {
                lines[start..].join("\n")
            }
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// `dir/name` if it exists, else plain `name` (looked up on PATH).
fn tool_path(dir: &Path, name: &str) -> PathBuf {
    let candidate = dir.join(name);
    if candidate.is_file() {
        candidate
    } else {
        PathBuf::from(name)
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The effective uid of this process, from /proc/self/status (no libc needed);
/// falls back to `id -u`.
fn current_euid() -> u32 {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // "Uid:\treal\teffective\tsaved\tfs"
        let euid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|euid| euid.parse().ok());
        if let Some(euid) = euid {
            return euid;
        }
    }
    let out = Command::new("id")
        .arg("-u")
        .output()
        .unwrap_or_else(|e| panic!("cannot determine the current uid (no /proc, no `id`): {e}"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("cannot parse the output of `id -u`: {e}"))
}

/// `(uid, gid)` of `user` from /etc/passwd.
fn passwd_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// The JSON export against its documented schema (assets/schemas), so the document and the
/// output cannot drift apart.
pub fn assert_follows_the_incident_report_schema(report: &serde_json::Value) {
    assert_follows_schema(
        "incident-report-1.schema.json",
        "opsdeck.incident-report/1",
        report,
    );
}

/// A JSON output against its documented schema `file` in assets/schemas, whose `schema` field
/// is `name`.
pub fn assert_follows_schema(file: &str, name: &str, report: &serde_json::Value) {
    let path = format!("{}/assets/schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(report["schema"], name);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\nin {report:#}");
}

/// A throwaway PostgreSQL with an `opsdeck` database, and the store opened on it (the server
/// lives as long as the returned handle).
pub async fn postgres_store() -> (PgServer, opsdeck::core::store::Store) {
    let server = tokio::task::spawn_blocking(|| {
        let server = PgServer::start();
        server.create_database("opsdeck");
        server
    })
    .await
    .expect("PostgreSQL start");
    let location = opsdeck::core::store::StoreLocation::Postgres(server.url_for("opsdeck"));
    let store = opsdeck::core::store::Store::open(&location)
        .await
        .expect("store on PostgreSQL");
    (server, store)
}
