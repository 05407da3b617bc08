//! Running a program for a task with its output streamed line by line to the run's output;
//! cancellation stops its whole process group ([`Process::stop`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use super::{Output, TaskContext, TaskError};
use crate::core::sources::process::{Process, SpawnError, not_found};

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
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut process = Process::spawn(&mut command).map_err(|error| match (error, cwd) {
        (SpawnError::NotFound(_), Some(dir)) => TaskError::failed(format!(
            "{} (working directory {})",
            not_found(program, None),
            dir.display()
        )),
        (error, _) => TaskError::failed(error.to_string()),
    })?;
    let child = process.child();
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
            process.wait().await
        } => status.map_err(|error| TaskError::failed(format!("waiting for `{program}`: {error}"))),
        () = context.cancel.cancelled() => {
            process.stop().await;
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
