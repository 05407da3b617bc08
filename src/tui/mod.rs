//! The full-screen console. [`run`] owns the terminal and the event loop: it reads keys, runner
//! events, the clock and signals, feeds them to the pure [`app::AppState::update`], sends the
//! resulting requests to the runner, and draws only when something changed. It never awaits
//! I/O other than those event sources.

pub mod app;
pub mod form;
pub mod history;
pub mod input;
pub mod layout;
pub mod modal;
pub mod panes;
pub mod popups;
pub mod strings;
pub mod style;
pub mod terminal;
pub mod widgets;

use std::io::{self, BufWriter};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream, MouseEventKind};
use futures_util::StreamExt;
use ratatui::Terminal;
use tokio::signal::unix::{SignalKind, signal};

use crate::core::protocol::{Event, Request};
use crate::core::runner::RunnerHandle;
use app::{AppState, Msg};
use style::Look;
use terminal::{SyncBackend, TerminalGuard};

/// Why the console stopped; the process exit code follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    Signal(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Quit => 0,
            Exit::Signal(number) => 128 + number,
        }
    }
}

/// Runs the console. `start` opens what the runner needs (the state store) and starts it; the
/// first frame is drawn before it is awaited, so a slow store never delays the screen. If it
/// fails, the terminal is restored and the error returned. `K` is whatever `start` needs kept
/// alive for the whole session (the log writer's guard).
pub async fn run<K>(
    mut state: AppState,
    look: Look,
    start: impl Future<Output = anyhow::Result<(RunnerHandle, K)>>,
    mouse: bool,
) -> anyhow::Result<Exit> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let guard = TerminalGuard::enter(mouse)?;
    let backend = SyncBackend::new(BufWriter::with_capacity(32 * 1024, io::stdout()));
    let mut terminal = Terminal::new(backend)?;
    let mut input = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut start = std::pin::pin!(start);
    let mut running: Option<(RunnerHandle, K)> = None;
    let mut queued: Vec<Request> = Vec::new();
    let mut urgent = true;
    let mut last_draw = std::time::Instant::now();

    let exit = loop {
        // Keys draw at once; runner updates (fifty a second with many services) at most every
        // MIN_FRAME_GAP, so a busy runner costs neither CPU nor bandwidth.
        let due = urgent || last_draw.elapsed() >= MIN_FRAME_GAP;
        if state.dirty && due {
            terminal.draw(|frame| layout::view(&state, &look, frame))?;
            state.dirty = false;
            urgent = false;
            last_draw = std::time::Instant::now();
        }
        let redraw_at =
            (state.dirty).then(|| tokio::time::Instant::from_std(last_draw + MIN_FRAME_GAP));
        if state.should_quit {
            break Exit::Quit;
        }
        tokio::select! {
            biased;
            event = input.next() => match event {
                Some(Ok(TermEvent::Key(key))) => {
                    urgent = true;
                    if let Some(chord) = input::chord(&key) {
                        let requests = state.update(Msg::Key(chord));
                        match &running {
                            Some((runner, _)) => send(runner, requests),
                            // Keys pressed while the store opens are acted on once it is open.
                            None => queued.extend(requests),
                        }
                    }
                }
                Some(Ok(TermEvent::Mouse(mouse))) => match mouse.kind {
                    MouseEventKind::ScrollUp => { state.update(Msg::ScrollUp); }
                    MouseEventKind::ScrollDown => { state.update(Msg::ScrollDown); }
                    _ => {}
                },
                Some(Ok(TermEvent::Resize(..))) => {
                    state.dirty = true;
                    urgent = true;
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => break Exit::Quit,
            },
            _ = sigterm.recv() => break Exit::Signal(15),
            _ = sighup.recv() => break Exit::Signal(1),
            _ = sigint.recv() => break Exit::Signal(2),
            started = &mut start, if running.is_none() => {
                let started = started?;
                // The sparklines start from the stored history, so a restart keeps them.
                queued.insert(0, state.history_request());
                send(&started.0, std::mem::take(&mut queued));
                running = Some(started);
            }
            Some(event) = next_event(&mut running) => {
                let mut requests = state.update(Msg::Runner(event));
                // Fold everything already queued into one redraw.
                if let Some((runner, _)) = running.as_mut() {
                    while let Ok(event) = runner.events.try_recv() {
                        requests.extend(state.update(Msg::Runner(event)));
                    }
                    send(runner, requests);
                }
            }
            _ = clock.tick() => {
                let requests = state.update(Msg::Tick(Utc::now()));
                if let Some((runner, _)) = &running {
                    send(runner, requests);
                }
            }
            () = sleep_until(redraw_at) => {}
        }
    };
    drop(terminal);
    drop(guard);
    if let Some((runner, keep_alive)) = running {
        let _ = runner.requests.send(Request::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(2), runner.task).await;
        tracing::info!(?exit, "opsdeck stopped");
        drop(keep_alive);
    }
    Ok(exit)
}

/// Runner updates closer together than this are drawn as one frame.
const MIN_FRAME_GAP: Duration = Duration::from_millis(100);

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The runner's next event, or never while it has not started.
async fn next_event<K>(running: &mut Option<(RunnerHandle, K)>) -> Option<Event> {
    match running {
        Some((runner, _)) => runner.events.recv().await,
        None => std::future::pending().await,
    }
}

fn send(runner: &RunnerHandle, requests: Vec<Request>) {
    for request in requests {
        // The runner only stops when we tell it to; a send error means it crashed and its
        // warning is already on screen.
        let _ = runner.requests.send(request);
    }
}
