//! How a failure to reach something reads, the same for every source and check: a socket error
//! as a short line, an OS error without its code, a timeout with its limit.

use std::io;
use std::time::Duration;

use crate::core::text::printable;

/// A socket error as a short line: `connection refused`, `host unreachable`…
pub fn describe_io_error(error: &io::Error) -> String {
    use io::ErrorKind::*;
    let text = match error.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        NetworkDown => "network down",
        AddrNotAvailable => "address not available",
        PermissionDenied => "permission denied",
        TimedOut => "timed out",
        UnexpectedEof => "connection closed by peer",
        BrokenPipe => "connection closed by peer",
        _ => return without_os_code(&error.to_string()),
    };
    text.to_owned()
}

/// `No such file or directory (os error 2)` → `no such file or directory`.
pub fn without_os_code(text: &str) -> String {
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => text,
    };
    let mut chars = text.chars();
    let lowered = match chars.next() {
        // Lower-case only a capitalised word, not an acronym such as `TLS`.
        Some(first) if first.is_uppercase() && chars.next().is_some_and(char::is_lowercase) => {
            first
                .to_lowercase()
                .chain(text[first.len_utf8()..].chars())
                .collect()
        }
        _ => text.to_owned(),
    };
    printable(&lowered)
}

/// `timed out after 5s`.
pub fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", humantime::format_duration(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_codes_are_dropped() {
        assert_eq!(
            without_os_code("No such file or directory (os error 2)"),
            "no such file or directory"
        );
        assert_eq!(without_os_code("TLS failed"), "TLS failed");
    }
}
