//! The console in a real pseudo-terminal (portable-pty): first frame, help, quitting, Ctrl-C,
//! signals, startup failures that are only reached with a terminal, and alerts that survive a
//! restart.
//!
//! Every run gets its own XDG directories (and HOME) inside a temporary directory. Every wait has
//! a deadline, and the child is killed when a test fails (see `Console`'s `Drop`).

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};
use tempfile::TempDir;
use unicode_width::UnicodeWidthChar;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");
const COLS: u16 = 100;
const ROWS: u16 = 30;
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(20);
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);

const ENTER_ALT: &[u8] = b"\x1b[?1049h";
const LEAVE_ALT: &[u8] = b"\x1b[?1049l";
const BEGIN_SYNC: &[u8] = b"\x1b[?2026h";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A temporary home with empty XDG directories.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("opsdeck-pty-")
            .tempdir()
            .expect("create a temporary directory");
        for sub in ["home", "config", "data", "state"] {
            std::fs::create_dir(dir.path().join(sub)).expect("create a sandbox directory");
        }
        Sandbox { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a file");
        path
    }

    /// The console with the sandbox's environment, `args`, and `env` on top.
    fn console(&self, args: &[&str], env: &[(&str, &Path)]) -> Console {
        let mut command = CommandBuilder::new(BIN);
        command.args(args);
        command.cwd(self.dir.path());
        command.env("HOME", self.path("home"));
        command.env("XDG_CONFIG_HOME", self.path("config"));
        command.env("XDG_DATA_HOME", self.path("data"));
        command.env("XDG_STATE_HOME", self.path("state"));
        command.env("TERM", "xterm-256color");
        command.env("LANG", "C.UTF-8");
        command.env_remove("NO_COLOR");
        command.env_remove("OPSDECK_LOG");
        command.env_remove("LC_ALL");
        for (key, value) in env {
            command.env(key, value);
        }
        Console::spawn(command)
    }
}

/// A running opsdeck on the slave side of a pty; its output is collected from the master by a
/// background thread. Dropping it kills the child if it is still running.
struct Console {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    master: Box<dyn MasterPty + Send>,
    output: Arc<Mutex<Vec<u8>>>,
    eof: Arc<AtomicBool>,
    status: Option<ExitStatus>,
}

impl Console {
    fn spawn(command: CommandBuilder) -> Console {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let child = pair.slave.spawn_command(command).expect("spawn opsdeck");
        // Only the child holds the slave now, so the reader sees EOF when it exits.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let output = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(AtomicBool::new(false));
        {
            let output = Arc::clone(&output);
            let eof = Arc::clone(&eof);
            thread::spawn(move || {
                let mut buffer = [0u8; 8192];
                loop {
                    match reader.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => output
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .extend_from_slice(&buffer[..n]),
                    }
                }
                eof.store(true, Ordering::SeqCst);
            });
        }
        Console {
            child,
            writer,
            master: pair.master,
            output,
            eof,
            status: None,
        }
    }

    fn output(&self) -> Vec<u8> {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn output_len(&self) -> usize {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    fn screen(&self) -> Screen {
        let mut screen = Screen::new(ROWS.into(), COLS.into());
        screen.feed(&self.output());
        screen
    }

    fn pid(&self) -> u32 {
        self.child.process_id().expect("the child has a pid")
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait().expect("try_wait") {
            Some(status) => {
                self.status = Some(status);
                false
            }
            None => true,
        }
    }

    /// A readable account of the run so far, for failure messages.
    fn describe(&self) -> String {
        let output = self.output();
        let tail = &output[output.len().saturating_sub(1500)..];
        format!(
            "status: {:?}\n--- screen ---\n{}\n--- last {} bytes of output ---\n{}",
            self.status,
            self.screen().text(),
            tail.len(),
            String::from_utf8_lossy(tail).escape_debug()
        )
    }

    /// Polls until `done` holds for the output or the deadline passes (then panics).
    fn wait_for(&mut self, what: &str, timeout: Duration, done: impl Fn(&Console) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return;
            }
            if !self.is_running() {
                // Collect what it wrote last, then look once more.
                self.wait_for_eof();
                if done(self) {
                    return;
                }
                panic!("opsdeck exited before {what}\n{}", self.describe());
            }
            if Instant::now() >= deadline {
                panic!("no {what} within {timeout:?}\n{}", self.describe());
            }
            thread::sleep(POLL);
        }
    }

    fn wait_for_screen(&mut self, what: &str, timeout: Duration, done: impl Fn(&Screen) -> bool) {
        self.wait_for(what, timeout, |console| done(&console.screen()));
    }

    fn wait_for_first_frame(&mut self) {
        self.wait_for_screen("first frame", FIRST_FRAME_TIMEOUT, |screen| {
            screen.contains("Resources") && screen.contains("Alerts")
        });
    }

    fn wait_for_eof(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.eof.load(Ordering::SeqCst) && Instant::now() < deadline {
            thread::sleep(POLL);
        }
    }

    /// Waits (bounded) for the child to exit and for its last output.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            if Instant::now() >= deadline {
                panic!(
                    "opsdeck still running after {timeout:?}\n{}",
                    self.describe()
                );
            }
            thread::sleep(POLL);
        }
        self.wait_for_eof();
        self.status.clone().expect("exited")
    }

    /// Local flags of the pty's termios (ICANON, ECHO, …), if the platform can tell.
    fn local_flags(&self) -> Option<u64> {
        self.master
            .get_termios()
            .map(|termios| u64::from(termios.local_flags.bits()))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if self.is_running() {
            // portable-pty sends SIGHUP, waits a little, then SIGKILL.
            let _ = self.child.kill();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(POLL);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

/// The alternate screen was entered, and left after the last time it was entered.
fn assert_left_alternate_screen(output: &[u8], context: &str) {
    let entered = rfind(output, ENTER_ALT)
        .unwrap_or_else(|| panic!("the alternate screen was never entered\n{context}"));
    assert!(
        find(output, LEAVE_ALT, entered).is_some(),
        "the alternate screen was entered but not left\n{context}"
    );
}

/// Whether the alternate screen is, or was never, left: output must not end inside it.
fn assert_not_in_alternate_screen(output: &[u8], context: &str) {
    if let Some(entered) = rfind(output, ENTER_ALT) {
        assert!(
            find(output, LEAVE_ALT, entered).is_some(),
            "output ends inside the alternate screen\n{context}"
        );
    }
}

const ICANON: u64 = 0o2;
const ECHO: u64 = 0o10;

/// Raw mode was switched off again: line editing and echo are back.
fn assert_cooked_mode(console: &Console) {
    if let Some(flags) = console.local_flags() {
        assert!(
            flags & ICANON != 0 && flags & ECHO != 0,
            "the terminal was left in raw mode (lflags {flags:#o})\n{}",
            console.describe()
        );
    }
}

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stdin(Stdio::null())
        .status()
        .or_else(|_| {
            Command::new("sh")
                .args(["-c", &format!("kill -{signal} {pid}")])
                .status()
        })
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

// ---------------------------------------------------------------------------------------------
// A tiny terminal emulator: enough of VT100/xterm to rebuild the screen from what ratatui and
// crossterm write (cursor moves, erases, SGR, private modes), so assertions see the screen, not
// the byte stream (ratatui only redraws changed cells).
// ---------------------------------------------------------------------------------------------

enum Parse {
    Ground,
    Escape,
    Charset,
    Csi(Vec<u8>),
    Osc { after_escape: bool },
}

struct Screen {
    rows: usize,
    cols: usize,
    cells: Vec<Vec<char>>,
    saved_main: Option<Vec<Vec<char>>>,
    row: usize,
    col: usize,
    state: Parse,
    utf8: Vec<u8>,
}

/// Marks the second column of a double-width character.
const WIDE_TAIL: char = '\0';

impl Screen {
    fn new(rows: usize, cols: usize) -> Screen {
        Screen {
            rows,
            cols,
            cells: vec![vec![' '; cols]; rows],
            saved_main: None,
            row: 0,
            col: 0,
            state: Parse::Ground,
            utf8: Vec::new(),
        }
    }

    fn text(&self) -> String {
        self.cells
            .iter()
            .map(|row| {
                row.iter()
                    .filter(|&&ch| ch != WIDE_TAIL)
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    fn contains(&self, text: &str) -> bool {
        self.lines().iter().any(|line| line.contains(text))
    }

    /// Some row contains every one of `parts`.
    fn row_with(&self, parts: &[&str]) -> Option<String> {
        self.lines()
            .into_iter()
            .find(|line| parts.iter().all(|part| line.contains(part)))
    }

    fn clear(&mut self) {
        self.cells = vec![vec![' '; self.cols]; self.rows];
    }

    fn line_feed(&mut self) {
        if self.row + 1 >= self.rows {
            self.cells.remove(0);
            self.cells.push(vec![' '; self.cols]);
        } else {
            self.row += 1;
        }
    }

    fn put(&mut self, ch: char) {
        let width = ch.width().unwrap_or(0);
        if width == 0 {
            return;
        }
        if self.col + width > self.cols {
            self.col = 0;
            self.line_feed();
        }
        self.cells[self.row][self.col] = ch;
        if width == 2 {
            self.cells[self.row][self.col + 1] = WIDE_TAIL;
        }
        self.col += width;
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.byte(byte);
        }
    }

    fn byte(&mut self, byte: u8) {
        match &mut self.state {
            Parse::Ground => match byte {
                0x1b => self.state = Parse::Escape,
                b'\r' => self.col = 0,
                b'\n' => self.line_feed(),
                0x08 => self.col = self.col.saturating_sub(1),
                b'\t' => self.col = ((self.col / 8 + 1) * 8).min(self.cols - 1),
                0x00..=0x1f | 0x7f => {}
                0x20..=0x7e => self.put(byte as char),
                _ => {
                    self.utf8.push(byte);
                    let needed = match self.utf8[0] {
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        0xf0..=0xf7 => 4,
                        _ => 1,
                    };
                    if self.utf8.len() >= needed {
                        let text = String::from_utf8_lossy(&self.utf8).into_owned();
                        self.utf8.clear();
                        for ch in text.chars() {
                            self.put(ch);
                        }
                    }
                }
            },
            Parse::Escape => {
                self.state = match byte {
                    b'[' => Parse::Csi(Vec::new()),
                    b']' => Parse::Osc {
                        after_escape: false,
                    },
                    b'(' | b')' | b'*' | b'+' => Parse::Charset,
                    _ => Parse::Ground,
                }
            }
            Parse::Charset => self.state = Parse::Ground,
            Parse::Osc { after_escape } => {
                if byte == 0x07 || (*after_escape && byte == b'\\') {
                    self.state = Parse::Ground;
                } else {
                    *after_escape = byte == 0x1b;
                }
            }
            Parse::Csi(params) => {
                if (0x20..=0x3f).contains(&byte) {
                    params.push(byte);
                } else {
                    let params = std::mem::take(params);
                    self.state = Parse::Ground;
                    self.csi(&params, byte);
                }
            }
        }
    }

    fn csi(&mut self, params: &[u8], action: u8) {
        let text = String::from_utf8_lossy(params);
        let private = text.starts_with('?');
        let numbers: Vec<usize> = text
            .trim_start_matches('?')
            .split(';')
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        let arg = |index: usize, default: usize| match numbers.get(index) {
            Some(0) | None => default,
            Some(&n) => n,
        };
        match action {
            b'H' | b'f' => {
                self.row = (arg(0, 1) - 1).min(self.rows - 1);
                self.col = (arg(1, 1) - 1).min(self.cols - 1);
            }
            b'A' => self.row = self.row.saturating_sub(arg(0, 1)),
            b'B' => self.row = (self.row + arg(0, 1)).min(self.rows - 1),
            b'C' => self.col = (self.col + arg(0, 1)).min(self.cols - 1),
            b'D' => self.col = self.col.saturating_sub(arg(0, 1)),
            b'G' => self.col = (arg(0, 1) - 1).min(self.cols - 1),
            b'd' => self.row = (arg(0, 1) - 1).min(self.rows - 1),
            b'J' => match numbers.first().copied().unwrap_or(0) {
                0 => {
                    let (row, col) = (self.row, self.col);
                    self.cells[row][col..].fill(' ');
                    for line in &mut self.cells[row + 1..] {
                        line.fill(' ');
                    }
                }
                1 => {
                    let (row, col) = (self.row, self.col);
                    for line in &mut self.cells[..row] {
                        line.fill(' ');
                    }
                    self.cells[row][..=col.min(self.cols - 1)].fill(' ');
                }
                _ => self.clear(),
            },
            b'K' => {
                let (row, col) = (self.row, self.col);
                match numbers.first().copied().unwrap_or(0) {
                    0 => self.cells[row][col..].fill(' '),
                    1 => self.cells[row][..=col.min(self.cols - 1)].fill(' '),
                    _ => self.cells[row].fill(' '),
                }
            }
            b'X' => {
                let (row, col) = (self.row, self.col);
                let end = (col + arg(0, 1)).min(self.cols);
                self.cells[row][col..end].fill(' ');
            }
            b'h' if private && numbers.contains(&1049) => {
                let main =
                    std::mem::replace(&mut self.cells, vec![vec![' '; self.cols]; self.rows]);
                self.saved_main.get_or_insert(main);
            }
            b'l' if private && numbers.contains(&1049) => {
                if let Some(main) = self.saved_main.take() {
                    self.cells = main;
                }
            }
            _ => {}
        }
    }
}

#[test]
fn the_screen_emulator_follows_cursor_moves_and_erases() {
    let mut screen = Screen::new(3, 10);
    screen.feed(b"hello\r\nworld\x1b[1;3HX\x1b[2;1H\x1b[K\x1b[3;2H\xe2\x94\x80\xed\x95\x9c!");
    assert_eq!(screen.text(), "heXlo\n\n \u{2500}\u{d55c}!");
    screen.feed(b"\x1b[?1049h\x1b[38;5;3mAlt");
    assert_eq!(screen.text(), "\n\n     Alt");
    screen.feed(b"\x1b[?1049l");
    assert!(screen.contains("heXlo"));
}

// ---------------------------------------------------------------------------------------------
// The console
// ---------------------------------------------------------------------------------------------

#[test]
fn pane_opens_the_console_with_the_focus_there() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&["--pane", "tasks"], &[]);
    console.wait_for_screen(
        "the tasks' keys in the footer",
        Duration::from_secs(10),
        |screen| screen.contains("d plan"),
    );
    let screen = console.screen();
    assert!(screen.contains("┌ Tasks"), "{}", console.describe());
    console.send(b"q");
    assert!(console.wait_exit(EXIT_TIMEOUT).success());
}

#[test]
fn first_frame_help_and_quit() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&[], &[]);
    console.wait_for_first_frame();
    // The first frame (already holding the gauges) is drawn before the store opens and the log
    // is created; wait for both before going on, since quitting earlier leaves neither.
    let store_file = sandbox.path("data").join("opsdeck").join("state.db");
    let log_file = sandbox.path("state").join("opsdeck").join("opsdeck.log");
    console.wait_for("the store and the log", Duration::from_secs(10), |_| {
        store_file.is_file() && log_file.is_file()
    });
    assert!(
        console.screen().row_with(&["CPU", "%", "load"]).is_some(),
        "the gauges are on the first screen\n{}",
        console.describe()
    );
    assert!(
        !console.screen().contains("Help ·"),
        "help is not open yet\n{}",
        console.describe()
    );

    let before_help = console.output_len();
    console.send(b"?");
    console.wait_for("the help popup", Duration::from_secs(10), |console| {
        find(&console.output(), b"Help", before_help).is_some() && console.screen().contains("Help")
    });
    assert!(
        console.screen().contains("Esc or ? closes"),
        "{}",
        console.describe()
    );

    console.send(b"q");
    let status = console.wait_exit(EXIT_TIMEOUT);
    let context = console.describe();
    assert!(status.success(), "q exits 0, got {status}\n{context}");
    assert_eq!(status.exit_code(), 0, "{context}");

    let output = console.output();
    let entered = find(&output, ENTER_ALT, 0).expect("entered the alternate screen");
    assert!(
        find(&output, LEAVE_ALT, entered).is_some(),
        "left the alternate screen\n{context}"
    );
    assert_left_alternate_screen(&output, &context);
    assert!(
        find(&output, BEGIN_SYNC, entered).is_some(),
        "frames use synchronized output\n{context}"
    );
    assert!(
        !String::from_utf8_lossy(&output).contains("panicked"),
        "{context}"
    );
    assert_cooked_mode(&console);

    // A normal run keeps its state and log in the XDG directories, nowhere else.
    assert!(
        sandbox
            .path("data")
            .join("opsdeck")
            .join("state.db")
            .is_file(),
        "state database in XDG_DATA_HOME"
    );
    assert!(
        sandbox
            .path("state")
            .join("opsdeck")
            .join("opsdeck.log")
            .is_file(),
        "log file in XDG_STATE_HOME"
    );
}

#[test]
fn ctrl_c_does_not_quit() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&[], &[]);
    console.wait_for_first_frame();
    console.send(b"\x03");
    console.wait_for_screen("the Ctrl-C notice", Duration::from_secs(10), |screen| {
        screen.contains("Ctrl-C does not quit")
    });
    thread::sleep(Duration::from_secs(1));
    assert!(
        console.is_running(),
        "Ctrl-C quit the console\n{}",
        console.describe()
    );
    assert!(
        console.screen().contains("press q"),
        "the notice names the quit key\n{}",
        console.describe()
    );

    console.send(b"q");
    let status = console.wait_exit(EXIT_TIMEOUT);
    let context = console.describe();
    assert!(status.success(), "q exits 0, got {status}\n{context}");
    assert_left_alternate_screen(&console.output(), &context);
    assert_cooked_mode(&console);
}

fn signal_restores_the_terminal(signal: &str, number: u32) {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&[], &[]);
    console.wait_for_first_frame();
    let pid = console.pid();
    send_signal(pid, signal);
    let status = console.wait_exit(EXIT_TIMEOUT);
    let context = console.describe();
    assert!(!status.success(), "SIG{signal} is not a success\n{context}");
    assert_eq!(
        status.signal(),
        None,
        "opsdeck handles SIG{signal} and exits by itself\n{context}"
    );
    assert_eq!(status.exit_code(), 128 + number, "{context}");
    let output = console.output();
    assert_left_alternate_screen(&output, &context);
    assert!(
        !String::from_utf8_lossy(&output).contains("panicked"),
        "{context}"
    );
    assert_cooked_mode(&console);
}

#[test]
fn sigterm_restores_the_terminal() {
    signal_restores_the_terminal("TERM", 15);
}

#[test]
fn sighup_restores_the_terminal() {
    signal_restores_the_terminal("HUP", 1);
}

#[test]
fn sigint_restores_the_terminal() {
    // A SIGINT from outside (not the Ctrl-C key, which raw mode turns into a key press).
    signal_restores_the_terminal("INT", 2);
}

// ---------------------------------------------------------------------------------------------
// Startup failures in a terminal
// ---------------------------------------------------------------------------------------------

/// Runs the console, expects it to fail at startup, and checks the message: one error naming
/// `names`, one `fix:` hint, no panic, a non-zero exit, and no alternate screen left entered.
fn startup_failure(console: &mut Console, names: &[&str]) -> String {
    let status = console.wait_exit(Duration::from_secs(30));
    let context = console.describe();
    let output = console.output();
    let text = String::from_utf8_lossy(&output).into_owned();
    assert!(
        !status.success(),
        "a startup failure exits non-zero\n{context}"
    );
    assert_eq!(status.signal(), None, "no crash\n{context}");
    assert!(!text.contains("panicked"), "no panic\n{context}");
    assert_not_in_alternate_screen(&output, &context);
    assert_eq!(
        text.lines()
            .filter(|line| line.starts_with("opsdeck: "))
            .count(),
        1,
        "exactly one message\n{context}"
    );
    assert_eq!(
        text.lines()
            .filter(|line| line.starts_with("  fix: "))
            .count(),
        1,
        "exactly one fix hint\n{context}"
    );
    for name in names {
        assert!(text.contains(name), "the message names {name:?}\n{context}");
    }
    assert_cooked_mode(console);
    text
}

#[test]
fn an_unknown_theme_fails_cleanly() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&["--theme", "drak"], &[]);
    startup_failure(
        &mut console,
        &["unknown theme `drak`", "did you mean `dark`?"],
    );
    let touched: Vec<_> = ["data", "state"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(sandbox.path(sub)).unwrap().flatten())
        .map(|entry| entry.path())
        .collect();
    assert!(touched.is_empty(), "nothing is written: {touched:?}");
}

#[test]
fn a_missing_config_file_fails_cleanly() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("missing.toml");
    let mut console = sandbox.console(&["--config", missing.to_str().unwrap()], &[]);
    startup_failure(
        &mut console,
        &[&format!("{}: cannot read the file", missing.display())],
    );
}

#[test]
fn a_refusing_postgres_store_fails_cleanly_without_showing_the_password() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "pg.toml",
        "[store]\nurl = \"postgres://ops:s3cret@127.0.0.1:1/opsdeck\"\n",
    );
    let mut console = sandbox.console(&["--config", config.to_str().unwrap()], &[]);
    let text = startup_failure(
        &mut console,
        &["postgres://ops:***@127.0.0.1:1/opsdeck", "PostgreSQL"],
    );
    assert!(
        !text.contains("s3cret"),
        "the password is shown\n{}",
        console.describe()
    );
    // Nor is it written anywhere opsdeck writes (its log included, whether or not one was made).
    let mut written = Vec::new();
    let mut directories: Vec<PathBuf> = ["home", "config", "data", "state"]
        .iter()
        .map(|sub| sandbox.path(sub))
        .collect();
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                directories.push(path);
            } else {
                written.push(path);
            }
        }
    }
    for path in &written {
        let content = std::fs::read(path).unwrap();
        assert!(
            !String::from_utf8_lossy(&content).contains("s3cret"),
            "the password is in {}",
            path.display()
        );
    }
}

/// sqlx also takes the password as a query parameter (`?password=…`).
#[test]
fn a_password_in_the_query_string_is_masked_too() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "pg.toml",
        "[store]\nurl = \"postgres://ops@127.0.0.1:1/opsdeck?password=s3cret\"\n",
    );
    let mut console = sandbox.console(&["--config", config.to_str().unwrap()], &[]);
    let text = startup_failure(&mut console, &["postgres://ops@127.0.0.1:1/opsdeck"]);
    assert!(!text.contains("s3cret"), "the password is shown\n{text}");
}

#[test]
fn an_unwritable_state_file_fails_cleanly() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&["--state", "/proc/nope/state.db"], &[]);
    startup_failure(&mut console, &["/proc/nope", "--state FILE"]);
}

#[test]
fn a_data_home_below_a_regular_file_fails_cleanly() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("plain-file", "not a directory\n");
    let below = file.join("data");
    let mut console = sandbox.console(&[], &[("XDG_DATA_HOME", &below)]);
    startup_failure(&mut console, &[&below.display().to_string(), "fix: "]);
}

#[test]
fn a_state_home_below_a_regular_file_fails_cleanly() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("plain-file", "not a directory\n");
    let below = file.join("state");
    let mut console = sandbox.console(&[], &[("XDG_STATE_HOME", &below)]);
    startup_failure(
        &mut console,
        &["cannot write the log file", &below.display().to_string()],
    );
}

/// The OS error is said once, in the message (anyhow's `{:#}` would append the `#[source]` the
/// message already contains).
#[test]
fn the_state_directory_fix_line_is_only_a_fix() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&["--state", "/proc/nope/state.db"], &[]);
    let text = startup_failure(&mut console, &["/proc/nope"]);
    let fix = text
        .lines()
        .find(|line| line.starts_with("  fix: "))
        .unwrap()
        .to_owned();
    assert!(!fix.contains("os error"), "{fix:?}");
}

// ---------------------------------------------------------------------------------------------
// State across restarts
// ---------------------------------------------------------------------------------------------

#[test]
fn an_open_alert_survives_a_restart() {
    let sandbox = Sandbox::new();
    let state = sandbox.path("alerts.db");
    // processes.count is always above 1, so this opens a warning at the first sample.
    let opens_now = sandbox.write(
        "opens-now.toml",
        "[[rule]]\nmetric = \"processes.count\"\nwarn = 1\nfor = \"0s\"\n",
    );
    let mut console = sandbox.console(
        &[
            "--config",
            opens_now.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    console.wait_for_first_frame();
    console.wait_for_screen("the alert", FIRST_FRAME_TIMEOUT, |screen| {
        screen
            .row_with(&["WARN", "processes.count", "since"])
            .is_some()
    });
    console.send(b"q");
    let status = console.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{}", console.describe());
    drop(console);
    assert!(state.is_file(), "the state database is where --state says");

    // The same rule, but it would need an hour to open a new alert: an alert on screen now can
    // only have come from the store.
    let opens_late = sandbox.write(
        "opens-late.toml",
        "[[rule]]\nmetric = \"processes.count\"\nwarn = 1\nfor = \"1h\"\n",
    );
    let mut console = sandbox.console(
        &[
            "--config",
            opens_late.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    console.wait_for_first_frame();
    console.wait_for_screen("the restored alert", Duration::from_secs(10), |screen| {
        screen
            .row_with(&["WARN", "processes.count", "since"])
            .is_some()
    });
    // One row for the rule, not two (restored and opened again); other rules (the disk of the
    // machine running the tests) may have alerts of their own.
    let rows = console
        .screen()
        .lines()
        .into_iter()
        .filter(|line| line.contains("processes.count") && line.contains("since"))
        .count();
    assert_eq!(rows, 1, "exactly one open alert\n{}", console.describe());
    console.send(b"q");
    let status = console.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{}", console.describe());
}

// ---------------------------------------------------------------------------------------------
// Tasks from keybindings
// ---------------------------------------------------------------------------------------------

/// A task bound to a key streams its output into the tasks pane while it still runs, can be
/// cancelled from the pane, and a destructive one asks first, showing its exact command.
#[test]
fn a_task_key_runs_it_and_its_output_shows_before_it_finishes() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "tasks.toml",
        "[[task]]\nid = \"slow\"\nargv = [\"sh\", \"-c\", \"echo first-output-line; sleep 30\"]\ndestructive = false\nkey = \"Y\"\n\n[[task]]\nid = \"restart-app\"\nargv = [\"echo\", \"restarted the app\"]\nkey = \"R\"\n",
    );
    let mut console = sandbox.console(&["--config", config.to_str().unwrap()], &[]);
    console.wait_for_first_frame();
    console.send(b"Y");
    console.wait_for_screen("the task's first line", Duration::from_secs(10), |screen| {
        screen.contains("first-output-line") && screen.contains("running")
    });
    assert!(console.is_running());
    console.send(b"c");
    console.wait_for_screen("the cancelled run", Duration::from_secs(5), |screen| {
        screen.contains("cancelled")
    });

    console.send(b"R");
    console.wait_for_screen(
        "the confirmation with the exact command",
        Duration::from_secs(10),
        |screen| {
            screen.contains("Run restart-app?") && screen.contains("run: echo 'restarted the app'")
        },
    );
    console.send(b"y");
    console.wait_for_screen(
        "the confirmed run's output",
        Duration::from_secs(10),
        |screen| screen.contains("restarted the app") && screen.contains("succeeded"),
    );
    console.send(b"q");
    let status = console.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{}", console.describe());
}

/// Opens the daily checklist in list mode: Tab to the checklists pane (three: backups are
/// hidden without sets), Enter, `v`.
fn open_daily_list(console: &mut Console) {
    console.wait_for_screen("live data", Duration::from_secs(10), |screen| {
        screen.contains("every 1s")
    });
    // Tab by tab: the panes between depend on the machine (the containers pane is shown
    // wherever Docker runs or is installed).
    for _ in 0..12 {
        if console.screen().contains("Daily checks") {
            break;
        }
        console.send(b"\t");
        std::thread::sleep(Duration::from_millis(300));
    }
    console.wait_for_screen(
        "the checklists pane focused",
        Duration::from_secs(10),
        |screen| screen.contains("Daily checks"),
    );
    console.send(b"\r");
    // Walkthrough starts at the first item still open.
    console.wait_for_screen("the run popup", Duration::from_secs(10), |screen| {
        screen.contains("done/undo")
    });
    console.send(b"v");
    console.wait_for_screen("the list", Duration::from_secs(10), |screen| {
        screen.contains("one at a time")
    });
}

#[test]
fn a_tick_survives_kill_9_right_after_it() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&[], &[]);
    console.wait_for_first_frame();
    open_daily_list(&mut console);
    console.send(b" ");
    // The tick is drawn only once the runner has stored it.
    console.wait_for_screen("the stored tick", Duration::from_secs(10), |screen| {
        screen.contains("[x]")
    });
    send_signal(console.pid(), "KILL");
    let status = console.wait_exit(EXIT_TIMEOUT);
    assert!(!status.success(), "killed: {status}");

    let mut again = sandbox.console(&[], &[]);
    again.wait_for_first_frame();
    open_daily_list(&mut again);
    again.wait_for_screen(
        "the tick after a restart",
        Duration::from_secs(10),
        |screen| screen.contains("[x]") && screen.contains("done by"),
    );
    again.send(b"\x1bq");
}

// ---------------------------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------------------------

impl Sandbox {
    /// `opsdeck ARGS` without a terminal, on the same store and directories as the console.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("TZ", "UTC")
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .stdin(Stdio::null())
            .output()
            .expect("run opsdeck")
    }
}

/// Esc on its own: the next byte must not arrive with it, or the pair reads as an Alt key.
fn send_esc(console: &mut Console) {
    console.send(b"\x1b");
    thread::sleep(Duration::from_millis(150));
}

/// An incident declared by hand from the palette, then a note written in the console: killed
/// with SIGKILL as soon as the note shows in the timeline (which the console reads back from the
/// store), the CLI still finds both.
#[test]
fn a_declared_incident_and_its_note_survive_kill_9_right_after_the_note() {
    let sandbox = Sandbox::new();
    let mut console = sandbox.console(&[], &[]);
    console.wait_for_first_frame();
    console.send(b":declare");
    console.wait_for_screen("the palette entry", Duration::from_secs(10), |screen| {
        screen.contains("declare incident (by hand)")
    });
    console.send(b"\r");
    console.wait_for_screen("the declare form", Duration::from_secs(10), |screen| {
        screen.contains("Declare an incident") && screen.contains("partial feature failure")
    });
    console.send(b"checkout slow\t1\tcheckout, db-1\r");
    console.wait_for_screen("the opened incident", Duration::from_secs(20), |screen| {
        // Folded to its summary while another pane has the focus.
        screen.contains("Incidents 1 open")
    });

    // The palette takes the focus to the incident and shows its timeline.
    console.send(b":checkout slow");
    thread::sleep(Duration::from_millis(300));
    console.send(b"\r");
    console.wait_for_screen("the timeline", Duration::from_secs(10), |screen| {
        screen.contains("opened as P1: checkout slow")
    });
    send_esc(&mut console);
    console.send(b"m");
    console.wait_for_screen("the note editor", Duration::from_secs(10), |screen| {
        screen.contains("Incident note")
    });
    console.send(b"failover to db-2 done");
    thread::sleep(Duration::from_millis(300));
    send_esc(&mut console);
    // The timeline under the editor was drawn before the note: reopen it until the note read
    // back from the store is there.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !console.screen().contains("note: failover to db-2 done") {
        assert!(
            Instant::now() < deadline,
            "the note never showed\n{}",
            console.describe()
        );
        send_esc(&mut console);
        console.send(b"\r");
        thread::sleep(Duration::from_millis(500));
    }
    send_signal(console.pid(), "KILL");
    let status = console.wait_exit(EXIT_TIMEOUT);
    assert!(!status.success(), "killed: {status}");

    let listed = sandbox.cli(&["incident", "list", "--format", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let id = listed
        .split('"')
        .find(|word| word.starts_with("INC-"))
        .unwrap_or_else(|| panic!("no incident listed: {listed}"))
        .to_owned();
    let shown = sandbox.cli(&["incident", "show", &id]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{shown:?}");
    assert!(text.contains("checkout slow"), "{text}");
    assert!(text.contains("P1"), "{text}");
    assert!(text.contains("failover to db-2 done"), "{text}");
    assert!(text.contains("db-1"), "{text}");
}

/// The body of `GET /metrics` on 127.0.0.1:`port`, if something answers 200.
fn scrape(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_owned())
}

#[test]
fn the_console_serves_its_exporter_while_it_runs() {
    let sandbox = Sandbox::new();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A port free a moment ago (the probe is dropped at once).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .unwrap()
        .port();
    let config = sandbox.write(
        "exporter.toml",
        &format!(
            "[exporter]\nlisten = \"127.0.0.1:{port}\"\n\n[[service]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"{}\"\ninterval = \"1s\"\n",
            web.local_addr().unwrap()
        ),
    );
    let mut console = sandbox.console(&["--config", config.to_str().unwrap()], &[]);
    console.wait_for_first_frame();
    console.wait_for(
        "the service's figures at /metrics",
        FIRST_FRAME_TIMEOUT,
        |_| {
            scrape(port).is_some_and(|body| {
                body.contains("opsdeck_service_check_success{service=\"web\"} 1\n")
            })
        },
    );
    console.send(b"q");
    let status = console.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{}", console.describe());
    assert!(
        scrape(port).is_none(),
        "nothing serves once the console quit"
    );
    drop(web);
}
