//! What one run of the opsdeck binary gave: exit code, stdout and stderr, with the assertions
//! the CLI tests make of it (success, or a refusal with exit 2 naming its reason), and the
//! sandbox a CLI test runs the binary in.

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Everything, for a failed assertion's message.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "expected success:\n{}", self.text());
        self
    }

    /// Exit 2 (refused, nothing written) with `reason` on stderr.
    pub fn refused(self, reason: &str) -> Run {
        assert_eq!(self.code, Some(2), "expected a refusal:\n{}", self.text());
        assert!(
            self.stderr.contains(reason),
            "the refusal should say `{reason}`:\n{}",
            self.text()
        );
        self
    }
}

/// Runs `command` inside the sandbox `dir` (its `home`, `config`, `data` and `state`), as `user`,
/// in UTC and a UTF-8 locale, with no input and its output captured.
pub fn sandboxed(command: &mut Command, dir: &Path, user: &str) {
    command
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("USER", user)
        .env("LOGNAME", user)
        .env("TZ", "UTC")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
}
