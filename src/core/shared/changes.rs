//! Following the change log: a connection of its own LISTENs on the store's channel, and every
//! notification, reconnect or quiet spell is only a cue to read the log after the last id seen.
//! A notification sent while the connection was down is lost, the rows are not, so the reader
//! catches up on whatever happened meanwhile.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::Change;
use crate::core::store::Store;

/// The channel the store's trigger notifies (migrations/0013_change_log.postgres.sql).
pub const CHANNEL: &str = "opsdeck_changes";
/// Read the log even without a notification this often, in case one went astray.
const QUIET_READ: Duration = Duration::from_secs(30);
/// How long the listening connection may take to answer when asked whether it is alive.
const PING_WAIT: Duration = Duration::from_secs(5);
/// Wait this long before connecting again after the listening connection failed.
const RECONNECT_WAIT: Duration = Duration::from_secs(1);

/// Reads the changes other sessions make, in order, each once.
pub struct ChangeFeed {
    store: Store,
    url: String,
    /// The id of the last change-log row read.
    cursor: i64,
    listener: Option<PgListener>,
}

impl ChangeFeed {
    /// A feed of the changes after now (what came before, the console read at its start); `None`
    /// on a store that is not shared.
    pub async fn start(store: Store) -> Result<Option<ChangeFeed>, String> {
        let Some(url) = store.shared_url().map(str::to_owned) else {
            return Ok(None);
        };
        let cursor = store
            .newest_change()
            .await
            .map_err(|error| error.to_string())?;
        Ok(Some(ChangeFeed {
            store,
            url,
            cursor,
            listener: None,
        }))
    }

    /// The listening connection's PostgreSQL application_name (this store's session with
    /// `-listen`), to find its backend in pg_stat_activity.
    pub fn listener_name(store: &Store) -> String {
        format!("{}-listen", store.session())
    }

    /// Waits for a cue and returns the changes made by others since the last call (possibly
    /// none); an error says why the connection or the read failed, and the next call tries again
    /// (after a pause) and catches up.
    pub async fn next(&mut self) -> Result<Vec<Change>, String> {
        let Some(listener) = self.listener.as_mut() else {
            let listener = match self.listen().await {
                Ok(listener) => listener,
                Err(error) => {
                    tokio::time::sleep(RECONNECT_WAIT).await;
                    return Err(format!(
                        "{}: cannot listen for other consoles' changes: {error}",
                        self.store.location()
                    ));
                }
            };
            self.listener = Some(listener);
            // Whatever happened while nobody listened.
            return self.read().await;
        };
        let cue = tokio::select! {
            received = listener.try_recv() => received.map(|_| ()).map_err(|error| error.to_string()),
            () = tokio::time::sleep(QUIET_READ) => {
                // A connection can die without a word (a firewall dropping it): ask it.
                let ping = sqlx::query("SELECT 1").execute(&mut *listener);
                match tokio::time::timeout(PING_WAIT, ping).await {
                    Ok(answer) => answer.map(|_| ()).map_err(|error| error.to_string()),
                    Err(_) => Err(format!("no answer within {} s", PING_WAIT.as_secs())),
                }
            }
        };
        match cue {
            Ok(()) => {
                while listener.next_buffered().is_some() {}
                self.read().await
            }
            Err(error) => {
                self.listener = None;
                tokio::time::sleep(RECONNECT_WAIT).await;
                Err(format!(
                    "{}: lost the connection that listens for other consoles' changes: {error}",
                    self.store.location()
                ))
            }
        }
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let options = PgConnectOptions::from_str(&self.url)?
            .application_name(&Self::listener_name(&self.store));
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// Every row after the cursor, the others' changes returned; the cursor moves past all of
    /// them only once all are read, so a failed read is read again.
    async fn read(&mut self) -> Result<Vec<Change>, String> {
        let mut changes = Vec::new();
        let mut cursor = self.cursor;
        loop {
            let page = self
                .store
                .changes_after(cursor)
                .await
                .map_err(|error| error.to_string())?;
            let Some((last, _)) = page.last() else {
                self.cursor = cursor;
                return Ok(changes);
            };
            cursor = *last;
            changes.extend(
                page.into_iter()
                    .filter_map(|(_, change)| change)
                    .filter(|change| change.origin != self.store.session()),
            );
        }
    }
}
