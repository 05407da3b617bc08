//! Running a program for a task: in its own process group, output streamed line by line, and
//! cancellation that stops the whole group within a second (SIGTERM, then SIGKILL).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use super::{Output, TaskContext, TaskError};

/// How long a cancelled process group gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(500);

/// Runs `argv` and returns its exit status; `Err(Cancelled)` if the context was cancelled.
pub async fn run_streaming(
    argv: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
    context: &TaskContext,
) -> Result<ExitStatus, TaskError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| TaskError::failed("empty command"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => TaskError::failed(format!(
            "`{program}` was not found{}: install it or give its full path",
            cwd.map(|dir| format!(" (working directory {})", dir.display()))
                .unwrap_or_default()
        )),
        _ => TaskError::failed(format!("cannot start `{program}`: {error}")),
    })?;
    let group = child
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
    let stdout = child
        .stdout
        .take()
        .map(|out| forward(out, context.output.clone()));
    let stderr = child
        .stderr
        .take()
        .map(|err| forward(err, context.output.clone()));
    let readers = async {
        if let Some(stdout) = stdout {
            stdout.await;
        }
        if let Some(stderr) = stderr {
            stderr.await;
        }
    };
    tokio::pin!(readers);

    tokio::select! {
        status = async {
            (&mut readers).await;
            child.wait().await
        } => status.map_err(|error| TaskError::failed(format!("waiting for `{program}`: {error}"))),
        () = context.cancel.cancelled() => {
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
                if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_err() {
                    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
            }
            let _ = child.kill().await;
            Err(TaskError::Cancelled)
        }
    }
}

/// Copies a stream to the output, a line at a time, without failing on bad UTF-8.
async fn forward(stream: impl AsyncRead + Unpin, output: Output) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                output.line(text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}
