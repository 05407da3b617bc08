//! Owning the terminal: raw mode and the alternate screen on entry, and a guaranteed restore on
//! normal exit, error, panic and signals. Also a backend wrapper that brackets every non-empty
//! frame in synchronized-output sequences and drops redundant cursor-hide writes, so an
//! unchanged screen costs zero bytes on the wire.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute, queue};
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);
static EVER_ENTERED: AtomicBool = AtomicBool::new(false);

/// Puts the terminal into full-screen mode; restores it when dropped.
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        EVER_ENTERED.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        execute!(stdout, EnterAlternateScreen, cursor::Hide)?;
        if mouse {
            MOUSE.store(true, Ordering::SeqCst);
            execute!(stdout, EnableMouseCapture)?;
        }
        Ok(TerminalGuard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Whether this process ever took over the terminal (then an error message printed afterwards
/// should start on a fresh line).
pub fn was_entered() -> bool {
    EVER_ENTERED.load(Ordering::SeqCst)
}

/// Leaves the alternate screen and raw mode. Safe to call more than once and from a panic hook.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut stdout = io::stdout();
    if MOUSE.swap(false, Ordering::SeqCst) {
        let _ = queue!(stdout, DisableMouseCapture);
    }
    let _ = queue!(
        stdout,
        EndSynchronizedUpdate,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = stdout.flush();
    let _ = disable_raw_mode();
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Restore first, so the panic message lands on the normal screen where it can be read.
        restore();
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// A crossterm backend that writes synchronized-output brackets (DEC mode 2026) around every
/// frame that changes something, and nothing at all for frames that change nothing.
pub struct SyncBackend<W: Write> {
    inner: CrosstermBackend<W>,
    in_frame: bool,
    cursor_hidden: bool,
    cursor: Position,
}

impl<W: Write> SyncBackend<W> {
    pub fn new(writer: W) -> Self {
        SyncBackend {
            inner: CrosstermBackend::new(writer),
            in_frame: false,
            // TerminalGuard::enter already hid it.
            cursor_hidden: true,
            cursor: Position::ORIGIN,
        }
    }
}

impl<W: Write> Backend for SyncBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let mut content = content.peekable();
        if content.peek().is_none() {
            return Ok(());
        }
        if !self.in_frame {
            queue!(self.inner, BeginSynchronizedUpdate)?;
            self.in_frame = true;
        }
        self.inner.draw(content)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        if self.cursor_hidden {
            return Ok(());
        }
        self.cursor_hidden = true;
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.cursor_hidden = false;
        self.inner.show_cursor()
    }

    /// Answers from memory: asking the terminal costs a round trip (seconds over a slow SSH
    /// link) and ratatui asks on every resize. Full-screen drawing never needs the real answer.
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        Ok(self.cursor)
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.cursor = position.into();
        self.inner.set_cursor_position(self.cursor)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.in_frame) {
            queue!(self.inner, EndSynchronizedUpdate)?;
        }
        Backend::flush(&mut self.inner)
    }
}
