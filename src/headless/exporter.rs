//! `opsdeck exporter`: the console's runner without a terminal, the exporter in front of it,
//! for a systemd unit. What the console would show as a warning goes to standard error (the
//! journal), once each time it changes; SIGTERM or Ctrl-C stops the runner the way quitting
//! the console does (running tasks cancelled and recorded).

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::core::exporter::http::Endpoint;
use crate::core::protocol::{Event, Request};
use crate::core::runner::RunnerHandle;
use crate::core::store::Store;

pub async fn run(runner: RunnerHandle, endpoint: Endpoint, store: Store) -> Result<i32> {
    if let Some(address) = endpoint.local_addr() {
        eprintln!("opsdeck exporter: serving http://{address}/metrics");
    }
    let mut runner = crate::core::runner::exporter::attach(endpoint, runner, Some(store));
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut said: HashMap<&'static str, String> = HashMap::new();
    let mut stopping = false;
    loop {
        tokio::select! {
            event = runner.events.recv() => match event {
                Some(Event::Warning { source, message }) => {
                    if said.get(source) != Some(&message) {
                        eprintln!("opsdeck exporter: {source}: {message}");
                        said.insert(source, message);
                    }
                }
                Some(_) => {}
                None => break,
            },
            () = stop_asked(&mut terminate), if !stopping => {
                stopping = true;
                // The runner then ends its events, which ends the loop.
                let _ = runner.requests.send(Request::Shutdown);
            }
        }
    }
    let _ = runner.task.await;
    if stopping {
        eprintln!("opsdeck exporter: stopped");
        Ok(0)
    } else {
        anyhow::bail!("the runner stopped unexpectedly; see the log file for why")
    }
}

async fn stop_asked(terminate: &mut Signal) {
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
