//! `pg-cancel-query` and `pg-terminate-session`: the queries pane's "cancel query"
//! (`pg_cancel_backend`) and "terminate session" (`pg_terminate_backend`) for a list of backend
//! pids on one of the configured databases. The plan looks every pid up in `pg_stat_activity`
//! and says whose session it is and what it runs; a pid that is not a current backend, or is the
//! task's own connection, is refused before anything is signalled. The run signals the pids one
//! by one (stopping between them when cancelled) and reports each one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgDatabaseError};
use tokio_util::sync::CancellationToken;

use super::pg_maintenance::column;
use super::{ParamSpec, Params, Plan, PlanStep, TaskContext, TaskError, TaskSummary};
use crate::core::sources::pg::{Limits, Server, sql_message};
use crate::core::sources::unless_cancelled;
use crate::core::sql;

/// The databases the queries pane watches, as (name, url); the first is the default.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionActionSettings {
    pub databases: Vec<(String, String)>,
}

/// Which signal the task sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAction {
    /// `pg_cancel_backend`: the running statement ends with an error, the session stays.
    Cancel,
    /// `pg_terminate_backend`: the connection is closed and its transaction rolled back.
    Terminate,
}

impl SessionAction {
    /// The task id this action is registered under.
    pub fn task_id(self) -> &'static str {
        match self {
            SessionAction::Cancel => "pg-cancel-query",
            SessionAction::Terminate => "pg-terminate-session",
        }
    }

    /// The server function that sends the signal.
    pub fn function(self) -> &'static str {
        match self {
            SessionAction::Cancel => "pg_cancel_backend",
            SessionAction::Terminate => "pg_terminate_backend",
        }
    }

    /// The statement as shown in the plan, e.g. `SELECT pg_cancel_backend(1234)`.
    pub fn statement(self, pid: i32) -> String {
        format!("SELECT {}({pid})", self.function())
    }

    /// The statement as run, with the pid bound.
    fn call(self) -> &'static str {
        match self {
            SessionAction::Cancel => sql::SESSIONS_CANCEL,
            SessionAction::Terminate => sql::SESSIONS_TERMINATE,
        }
    }

    /// "cannot {verb} pid 1234".
    fn verb(self) -> &'static str {
        match self {
            SessionAction::Cancel => "cancel the query of",
            SessionAction::Terminate => "terminate",
        }
    }
}

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "database",
        description: "name of a configured database (default: the first one)",
    },
    ParamSpec {
        name: "pids",
        description: "comma-separated backend pids, e.g. 1234,5678",
    },
];

/// Every statement of the task is quick; a server that does not answer in time is an error.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a session's statement the plan shows.
const QUERY_CHARS: usize = 200;
/// How long a run waits for a terminated session to leave `pg_stat_activity`.
const TERMINATE_WAIT: Duration = Duration::from_secs(1);
const TERMINATE_POLL: Duration = Duration::from_millis(20);
const PIDS_SHAPE: &str = "give comma-separated backend pids, e.g. 1234,5678";
const NOT_SIGNALLED: &str =
    "not signalled (gone, or not yours: needs the pg_signal_backend role or superuser)";

/// Works out what the run would signal; changes nothing on the server.
pub async fn plan(
    action: SessionAction,
    settings: &SessionActionSettings,
    params: &Params,
) -> Result<Plan, TaskError> {
    let database = database(settings, params)?;
    let pids = pids(params)?;
    let mut db = Db::open(database, None).await?;
    let sessions = db.sessions(&pids, None).await?;
    let lock_waits = db.lock_waits().await?;
    let mut plan = Plan::default();
    let mut refusals = Vec::new();
    for &pid in &pids {
        plan.steps.push(PlanStep::Sql {
            database: db.url.clone(),
            statement: action.statement(pid),
        });
        if pid == db.own_pid {
            plan.steps.push(Plan::note(format!(
                "  pid {pid}: this task's own connection"
            )));
            refusals.push(own_pid_refusal(pid, db.name));
            continue;
        }
        let Some(session) = sessions.get(&pid) else {
            plan.steps
                .push(Plan::note(format!("  pid {pid}: no such session")));
            refusals.push(format!("no session with pid {pid} on {}", db.name));
            continue;
        };
        plan.steps
            .push(Plan::note(format!("  {}", session.describe())));
        let waiting = waiting_on(pid, &lock_waits);
        if !waiting.is_empty() {
            let listed: Vec<String> = waiting.iter().map(ToString::to_string).collect();
            plan.steps.push(Plan::note(format!(
                "  pid {pid} BLOCKS {}: {} (they go on once its transaction ends)",
                count(waiting.len(), "session", "sessions"),
                listed.join(", ")
            )));
        }
        plan.warnings.extend(session.warnings(action, &db.user));
    }
    plan.refusal = (!refusals.is_empty()).then(|| refusals.join("; "));
    db.close().await;
    Ok(plan)
}

/// Signals each pid in turn, one output line per pid.
pub async fn run(
    action: SessionAction,
    settings: &SessionActionSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let database = database(settings, &context.params)?;
    let pids = pids(&context.params)?;
    let cancel = &context.cancel;
    if cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let out = &context.output;
    let mut db = Db::open(database, Some(cancel)).await?;
    if pids.contains(&db.own_pid) {
        let refusal = own_pid_refusal(db.own_pid, db.name);
        db.close().await;
        return Err(TaskError::Failed(refusal));
    }
    out.line(format!(
        "{} {} on {} ({})",
        match action {
            SessionAction::Cancel => "cancelling the query of",
            SessionAction::Terminate => "terminating",
        },
        count(pids.len(), "session", "sessions"),
        db.name,
        db.url
    ));
    let mut signalled = 0_usize;
    let mut missed = Vec::new();
    for (done, &pid) in pids.iter().enumerate() {
        if cancel.is_cancelled() {
            out.line(format!("cancelled after {done} of {}", pids.len()));
            db.close().await;
            return Err(TaskError::Cancelled);
        }
        // Not abandoned half-way when cancelled: whether the signal went out must be known.
        let reply = sqlx::query_scalar::<_, Option<bool>>(action.call())
            .bind(pid)
            .fetch_one(&mut db.conn)
            .await;
        match reply {
            Ok(Some(true)) => {
                signalled += 1;
                match action {
                    SessionAction::Cancel => out.line(format!("pid {pid}: query cancelled")),
                    SessionAction::Terminate => {
                        if db.wait_gone(pid, cancel).await? {
                            out.line(format!("pid {pid}: terminated"));
                        } else {
                            out.line(format!(
                                "pid {pid}: told to terminate; still ending after {} s",
                                TERMINATE_WAIT.as_secs()
                            ));
                        }
                    }
                }
            }
            Ok(_) => {
                missed.push(pid);
                out.line(format!("pid {pid}: {NOT_SIGNALLED}"));
            }
            Err(error) => {
                let failure = db.signal_failed(action, pid, &error);
                db.close().await;
                return Err(failure);
            }
        }
    }
    db.close().await;
    Ok(TaskSummary {
        exit_code: None,
        summary: summary(action, signalled, &missed),
    })
}

fn own_pid_refusal(pid: i32, database: &str) -> String {
    format!("pid {pid} is this task's own connection to {database}")
}

fn summary(action: SessionAction, signalled: usize, missed: &[i32]) -> String {
    let missed_pids = || {
        missed
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if signalled == 0 && !missed.is_empty() {
        return format!(
            "signalled no session: {} {} not signalled (gone, or not yours)",
            if missed.len() == 1 { "pid" } else { "pids" },
            missed_pids()
        );
    }
    let mut summary = match action {
        SessionAction::Cancel if signalled == 1 => "cancelled the query of 1 session".to_owned(),
        SessionAction::Cancel => format!("cancelled the queries of {signalled} sessions"),
        SessionAction::Terminate => {
            format!("terminated {}", count(signalled, "session", "sessions"))
        }
    };
    if !missed.is_empty() {
        summary.push_str(&format!(
            "; {} not signalled (gone, or not yours): {}",
            missed.len(),
            missed_pids()
        ));
    }
    summary
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// A configured database picked by the `database` parameter (default: the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Database<'s> {
    name: &'s str,
    url: &'s str,
}

fn database<'s>(
    settings: &'s SessionActionSettings,
    params: &Params,
) -> Result<Database<'s>, TaskError> {
    let known = || {
        if settings.databases.is_empty() {
            "no databases are configured (add a [[database]] with a name and a url)".to_owned()
        } else {
            let names: Vec<&str> = settings
                .databases
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            format!("configured: {}", names.join(", "))
        }
    };
    let bad = |message: String| TaskError::BadParam {
        name: "database".to_owned(),
        message,
    };
    let pick = |(name, url): &'s (String, String)| Database { name, url };
    match params.get("database").map(|value| value.trim()) {
        None => settings.databases.first().map(pick).ok_or_else(|| {
            TaskError::failed(
                "no databases configured to signal sessions on\n  fix: add a [[database]] with \
                 a name and a url to the config",
            )
        }),
        Some("") => Err(bad(format!("give a database name; {}", known()))),
        Some(given) => settings
            .databases
            .iter()
            .find(|(name, _)| name == given)
            .map(pick)
            .ok_or_else(|| bad(format!("unknown database `{given}`; {}", known()))),
    }
}

/// The `pids` parameter: required, comma-separated positive integers; repeats are dropped.
fn pids(params: &Params) -> Result<Vec<i32>, TaskError> {
    let bad = |message: String| TaskError::BadParam {
        name: "pids".to_owned(),
        message,
    };
    let given = params.get("pids").map_or("", |value| value.trim());
    if given.is_empty() {
        return Err(bad(format!("required: {PIDS_SHAPE}")));
    }
    let mut pids = Vec::new();
    for item in given.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad(format!("`{given}` has an empty entry; {PIDS_SHAPE}")));
        }
        match item.parse::<i32>() {
            Ok(pid) if pid > 0 && item.bytes().all(|byte| byte.is_ascii_digit()) => {
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
            _ => {
                return Err(bad(format!(
                    "`{item}` is not a backend pid (a positive integer); {PIDS_SHAPE}"
                )));
            }
        }
    }
    Ok(pids)
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

/// A backend as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq)]
struct Session {
    pid: i32,
    user: String,
    application: String,
    database: String,
    /// Empty for background processes.
    state: String,
    backend_type: String,
    /// Whitespace collapsed, at most [`QUERY_CHARS`] characters (and `…`).
    query: String,
    /// Seconds in the current state (for an active session: since its statement started).
    age: f64,
    /// Why we may not be allowed to signal it: `superuser`, `role`, or empty.
    barrier: String,
}

impl Session {
    /// `pid 1234 psql on app by alice, active 61 s: SELECT pg_sleep(60)`.
    fn describe(&self) -> String {
        let mut text = format!("pid {}", self.pid);
        if !self.application.is_empty() {
            text.push_str(&format!(" {}", self.application));
        }
        if !self.database.is_empty() {
            text.push_str(&format!(" on {}", self.database));
        }
        if !self.user.is_empty() {
            text.push_str(&format!(" by {}", self.user));
        }
        if self.state.is_empty() {
            text.push_str(&format!(", {}", self.backend_type));
        } else {
            text.push_str(&format!(", {} {}", self.state, age(self.age)));
        }
        if !self.query.is_empty() {
            if self.state == "active" {
                text.push_str(&format!(": {}", self.query));
            } else {
                text.push_str(&format!(", last query: {}", self.query));
            }
        }
        text
    }

    /// Pre-flight findings: signals that would do nothing or be refused by the server.
    fn warnings(&self, action: SessionAction, us: &str) -> Vec<String> {
        let pid = self.pid;
        let mut warnings = Vec::new();
        if !self.backend_type.is_empty() && self.backend_type != "client backend" {
            warnings.push(format!(
                "pid {pid} is a {}, not a client session",
                self.backend_type
            ));
        }
        if action == SessionAction::Cancel && !self.state.is_empty() && self.state != "active" {
            warnings.push(format!(
                "pid {pid} is {} and runs no statement: cancelling does nothing; terminate the \
                 session to end it",
                self.state
            ));
        }
        match self.barrier.as_str() {
            "superuser" => warnings.push(format!(
                "pid {pid} belongs to the superuser {}; only a superuser may signal it, and {us} \
                 is not one",
                self.user
            )),
            "role" => warnings.push(format!(
                "pid {pid} belongs to {} and {us} may not signal it (as a superuser: GRANT \
                 pg_signal_backend TO {us};)",
                self.user
            )),
            _ => {}
        }
        warnings
    }
}

/// `61 s`, `14 min`, `3 h 5 min`, `2 d 4 h`.
fn age(seconds: f64) -> String {
    let seconds = seconds.max(0.0) as u64;
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7_200 => format!("{} min", seconds / 60),
        7_200..172_800 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// The sessions waiting on `blocker`, directly or behind another waiter, in pid order.
fn waiting_on(blocker: i32, lock_waits: &[(i32, Vec<i32>)]) -> Vec<i32> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![blocker];
    while let Some(pid) = frontier.pop() {
        for (waiter, blockers) in lock_waits {
            if *waiter != blocker && blockers.contains(&pid) && found.insert(*waiter) {
                frontier.push(*waiter);
            }
        }
    }
    found.into_iter().collect()
}

/// At most [`QUERY_CHARS`] characters, with `…` when cut.
fn shorten(query: &str) -> String {
    let query = query.trim();
    match query.char_indices().nth(QUERY_CHARS) {
        Some((cut, _)) => format!("{}…", &query[..cut]),
        None => query.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------

struct Db<'s> {
    conn: PgConnection,
    /// The configured name of the database.
    name: &'s str,
    /// Its URL with any password masked.
    url: String,
    /// Who we connect as, quoted for SQL (for the GRANT in a fix).
    user: String,
    /// Our own backend, which must not be signalled.
    own_pid: i32,
}

impl<'s> Db<'s> {
    async fn open(
        database: Database<'s>,
        cancel: Option<&CancellationToken>,
    ) -> Result<Db<'s>, TaskError> {
        let Database { name, url } = database;
        let server = Server::new(
            url,
            crate::core::TASK_APPLICATION,
            &format!("the url of the [[database]] named `{name}`"),
        )?;
        let masked = server.shown().to_owned();
        let mut conn = server
            .connect(Limits::statement(STATEMENT_TIMEOUT), cancel)
            .await?;
        let reply =
            unless_cancelled(cancel, sqlx::query(sql::SESSIONS_OWN).fetch_one(&mut conn)).await?;
        let row = reply.map_err(|error| {
            TaskError::failed(format!(
                "reading our own session on {masked}: {}",
                sql_message(&error)
            ))
        })?;
        Ok(Db {
            own_pid: column(&row, "pid")?,
            user: column(&row, "usr")?,
            conn,
            name,
            url: masked,
        })
    }

    fn failed(&self, what: &str, error: &sqlx::Error) -> TaskError {
        TaskError::failed(format!("{what} on {}: {}", self.url, sql_message(error)))
    }

    /// Every session waiting for a lock, with the pids it waits on.
    async fn lock_waits(&mut self) -> Result<Vec<(i32, Vec<i32>)>, TaskError> {
        let reply = sqlx::query_as::<_, (i32, Vec<i32>)>(sql::SESSIONS_LOCK_WAITS)
            .fetch_all(&mut self.conn)
            .await;
        reply.map_err(|error| self.failed("looking up lock waits", &error))
    }

    /// The sessions among `pids` that are current backends, by pid.
    async fn sessions(
        &mut self,
        pids: &[i32],
        cancel: Option<&CancellationToken>,
    ) -> Result<BTreeMap<i32, Session>, TaskError> {
        let query = sqlx::query(sql::SESSIONS_LOOKUP).bind(pids.to_vec());
        let reply = unless_cancelled(cancel, query.fetch_all(&mut self.conn)).await?;
        let rows = reply.map_err(|error| self.failed("looking up the sessions", &error))?;
        let mut sessions = BTreeMap::new();
        for row in &rows {
            let query: String = column(row, "query")?;
            let session = Session {
                pid: column(row, "pid")?,
                user: column(row, "usename")?,
                application: column(row, "application")?,
                database: column(row, "datname")?,
                state: column(row, "state")?,
                backend_type: column(row, "backend_type")?,
                query: shorten(&query),
                age: column(row, "age")?,
                barrier: column(row, "barrier")?,
            };
            sessions.insert(session.pid, session);
        }
        Ok(sessions)
    }

    /// Waits (briefly) until `pid` has left `pg_stat_activity`; whether it did.
    async fn wait_gone(&mut self, pid: i32, cancel: &CancellationToken) -> Result<bool, TaskError> {
        let deadline = Instant::now() + TERMINATE_WAIT;
        loop {
            let reply = sqlx::query_scalar::<_, bool>(sql::SESSIONS_EXISTS)
                .bind(pid)
                .fetch_one(&mut self.conn)
                .await;
            let present = reply.map_err(|error| {
                self.failed(&format!("checking that pid {pid} has ended"), &error)
            })?;
            if !present {
                return Ok(true);
            }
            if Instant::now() >= deadline || cancel.is_cancelled() {
                return Ok(false);
            }
            tokio::time::sleep(TERMINATE_POLL).await;
        }
    }

    /// The error for a signal the server refused, with the GRANT that fixes a missing
    /// permission.
    fn signal_failed(&self, action: SessionAction, pid: i32, error: &sqlx::Error) -> TaskError {
        let what = format!("cannot {} pid {pid}", action.verb());
        let Some(database) = error.as_database_error() else {
            return self.failed(&what, error);
        };
        if database.code().as_deref() != Some("42501") {
            return self.failed(&what, error);
        }
        let detail = database
            .try_downcast_ref::<PgDatabaseError>()
            .and_then(PgDatabaseError::detail)
            .map(|detail| format!(" ({detail})"))
            .unwrap_or_default();
        TaskError::failed(format!(
            "{what} on {}: {}{detail}\n  fix: GRANT pg_signal_backend TO {}; (as a superuser; \
             sessions of a superuser can only be signalled by a superuser)",
            self.url,
            database.message(),
            self.user
        ))
    }

    async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.close()).await;
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn bad_param(result: Result<impl std::fmt::Debug, TaskError>, name: &str) -> String {
        match result {
            Err(TaskError::BadParam { name: got, message }) if got == name => message,
            other => panic!("expected a bad `{name}` parameter, got {other:?}"),
        }
    }

    #[test]
    fn pids_are_comma_separated_positive_integers() {
        assert_eq!(pids(&params(&[("pids", "1234")])), Ok(vec![1234]));
        assert_eq!(
            pids(&params(&[("pids", " 1234, 5678 ,1234")])),
            Ok(vec![1234, 5678])
        );
        for given in [
            "",
            "  ",
            "abc",
            "0",
            "-5",
            "+5",
            "12,,3",
            "12,",
            "1.5",
            "99999999999",
        ] {
            let message = bad_param(pids(&params(&[("pids", given)])), "pids");
            assert!(message.contains("e.g. 1234,5678"), "{given}: {message}");
        }
        let message = bad_param(pids(&Params::new()), "pids");
        assert!(message.starts_with("required"), "{message}");
    }

    #[test]
    fn the_database_defaults_to_the_first_and_must_be_known() {
        let settings = SessionActionSettings {
            databases: vec![
                ("app".into(), "postgres://a@h/app".into()),
                ("reports".into(), "postgres://a@h/reports".into()),
            ],
        };
        let picked = database(&settings, &Params::new()).unwrap();
        assert_eq!(picked.name, "app");
        let picked = database(&settings, &params(&[("database", "reports")])).unwrap();
        assert_eq!(picked.url, "postgres://a@h/reports");
        let message = bad_param(
            database(&settings, &params(&[("database", "nope")])),
            "database",
        );
        assert!(message.contains("`nope`"), "{message}");
        assert!(message.contains("app, reports"), "{message}");
        bad_param(
            database(&settings, &params(&[("database", " ")])),
            "database",
        );

        let none = SessionActionSettings { databases: vec![] };
        assert!(matches!(
            database(&none, &Params::new()),
            Err(TaskError::Failed(message)) if message.contains("[[database]]")
        ));
    }

    fn session() -> Session {
        Session {
            pid: 1234,
            user: "alice".into(),
            application: "app".into(),
            database: "app".into(),
            state: "active".into(),
            backend_type: "client backend".into(),
            query: "SELECT pg_sleep(60)".into(),
            age: 61.4,
            barrier: String::new(),
        }
    }

    #[test]
    fn sessions_are_described_in_one_line() {
        assert_eq!(
            session().describe(),
            "pid 1234 app on app by alice, active 61 s: SELECT pg_sleep(60)"
        );
        let idle = Session {
            state: "idle in transaction".into(),
            application: String::new(),
            age: 600.0,
            ..session()
        };
        assert_eq!(
            idle.describe(),
            "pid 1234 on app by alice, idle in transaction 10 min, last query: SELECT pg_sleep(60)"
        );
        let worker = Session {
            pid: 57,
            user: String::new(),
            application: String::new(),
            database: String::new(),
            state: String::new(),
            backend_type: "checkpointer".into(),
            query: String::new(),
            ..session()
        };
        assert_eq!(worker.describe(), "pid 57, checkpointer");
        assert_eq!(
            session().warnings(SessionAction::Cancel, "ops"),
            Vec::<String>::new()
        );
        assert_eq!(worker.warnings(SessionAction::Terminate, "ops").len(), 1);
        assert_eq!(idle.warnings(SessionAction::Cancel, "ops").len(), 1);
        assert!(idle.warnings(SessionAction::Terminate, "ops").is_empty());
        let theirs = Session {
            barrier: "role".into(),
            ..session()
        };
        assert!(
            theirs.warnings(SessionAction::Cancel, "ops")[0]
                .contains("GRANT pg_signal_backend TO ops;")
        );
    }

    #[test]
    fn ages_and_queries_are_short() {
        assert_eq!(age(-1.0), "0 s");
        assert_eq!(age(61.0), "61 s");
        assert_eq!(age(119.9), "119 s");
        assert_eq!(age(840.0), "14 min");
        assert_eq!(age(3.0 * 3600.0 + 300.0), "3 h 5 min");
        assert_eq!(age(2.0 * 86_400.0 + 4.0 * 3600.0), "2 d 4 h");
        assert_eq!(shorten("  SELECT 1 "), "SELECT 1");
        let long = "é".repeat(250);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), QUERY_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(shorten(&"x".repeat(200)), "x".repeat(200));
    }

    #[test]
    fn summaries_count_what_was_signalled() {
        use SessionAction::{Cancel, Terminate};
        assert_eq!(summary(Cancel, 1, &[]), "cancelled the query of 1 session");
        assert_eq!(
            summary(Cancel, 2, &[]),
            "cancelled the queries of 2 sessions"
        );
        assert_eq!(summary(Terminate, 1, &[]), "terminated 1 session");
        assert_eq!(summary(Terminate, 2, &[]), "terminated 2 sessions");
        assert_eq!(
            summary(Terminate, 1, &[99]),
            "terminated 1 session; 1 not signalled (gone, or not yours): 99"
        );
        assert_eq!(
            summary(Cancel, 0, &[99]),
            "signalled no session: pid 99 not signalled (gone, or not yours)"
        );
    }

    #[test]
    fn statements_name_the_function() {
        assert_eq!(
            SessionAction::Cancel.statement(1234),
            "SELECT pg_cancel_backend(1234)"
        );
        assert_eq!(
            SessionAction::Terminate.statement(7),
            "SELECT pg_terminate_backend(7)"
        );
        assert_eq!(SessionAction::Cancel.task_id(), "pg-cancel-query");
        assert_eq!(SessionAction::Terminate.task_id(), "pg-terminate-session");
    }
}
