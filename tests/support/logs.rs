//! Log-file helpers shared by the log tests: rotating a file with the real logrotate.

use std::path::Path;
use std::process::Command;

/// Rotates `log` with the real logrotate, forced, with `directive` (`create` or
/// `copytruncate`), keeping 5 rotations.
pub fn logrotate(dir: &Path, log: &Path, directive: &str) {
    let conf = dir.join(format!("{directive}.conf"));
    std::fs::write(
        &conf,
        format!(
            "{} {{\n    {directive}\n    rotate 5\n    missingok\n}}\n",
            log.display()
        ),
    )
    .expect("logrotate config");
    let output = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(dir.join("logrotate.state"))
        .arg(&conf)
        .output()
        .expect("logrotate is installed (.ci/run installs it)");
    assert!(
        output.status.success(),
        "logrotate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
