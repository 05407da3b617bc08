//! The one way to reach Redis: the URL checked, the connection (with AUTH and SELECT when the
//! URL asks for them) and its first PING bounded by a timeout and by a cancellation, and the
//! password kept out of every message. Service checks and tasks get the same messages, each
//! naming where the URL is configured.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, ServerErrorKind};
use tokio_util::sync::CancellationToken;

use super::failure::{timed_out, without_os_code};
use super::{SourceError, unless_cancelled};
use crate::core::sources::secrets::{mask_url, scrub, scrub_url_password};
use crate::core::text::printable;

/// How long connecting and each reply may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Connecting, AUTH, SELECT and the first PING together.
    pub connect: Duration,
    /// Each command once connected.
    pub response: Duration,
}

/// The limits of tasks, whose commands (SCAN pages, BGSAVE) may take a while each.
pub const TASK_LIMITS: Limits = Limits {
    connect: Duration::from_secs(5),
    response: Duration::from_secs(10),
};

/// A connection that answered PING, with what messages about it may say.
pub struct Link {
    pub con: MultiplexedConnection,
    /// The URL with any password masked, printable.
    pub target: String,
    /// The password, scrubbed from every message as a second line of defence.
    pub secret: Option<String>,
}

impl Link {
    /// `text` with the password scrubbed, should a server or library error ever quote it.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.secret.as_slice())
    }
}

/// Connects to `url` and PINGs it; `config_hint` names where the URL is configured (for the
/// fix in messages). Cancelling `cancel` gives up at once.
pub async fn connect(
    url: &str,
    config_hint: &str,
    limits: Limits,
    cancel: Option<&CancellationToken>,
) -> Result<Link, SourceError> {
    let target = printable(&mask_url(url));
    let client = redis::Client::open(url).map_err(|error| {
        SourceError::Failed(format!(
            "invalid Redis url {target}: {}; check {config_hint}",
            scrub_url_password(&printable(&error.to_string()), url)
        ))
    })?;
    let secret = client
        .get_connection_info()
        .redis_settings()
        .password()
        .map(str::to_owned);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(limits.connect))
        .set_response_timeout(Some(limits.response));
    let connecting = async {
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let pong = redis::cmd("PING").query_async::<String>(&mut con).await?;
        Ok::<_, RedisError>((con, pong))
    };
    let connected =
        unless_cancelled(cancel, tokio::time::timeout(limits.connect, connecting)).await?;
    let reason = match connected {
        Ok(Ok((con, pong))) if pong == "PONG" => {
            return Ok(Link {
                con,
                target,
                secret,
            });
        }
        Ok(Ok((_, other))) => format!("PING answered \"{}\"", printable(&other)),
        Ok(Err(error)) => describe_error(&error, limits.connect, config_hint),
        Err(_elapsed) => unreachable_reason(&timed_out(limits.connect), config_hint),
    };
    Err(SourceError::Failed(scrub(
        &format!("cannot connect to Redis at {target}: {reason}"),
        secret.as_slice(),
    )))
}

/// A Redis error as a short line with what to do about it; `timeout` is the limit the
/// command had, `config_hint` where the URL is configured.
pub fn describe_error(error: &RedisError, timeout: Duration, config_hint: &str) -> String {
    let code = error.code();
    if error.kind() == ErrorKind::AuthenticationFailed || code == Some("WRONGPASS") {
        return format!("the server rejected the login: check the password in {config_hint}");
    }
    if code == Some("NOAUTH") {
        return format!("the server needs a password: check the password in {config_hint}");
    }
    if error.kind() == ErrorKind::Server(ServerErrorKind::BusyLoading) {
        return "Redis is loading its data set into memory".to_owned();
    }
    if error.is_connection_refusal() {
        return format!("connection refused; is redis-server running? check {config_hint}");
    }
    if error.is_timeout() {
        return unreachable_reason(&timed_out(timeout), config_hint);
    }
    if error.is_io_error() || error.is_connection_dropped() {
        return unreachable_reason(&without_os_code(&error.to_string()), config_hint);
    }
    printable(&error.to_string())
}

fn unreachable_reason(what: &str, config_hint: &str) -> String {
    format!("{what}; is redis-server running and reachable? check {config_hint}")
}
