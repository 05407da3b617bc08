//! Connecting a task to Redis: the URL checked, the connection and its first PING bounded by a
//! timeout and by the run's cancellation, and the password kept out of every message.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError};
use tokio_util::sync::CancellationToken;

use super::TaskError;
use crate::core::sources::secrets::{mask_url, scrub};

/// How long connecting (and the first PING) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one command may wait for its reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection with what messages about it may say.
pub struct Connected {
    pub con: MultiplexedConnection,
    /// The URL with any password masked.
    pub target: String,
    /// The password, scrubbed from every message as a second line of defence.
    pub secret: Option<String>,
}

/// Connects to `url`; `config_hint` names where the URL is configured, for the fix in messages.
pub async fn connect(
    url: &str,
    config_hint: &str,
    cancel: &CancellationToken,
) -> Result<Connected, TaskError> {
    let target = mask_url(url);
    let client = redis::Client::open(url).map_err(|error| {
        TaskError::failed(format!(
            "`{target}` is not a usable Redis URL ({error}): check {config_hint}"
        ))
    })?;
    let secret = client
        .get_connection_info()
        .redis_settings()
        .password()
        .filter(|password| !password.is_empty())
        .map(str::to_owned);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let connecting = async {
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut con).await?;
        Ok::<_, RedisError>(con)
    };
    let connected = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(TaskError::Cancelled),
        connected = tokio::time::timeout(CONNECT_TIMEOUT, connecting) => connected,
    };
    match connected {
        Ok(Ok(con)) => Ok(Connected {
            con,
            target,
            secret,
        }),
        Ok(Err(error)) => Err(TaskError::failed(scrub(
            &connect_error(&target, &error, config_hint),
            secret.as_slice(),
        ))),
        Err(_elapsed) => Err(TaskError::failed(format!(
            "cannot connect to Redis at {target}: no answer within {}s; is redis-server running \
             and reachable? check {config_hint}",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// The message for a Redis that cannot be reached or logged into.
fn connect_error(target: &str, error: &RedisError, config_hint: &str) -> String {
    let login_refused = error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"));
    if login_refused {
        format!(
            "Redis at {target} rejected the login ({error}): check the user and password in \
             {config_hint}"
        )
    } else if error.is_timeout() {
        format!(
            "cannot connect to Redis at {target}: no answer within {}s; is redis-server running \
             and reachable? check {config_hint}",
            CONNECT_TIMEOUT.as_secs()
        )
    } else {
        format!(
            "cannot connect to Redis at {target}: {error}; is redis-server running? check \
             {config_hint}"
        )
    }
}
