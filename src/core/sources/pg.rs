//! The one way to reach PostgreSQL: a URL parsed once with opsdeck's `application_name`
//! ([`crate::core::MONITOR_APPLICATION`] for watching, [`crate::core::TASK_APPLICATION`] for
//! tasks), connections bounded by a connect timeout and a session `statement_timeout` (and
//! `lock_timeout`), failures worded once with the fix and the password masked, and statements
//! that a cancellation stops on the server as well ([`Canceller`]): dropping a query's future
//! only stops waiting for it, while `pg_cancel_backend` from a second connection stops the
//! backend's work.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::failure::{describe_io_error, timed_out};
use super::{SourceError, unless_cancelled};
use crate::core::sources::secrets::{mask_url, scrub, scrub_url_password, url_password};
use crate::core::text::printable;

/// How long connecting may take unless the caller has a tighter budget.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a cancelled statement gets to end after `pg_cancel_backend`.
const CANCEL_BUDGET: Duration = Duration::from_millis(700);
/// How long the connection then gets to report itself idle again.
const SETTLE_BUDGET: Duration = Duration::from_millis(150);
/// How often `pg_cancel_backend` is repeated while the statement has not ended (a cancel that
/// reaches the backend just before it reads the statement is ignored).
const CANCEL_RETRY: Duration = Duration::from_millis(150);
/// The control connection's own statement timeout: `pg_cancel_backend` is quick.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits of a connection: how long connecting may take, and the session's
/// `statement_timeout` and `lock_timeout` (none: the server's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    pub statement: Option<Duration>,
    pub lock: Option<Duration>,
}

impl Limits {
    /// [`CONNECT_TIMEOUT`] and `statement_timeout` as given.
    pub const fn statement(statement: Duration) -> Limits {
        Limits {
            connect: CONNECT_TIMEOUT,
            statement: Some(statement),
            lock: None,
        }
    }

    /// [`CONNECT_TIMEOUT`] and the server's own statement and lock timeouts.
    pub const CONNECT_ONLY: Limits = Limits {
        connect: CONNECT_TIMEOUT,
        statement: None,
        lock: None,
    };
}

/// A server (and database) as configured: its connect options, its URL as shown, and where it
/// is configured, for the fix in messages.
/// Not `Debug`: the options hold the password.
#[derive(Clone)]
pub struct Server {
    options: PgConnectOptions,
    /// The URL's password, scrubbed from every message as a second line of defence.
    secret: Option<String>,
    shown: String,
    config_hint: String,
}

impl Server {
    /// Parses `url`; `application` is the `application_name` its sessions carry and
    /// `config_hint` where the URL is configured (`[[database]] url`).
    pub fn new(url: &str, application: &str, config_hint: &str) -> Result<Server, SourceError> {
        let shown = printable(&mask_url(url));
        let options = PgConnectOptions::from_str(url).map_err(|error| {
            SourceError::Failed(format!(
                "invalid PostgreSQL url {shown}: {}; check {config_hint}",
                scrub_url_password(&printable(&error.to_string()), url)
            ))
        })?;
        Ok(Server {
            options: options
                .application_name(application)
                .disable_statement_logging(),
            secret: url_password(url).map(str::to_owned),
            shown,
            config_hint: config_hint.to_owned(),
        })
    }

    /// The URL with its password masked, printable.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// Connects within `limits.connect`; cancelling `cancel` gives up at once.
    pub async fn connect(
        &self,
        limits: Limits,
        cancel: Option<&CancellationToken>,
    ) -> Result<PgConnection, SourceError> {
        let mut session = Vec::new();
        if let Some(statement) = limits.statement {
            session.push(("statement_timeout", millis(statement)));
        }
        if let Some(lock) = limits.lock {
            session.push(("lock_timeout", millis(lock)));
        }
        let options = self.options.clone().options(session);
        let attempt = unless_cancelled(
            cancel,
            tokio::time::timeout(limits.connect, PgConnection::connect_with(&options)),
        )
        .await?;
        let reason = match attempt {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(error)) => self.connect_reason(&error),
            Err(_) => format!(
                "{}; is PostgreSQL running and reachable? check {}",
                timed_out(limits.connect),
                self.config_hint
            ),
        };
        Err(SourceError::Failed(scrub(
            &format!("cannot connect to {}: {reason}", self.shown),
            self.secret.as_slice(),
        )))
    }

    /// Why a connection could not be made, with what to do about it.
    fn connect_reason(&self, error: &sqlx::Error) -> String {
        let hint = &self.config_hint;
        match error {
            sqlx::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => format!(
                    "{}; is PostgreSQL running? check {hint}",
                    describe_io_error(io)
                ),
                _ => format!(
                    "{}; is PostgreSQL running and reachable? check {hint}",
                    describe_io_error(io)
                ),
            },
            sqlx::Error::Tls(tls) => format!(
                "TLS failed: {}; check sslmode in {hint}",
                printable(&tls.to_string())
            ),
            sqlx::Error::Configuration(config) => format!(
                "invalid url: {}; check {hint}",
                printable(&config.to_string())
            ),
            _ => {
                let Some(server) = error.as_database_error() else {
                    return format!(
                        "{}; is PostgreSQL running? check {hint}",
                        printable(&error.to_string())
                    );
                };
                let message = printable(server.message());
                let user = quote_ident(self.options.get_username());
                match server.code().unwrap_or_default().as_ref() {
                    // invalid_password
                    "28P01" => format!("{message}; check the password in {hint}"),
                    // invalid_authorization_specification: no pg_hba.conf entry, unknown role…
                    "28000" => format!("{message}; check the user in {hint} and pg_hba.conf"),
                    // invalid_catalog_name
                    "3D000" => format!(
                        "{message}; check the database name in {hint} (or create the database)"
                    ),
                    // insufficient_privilege: no CONNECT on the database
                    "42501" => format!(
                        "{message}; fix: GRANT CONNECT ON DATABASE {} TO {user}; and, to see \
                         every session and statistic, GRANT pg_monitor TO {user};",
                        quote_ident(
                            self.options
                                .get_database()
                                .unwrap_or(self.options.get_username())
                        )
                    ),
                    // too_many_connections
                    "53300" => format!(
                        "{message}; the server has no free connection slots (max_connections)"
                    ),
                    // cannot_connect_now
                    "57P03" => format!("{message}; the server is starting up or shutting down"),
                    _ => message,
                }
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The server's own message for a database error (without sqlx's wrapping), else the error.
pub fn sql_message(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => database.message().to_owned(),
        None => error.to_string(),
    }
}

/// An identifier as SQL wants it: as is when it is a plain lower-case name, quoted otherwise.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '$');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The database `url` names (its path or `dbname=`), as the server would read it.
pub fn database_name(url: &str) -> Option<String> {
    PgConnectOptions::from_str(url)
        .ok()?
        .get_database()
        .map(str::to_owned)
}

/// `url` without its password, and the password (percent-decoded) for `PGPASSWORD`: passwords
/// on a command line are visible to every user of the host in `ps`.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let password = url_password(url).map(percent_decode);
    let Some(scheme_end) = url.find("://") else {
        return (url.to_owned(), password);
    };
    let start = scheme_end + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let bare = format!("{}{authority}{}", &url[..start], &rest[authority_end..]);
    (remove_query_params(&bare, &["password"]), password)
}

/// Drops the named `key=value` pairs from a URL's query string.
fn remove_query_params(url: &str, keys: &[&str]) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !pair.is_empty() && !keys.iter().any(|drop| key.eq_ignore_ascii_case(drop))
        })
        .collect();
    let mut result = base.to_owned();
    if !kept.is_empty() {
        result.push('?');
        result.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        result.push('#');
        result.push_str(fragment);
    }
    result
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = bytes
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        {
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// `url` pointing at `database` instead of its own database.
pub fn with_database(url: &str, database: &str) -> String {
    let url = remove_query_params(url, &["dbname"]);
    let Some(scheme_end) = url.find("://") else {
        return url;
    };
    let start = scheme_end + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    let tail = if after.starts_with('/') {
        &after[after.find(['?', '#']).unwrap_or(after.len())..]
    } else {
        after
    };
    let encoded: String = database
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!(
        "{}{}/{encoded}{tail}",
        &url[..start],
        &rest[..authority_end]
    )
}

/// What it takes to stop a statement on a connection from outside: the connection's backend
/// pid and a second connection to call `pg_cancel_backend` from.
pub struct Canceller {
    pid: i32,
    control: PgConnection,
    token: CancellationToken,
}

/// How a statement watched by a [`Canceller`] ended.
pub enum Watched<T> {
    Done(Result<T, sqlx::Error>),
    /// The token fired; `ended` says whether the statement ended within the budget.
    Cancelled {
        ended: bool,
    },
}

impl Canceller {
    /// Reads `conn`'s backend pid and opens the control connection to `server`.
    pub async fn new(
        server: &Server,
        conn: &mut PgConnection,
        token: &CancellationToken,
    ) -> Result<Canceller, SourceError> {
        let pid = unless_cancelled(
            Some(token),
            sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(conn),
        )
        .await?
        .map_err(|error| {
            SourceError::Failed(format!(
                "reading our backend pid on {}: {}",
                server.shown(),
                sql_message(&error)
            ))
        })?;
        let control = server
            .connect(Limits::statement(CONTROL_TIMEOUT), Some(token))
            .await?;
        Ok(Canceller {
            pid,
            control,
            token: token.clone(),
        })
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Closes the control connection politely.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.control.close()).await;
    }
}

/// Runs a statement; when the canceller's token fires first, asks the server to cancel it
/// (again every [`CANCEL_RETRY`]) and waits up to [`CANCEL_BUDGET`] for it to end. Without a
/// canceller (a plan, which changes nothing) the statement simply runs.
pub async fn watch<T>(
    canceller: Option<&mut Canceller>,
    statement: impl Future<Output = Result<T, sqlx::Error>>,
) -> Watched<T> {
    let Some(canceller) = canceller else {
        return Watched::Done(statement.await);
    };
    let mut statement = std::pin::pin!(statement);
    tokio::select! {
        biased;
        reply = &mut statement => return Watched::Done(reply),
        () = canceller.token.cancelled() => {}
    }
    let deadline = Instant::now() + CANCEL_BUDGET;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Watched::Cancelled { ended: false };
        }
        let ask = sqlx::query("SELECT pg_cancel_backend($1)")
            .bind(canceller.pid)
            .execute(&mut canceller.control);
        let _ = tokio::time::timeout(left, ask).await;
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left.min(CANCEL_RETRY), &mut statement)
            .await
            .is_ok()
        {
            return Watched::Cancelled { ended: true };
        }
    }
}

impl<T> Watched<T> {
    /// The statement's reply, or `Cancelled`. The error for a cancelled statement reaches us
    /// before the server has finished cleaning up after it; waiting for its ReadyForQuery on
    /// `conn` means the backend is idle again by the time the caller says it was cancelled.
    pub async fn settle(
        self,
        conn: &mut PgConnection,
    ) -> Result<Result<T, sqlx::Error>, SourceError> {
        match self {
            Watched::Done(reply) => Ok(reply),
            Watched::Cancelled { ended } => {
                if ended {
                    let _ = tokio::time::timeout(SETTLE_BUDGET, conn.ping()).await;
                }
                Err(SourceError::Cancelled)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_urls_are_named_masked() {
        let Err(SourceError::Failed(message)) =
            Server::new("postgres://u:s3cret@h:notaport/db", "t", "[x] url")
        else {
            panic!("the url was accepted")
        };
        assert!(message.starts_with("invalid PostgreSQL url postgres://u:***@h:notaport/db: "));
        assert!(message.ends_with("; check [x] url"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            split_password("postgres://app:s%40cret@db:5432/shop?sslmode=require"),
            (
                "postgres://app@db:5432/shop?sslmode=require".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://app@db/shop?password=x&sslmode=disable"),
            (
                "postgres://app@db/shop?sslmode=disable".to_owned(),
                Some("x".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://db/shop"),
            ("postgres://db/shop".to_owned(), None)
        );
    }

    #[test]
    fn urls_point_at_the_scratch_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5/app?sslmode=require", "x_1"),
            "postgres://u:p@h:5/x_1?sslmode=require"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgres://h/?dbname=a&sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("plain"), "plain");
        assert_eq!(quote_ident("Mixed"), "\"Mixed\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
