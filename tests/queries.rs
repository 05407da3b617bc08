//! The queries collector against throwaway PostgreSQL servers (`support::PgServer`, which
//! preloads pg_stat_statements): slow statements and their deltas, blocked sessions and their
//! blockers, a database without the extension, a server that goes away, a role without
//! pg_monitor, and query texts with control characters.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opsdeck::core::queries::collector::QueryCollector;
use opsdeck::core::queries::{
    QuerySettings, QuerySnapshot, StatementRow, StatementSort, StatementsView,
};
use opsdeck::core::tasks::pg_sessions::{self, SessionAction, SessionActionSettings};
use sqlx::{Connection, PgConnection, Row};
use support::PgServer;

async fn start() -> PgServer {
    tokio::task::spawn_blocking(PgServer::start)
        .await
        .expect("PgServer::start panicked")
}

/// Runs blocking work (client tools, createdb) off the runtime's threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("blocking work panicked")
}

fn run(mut command: Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));
    assert!(
        out.status.success(),
        "{:?} failed ({}):\n{}{}",
        command,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates `name` with pgbench's tables in it (scale 1), and pg_stat_statements when asked.
async fn pgbench_database(server: &Arc<PgServer>, name: &'static str, extension: bool) {
    let owned = server.clone();
    blocking(move || owned.create_database(name)).await;
    if extension {
        let mut conn = connect(&server.url_for(name)).await;
        sqlx::raw_sql("CREATE EXTENSION pg_stat_statements")
            .execute(&mut conn)
            .await
            .expect("CREATE EXTENSION");
        conn.close().await.expect("close");
    }
    let owned = server.clone();
    blocking(move || {
        let mut init = owned.client_command("pgbench");
        init.args(["-i", "-q", "-s", "1", name]);
        run(init);
    })
    .await;
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

async fn backend_pid(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .expect("pg_backend_pid()")
}

fn settings() -> QuerySettings {
    QuerySettings::default()
}

fn rows(snapshot: &QuerySnapshot) -> &[StatementRow] {
    match &snapshot.statements {
        StatementsView::Rows { rows } => rows,
        other => panic!("expected statement rows, got {other:?}\n{snapshot:#?}"),
    }
}

fn assert_connected(snapshot: &QuerySnapshot) {
    assert_eq!(snapshot.error, None, "{snapshot:#?}");
    assert!(
        snapshot
            .server_version
            .as_deref()
            .is_some_and(|version| version.chars().next().is_some_and(|c| c.is_ascii_digit())),
        "{snapshot:#?}"
    );
}

/// opsdeck's own monitoring statements never show up.
fn assert_no_own_statements(rows: &[StatementRow]) {
    for row in rows {
        assert!(
            !row.query.contains("/* opsdeck */")
                && !row.query.contains("pg_stat_activity")
                && !row.query.contains("pg_blocking_pids")
                && !row.query.contains("SHOW server_version"),
            "opsdeck's own statement listed: {row:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_statements_come_first_with_their_deltas() {
    let server = Arc::new(start().await);
    pgbench_database(&server, "app", true).await;
    let owned = server.clone();
    blocking(move || {
        let mut bench = owned.client_command("pgbench");
        bench.args(["-c", "2", "-T", "3", "app"]);
        run(bench);
    })
    .await;
    let mut side = connect(&server.url_for("app")).await;
    for _ in 0..2 {
        sqlx::query("SELECT pg_sleep(1.2)")
            .execute(&mut side)
            .await
            .expect("pg_sleep");
    }

    let mut collector = QueryCollector::new("app".into(), server.url_for("app"), settings());
    let first = collector.collect().await;
    assert_connected(&first);
    let first_rows = rows(&first);
    assert!(!first_rows.is_empty(), "{first:#?}");
    for row in first_rows {
        assert_eq!(
            (row.calls_delta, row.calls_since_start, row.recent_mean_ms),
            (0, 0, None),
            "the first refresh is the baseline: {row:#?}"
        );
    }
    assert!(first_rows[0].query.contains("pg_sleep"), "{first:#?}");

    sqlx::query("SELECT pg_sleep(1.2)")
        .execute(&mut side)
        .await
        .expect("pg_sleep");
    let second = collector.collect().await;
    assert_connected(&second);
    let second_rows = rows(&second);
    let top = &second_rows[0];
    assert!(top.query.contains("pg_sleep"), "{second:#?}");
    assert!(top.calls >= 3, "{top:#?}");
    assert!(top.mean_ms >= 1000.0, "{top:#?}");
    assert!(top.max_ms >= top.mean_ms, "{top:#?}");
    assert!(top.slow, "{top:#?}");
    assert!(top.calls_delta >= 1, "{top:#?}");
    assert!(top.total_ms_delta >= 1000.0, "{top:#?}");
    assert!(top.calls_since_start >= 1, "{top:#?}");
    assert!(
        top.recent_mean_ms.is_some_and(|ms| ms >= 1000.0),
        "{top:#?}"
    );
    assert!(
        second_rows.windows(2).all(|w| w[0].mean_ms >= w[1].mean_ms),
        "sorted by mean time: {second:#?}"
    );
    assert!(second_rows.len() <= settings().top);
    assert_no_own_statements(second_rows);
    assert!(
        second.took < Duration::from_secs(2),
        "refresh took {:?}",
        second.took
    );

    // By calls: pgbench's own statements are there.
    collector.settings_mut().sort = StatementSort::Calls;
    collector.settings_mut().top = 50;
    // A new statement timeout reaches the kept connection.
    collector.settings_mut().statement_timeout = Duration::from_secs(4);
    let by_calls = collector.collect().await;
    assert_connected(&by_calls);
    let by_calls_rows = rows(&by_calls);
    assert!(
        by_calls_rows.windows(2).all(|w| w[0].calls >= w[1].calls),
        "sorted by calls: {by_calls:#?}"
    );
    let pgbench: Vec<&StatementRow> = by_calls_rows
        .iter()
        .filter(|row| row.query.contains("pgbench_accounts") && row.query.contains("UPDATE"))
        .collect();
    assert!(!pgbench.is_empty(), "{by_calls:#?}");
    assert!(pgbench.iter().all(|row| row.calls > 0 && !row.slow));
    assert!(
        pgbench.iter().all(|row| row
            .hit_ratio_pct
            .is_some_and(|pct| (0.0..=100.0).contains(&pct))),
        "{pgbench:#?}"
    );
    assert_no_own_statements(by_calls_rows);

    // Health of the pgbench database.
    let health = by_calls.health.as_ref().expect("health");
    assert!(health.database_bytes > 0);
    let accounts = health
        .largest_tables
        .iter()
        .find(|table| table.name == "public.pgbench_accounts")
        .unwrap_or_else(|| panic!("pgbench_accounts missing: {health:#?}"));
    assert!(accounts.total_bytes > 1_000_000, "{accounts:#?}");
    assert!(accounts.live_tuples > 0, "{accounts:#?}");
    assert_eq!(
        health.largest_tables[0].name, "public.pgbench_accounts",
        "{health:#?}"
    );
    assert!(
        health
            .largest_indexes
            .iter()
            .any(|index| index.name == "public.pgbench_accounts_pkey"
                && index.table == "public.pgbench_accounts"),
        "{health:#?}"
    );
    // Primary keys are never "unused".
    assert!(
        health
            .unused_indexes
            .iter()
            .all(|index| !index.name.ends_with("_pkey")),
        "{health:#?}"
    );

    // A statement reset makes the counters go down: a fresh start, not negative deltas.
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&mut side)
        .await
        .expect("reset");
    sqlx::query("SELECT pg_sleep(0.1)")
        .execute(&mut side)
        .await
        .expect("pg_sleep");
    collector.settings_mut().sort = StatementSort::MeanTime;
    let after_reset = collector.collect().await;
    assert_connected(&after_reset);
    for row in rows(&after_reset) {
        assert!(
            row.calls_delta >= 0 && row.total_ms_delta >= 0.0,
            "negative delta after a reset: {row:#?}"
        );
        assert!(row.calls_since_start >= 0, "{row:#?}");
    }
    let sleep = rows(&after_reset)
        .iter()
        .find(|row| row.query.contains("pg_sleep"))
        .unwrap_or_else(|| panic!("pg_sleep missing after the reset: {after_reset:#?}"));
    assert_eq!(sleep.calls, 1, "{sleep:#?}");
    assert_eq!(sleep.calls_delta, 1, "{sleep:#?}");
    // 3 calls counted before the reset (2 of them before the baseline), 1 after.
    assert!(sleep.calls_since_start >= 2, "{sleep:#?}");
    assert!(!sleep.slow, "{sleep:#?}");
    side.close().await.expect("close");
    collector.close().await;
}

/// Waits until the server reports `pid` waiting for a lock.
async fn wait_for_lock(watcher: &mut PgConnection, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wait: Option<String> =
            sqlx::query_scalar("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_optional(&mut *watcher)
                .await
                .expect("pg_stat_activity")
                .flatten();
        if wait.as_deref() == Some("Lock") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} never waited for a lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A statement on its own connection that will wait for a lock: the connection's pid and the
/// task that runs it (closing the connection after).
async fn waiting_statement(
    url: &str,
    sql: &'static str,
) -> (i32, tokio::task::JoinHandle<Result<(), sqlx::Error>>) {
    let mut conn = connect(url).await;
    let pid = backend_pid(&mut conn).await;
    let task = tokio::spawn(async move {
        sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await
    });
    (pid, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_chain_lists_the_root_blocker_first_with_its_waiters() {
    let server = Arc::new(start().await);
    pgbench_database(&server, "app", true).await;
    let url = server.url_for("app");

    // holder: a transaction left open with an exclusive lock; reader: waits for it; writer:
    // wants the same lock and queues behind both.
    let mut holder = connect(&url).await;
    let holder_pid = backend_pid(&mut holder).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE;")
        .execute(&mut holder)
        .await
        .expect("LOCK TABLE");
    let mut watcher = connect(&url).await;
    let (reader_pid, reader) =
        waiting_statement(&url, "SELECT count(*) FROM pgbench_accounts").await;
    wait_for_lock(&mut watcher, reader_pid).await;
    let (writer_pid, writer) = waiting_statement(
        &url,
        "BEGIN; LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE; COMMIT;",
    )
    .await;
    wait_for_lock(&mut watcher, writer_pid).await;

    let mut collector = QueryCollector::new("app".into(), url.clone(), settings());
    let snapshot = collector.collect().await;
    assert_connected(&snapshot);
    let sessions = snapshot.sessions.as_ref().expect("sessions");
    let pids: Vec<i32> = sessions.iter().map(|session| session.pid).collect();
    // Neither the watcher (idle) nor opsdeck's own connection is listed.
    assert_eq!(pids.len(), 3, "{sessions:#?}");
    assert_eq!(
        pids[0], holder_pid,
        "the root blocker comes first: {sessions:#?}"
    );
    let holder_row = &sessions[0];
    assert!(holder_row.blocking, "{holder_row:#?}");
    assert_eq!(holder_row.waiting_on_it, 2, "{holder_row:#?}");
    assert_eq!(holder_row.depth, 0);
    assert!(holder_row.idle_in_transaction, "{holder_row:#?}");
    assert_eq!(holder_row.state, "idle in transaction");
    assert!(holder_row.blocked_by.is_empty(), "{holder_row:#?}");
    assert!(holder_row.transaction_seconds.is_some(), "{holder_row:#?}");
    for pid in [reader_pid, writer_pid] {
        let row = sessions
            .iter()
            .find(|session| session.pid == pid)
            .unwrap_or_else(|| panic!("pid {pid} is missing: {sessions:#?}"));
        assert!(row.blocked_by.contains(&holder_pid), "{row:#?}");
        assert!(row.depth >= 1, "waiters sit under their blocker: {row:#?}");
        assert_eq!(
            row.wait_event.as_deref(),
            Some("Lock: relation"),
            "{row:#?}"
        );
        assert_eq!(row.database, "app");
        assert_eq!(row.user, "postgres");
        assert_eq!(row.client, "127.0.0.1");
        assert!(!row.long_running, "{row:#?}");
    }
    let reader_row = sessions
        .iter()
        .find(|s| s.pid == reader_pid)
        .expect("reader");
    assert_eq!(reader_row.state, "active");
    assert!(reader_row.query.contains("count(*)"), "{reader_row:#?}");
    // The JSON a script reads marks the blocker too.
    let json = serde_json::to_value(&snapshot).expect("json");
    assert_eq!(json["sessions"]["Ok"][0]["pid"], holder_pid, "{json:#}");
    assert_eq!(json["sessions"]["Ok"][0]["blocking"], true, "{json:#}");
    assert_eq!(json["sessions"]["Ok"][0]["waiting_on_it"], 2, "{json:#}");

    // Terminating the blocker says how many sessions wait on it.
    let plan = pg_sessions::plan(
        SessionAction::Terminate,
        &SessionActionSettings {
            databases: vec![("app".into(), url.clone())],
        },
        &[("pids".to_owned(), holder_pid.to_string())].into(),
    )
    .await
    .expect("plan");
    let lines = plan.lines().join("\n");
    let mut waiters = [reader_pid, writer_pid];
    waiters.sort_unstable();
    assert!(
        lines.contains(&format!(
            "pid {holder_pid} BLOCKS 2 sessions: {}, {}",
            waiters[0], waiters[1]
        )),
        "{lines}"
    );

    // The locked table does not stall the health view: it is sized from its estimate.
    let health = snapshot.health.as_ref().expect("health");
    assert!(
        health
            .largest_tables
            .iter()
            .any(|table| table.name == "public.pgbench_accounts" && table.total_bytes > 0),
        "{health:#?}"
    );
    assert!(
        snapshot.took < Duration::from_secs(2),
        "the refresh waited: {:?}",
        snapshot.took
    );

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("ROLLBACK");
    for waiter in [reader, writer] {
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiters finish once the lock is gone")
            .expect("waiter task")
            .expect("waiter statement");
    }
    let calm = collector.collect().await;
    assert_connected(&calm);
    assert_eq!(calm.sessions, Ok(Vec::new()), "{calm:#?}");
    holder.close().await.expect("close");
    watcher.close().await.expect("close");
    collector.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_aborted_transactions_are_aged_from_when_they_went_idle() {
    let server = Arc::new(start().await);
    pgbench_database(&server, "app", false).await;
    let url = server.url_for("app");

    // Its last statement ran 1.5 s, and it has been idle since.
    let mut idle = connect(&url).await;
    let idle_pid = backend_pid(&mut idle).await;
    sqlx::raw_sql("BEGIN; SELECT pg_sleep(1.5);")
        .execute(&mut idle)
        .await
        .expect("BEGIN");
    // An error inside a transaction: `idle in transaction (aborted)`, and no xact_start.
    let mut aborted = connect(&url).await;
    let aborted_pid = backend_pid(&mut aborted).await;
    sqlx::raw_sql("BEGIN")
        .execute(&mut aborted)
        .await
        .expect("BEGIN");
    assert!(
        sqlx::raw_sql("SELECT 1/0")
            .execute(&mut aborted)
            .await
            .is_err(),
        "division by zero fails"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let mut collector = QueryCollector::new("app".into(), url.clone(), settings());
    let snapshot = collector.collect().await;
    assert_connected(&snapshot);
    let sessions = snapshot.sessions.as_ref().expect("sessions");
    let find = |pid: i32| {
        sessions
            .iter()
            .find(|session| session.pid == pid)
            .unwrap_or_else(|| panic!("pid {pid} is missing: {sessions:#?}"))
    };
    let idle_row = find(idle_pid);
    let query_age = idle_row.query_seconds.expect("query age");
    let idle_age = idle_row.age_in_state().expect("idle age");
    assert!(query_age >= 2.5, "{idle_row:#?}");
    assert!(
        (1.0..query_age - 1.0).contains(&idle_age),
        "idle since the sleep ended, not since it started: {idle_row:#?}"
    );
    assert_eq!(idle_row.short_state(), "idle in xact");

    let aborted_row = find(aborted_pid);
    assert_eq!(aborted_row.state, "idle in transaction (aborted)");
    assert_eq!(aborted_row.short_state(), "aborted xact");
    assert!(aborted_row.idle_in_transaction, "{aborted_row:#?}");
    let age = aborted_row.transaction_seconds.expect("transaction age");
    assert!(
        age >= 1.0,
        "an aborted transaction is not 0 s old: {aborted_row:#?}"
    );
    idle.close().await.expect("close");
    aborted.close().await.expect("close");
    collector.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_statement_by_another_user_or_nested_is_its_own_row() {
    let server = Arc::new(start().await);
    pgbench_database(&server, "app", true).await;
    let url = server.url_for("app");
    let mut admin = connect(&url).await;
    sqlx::raw_sql(
        "CREATE ROLE reporter LOGIN;
         GRANT SELECT ON pgbench_branches TO reporter;
         CREATE FUNCTION branch_count() RETURNS bigint LANGUAGE plpgsql AS
           $$ DECLARE n bigint;
              BEGIN EXECUTE 'SELECT count(*) FROM pgbench_branches' INTO n; RETURN n; END $$;
         GRANT EXECUTE ON FUNCTION branch_count() TO reporter;
         SET pg_stat_statements.track = 'all';",
    )
    .execute(&mut admin)
    .await
    .expect("setup");
    for _ in 0..3 {
        sqlx::raw_sql("SELECT count(*) FROM pgbench_branches")
            .execute(&mut admin)
            .await
            .expect("as postgres");
        sqlx::raw_sql("SELECT branch_count()")
            .execute(&mut admin)
            .await
            .expect("nested");
    }
    let reporter_url = url.replacen("postgres@", "reporter@", 1);
    assert_ne!(reporter_url, url, "the URL names the user: {url}");
    let mut reporter = connect(&reporter_url).await;
    for _ in 0..2 {
        sqlx::raw_sql("SELECT count(*) FROM pgbench_branches")
            .execute(&mut reporter)
            .await
            .expect("as reporter");
    }

    let mut collector = QueryCollector::new(
        "app".into(),
        url.clone(),
        QuerySettings {
            top: 100,
            sort: StatementSort::Calls,
            ..settings()
        },
    );
    let snapshot = collector.collect().await;
    assert_connected(&snapshot);
    let mut same: Vec<(String, Option<bool>, i64)> = rows(&snapshot)
        .iter()
        .filter(|row| row.query == "SELECT count(*) FROM pgbench_branches")
        .map(|row| (row.user.clone(), row.toplevel, row.calls))
        .collect();
    same.sort();
    assert_eq!(
        same,
        [
            ("postgres".to_owned(), Some(false), 3),
            ("postgres".to_owned(), Some(true), 3),
            ("reporter".to_owned(), Some(true), 2),
        ],
        "{:#?}",
        rows(&snapshot)
    );
    reporter.close().await.expect("close");
    admin.close().await.expect("close");
    collector.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_extension_the_statements_say_how_to_enable_it() {
    let server = Arc::new(start().await);
    let owned = server.clone();
    blocking(move || owned.create_database("bare")).await;
    let mut collector = QueryCollector::new("bare".into(), server.url_for("bare"), settings());
    let snapshot = collector.collect().await;
    assert_connected(&snapshot);
    match &snapshot.statements {
        StatementsView::Unavailable { guidance } => {
            assert!(
                guidance.contains("shared_preload_libraries = 'pg_stat_statements'"),
                "{guidance}"
            );
            assert!(guidance.contains("restart PostgreSQL"), "{guidance}");
            assert!(
                guidance.contains("CREATE EXTENSION pg_stat_statements;"),
                "{guidance}"
            );
            assert!(guidance.contains("bare"), "{guidance}");
        }
        other => panic!("expected guidance, got {other:?}"),
    }
    // The rest still works.
    assert!(snapshot.sessions.is_ok(), "{snapshot:#?}");
    let health = snapshot.health.as_ref().expect("health");
    assert!(health.database_bytes > 0);
    assert!(health.largest_tables.is_empty(), "{health:#?}");
    collector.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_failures_name_the_masked_url_and_the_fix() {
    let server = start().await;
    let port = server.port();
    let url = format!("postgres://postgres:s3cret@127.0.0.1:{port}/postgres");
    let masked = format!("postgres://postgres:***@127.0.0.1:{port}/postgres");

    // An unknown database.
    let mut unknown = QueryCollector::new(
        "nope".into(),
        format!("postgres://postgres:s3cret@127.0.0.1:{port}/nosuchdb"),
        settings(),
    );
    let snapshot = unknown.collect().await;
    let error = snapshot.error.as_deref().expect("an error");
    assert!(error.contains("does not exist"), "{error}");
    assert!(error.contains("database name"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");

    let mut collector = QueryCollector::new("main".into(), url, settings());
    let up = collector.collect().await;
    assert_connected(&up);

    // Down: the kept connection breaks, and connecting again is refused.
    let mut server = blocking(move || {
        let mut server = server;
        server.stop();
        server
    })
    .await;
    let down = collector.collect().await;
    let error = down.error.as_deref().expect("an error");
    assert!(error.contains(&masked), "{error}");
    assert!(error.contains("is PostgreSQL running"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
    assert_eq!(down.server_version, None);
    assert!(down.took < Duration::from_secs(6), "{:?}", down.took);
    let again = collector.collect().await;
    assert!(
        again
            .error
            .as_deref()
            .is_some_and(|error| error.contains("is PostgreSQL running")),
        "{again:#?}"
    );

    // Back up: the collector reconnects by itself.
    server = blocking(move || {
        server.restart();
        server
    })
    .await;
    let back = collector.collect().await;
    assert_connected(&back);
    collector.close().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_pg_monitor_is_told_what_to_grant() {
    let server = start().await;
    let mut admin = connect(&server.url()).await;
    sqlx::raw_sql("CREATE ROLE plain LOGIN; CREATE EXTENSION pg_stat_statements;")
        .execute(&mut admin)
        .await
        .expect("setup");
    // Something for the statements and the sessions to show.
    sqlx::raw_sql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX t_v ON t (v);")
        .execute(&mut admin)
        .await
        .expect("table");
    let mut idle = connect(&server.url()).await;
    sqlx::raw_sql("BEGIN; SELECT 1;")
        .execute(&mut idle)
        .await
        .expect("BEGIN");

    let url = format!("postgres://plain@127.0.0.1:{}/postgres", server.port());
    let mut collector = QueryCollector::new("plain".into(), url, settings());
    let snapshot = collector.collect().await;
    assert_connected(&snapshot);
    // Others' sessions are hidden from plain: the pane says so and what to grant.
    let error = snapshot
        .sessions
        .as_ref()
        .expect_err("plain cannot see others' sessions");
    assert!(error.contains("GRANT pg_monitor TO plain;"), "{error}");
    // Table health and the statements need no grant: sizes, tuples and counters are readable by
    // any role (only other roles' statement texts are hidden).
    let health = snapshot.health.as_ref().expect("health without pg_monitor");
    assert!(
        health
            .largest_tables
            .iter()
            .any(|table| table.name == "public.t"),
        "{health:#?}"
    );
    match &snapshot.statements {
        StatementsView::Rows { rows } => assert_no_own_statements(rows),
        other => panic!("statements without pg_monitor: {other:#?}"),
    }

    // With pg_monitor the same collector sees the idle transaction.
    sqlx::raw_sql("GRANT pg_monitor TO plain")
        .execute(&mut admin)
        .await
        .expect("GRANT");
    let granted = collector.collect().await;
    assert_connected(&granted);
    let sessions = granted.sessions.as_ref().expect("sessions with pg_monitor");
    assert!(
        sessions.iter().any(|session| session.idle_in_transaction),
        "{sessions:#?}"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut idle)
        .await
        .expect("ROLLBACK");
    collector.close().await;
    idle.close().await.expect("close");
    admin.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn query_texts_come_back_as_stored() {
    let server = start().await;
    let mut admin = connect(&server.url()).await;
    sqlx::raw_sql("CREATE EXTENSION pg_stat_statements")
        .execute(&mut admin)
        .await
        .expect("CREATE EXTENSION");
    let tricky = "SELECT /* \x1b[2J\r\n\t */ '\x1b[2J' AS x, 1 AS \"esc\x1b[31mred\x07\"";
    for _ in 0..3 {
        sqlx::query("SELECT '\x1b[2J' AS x")
            .execute(&mut admin)
            .await
            .expect("escape literal");
        sqlx::raw_sql(tricky)
            .execute(&mut admin)
            .await
            .expect("escape identifier");
    }

    let mut collector = QueryCollector::new(
        "postgres".into(),
        server.url(),
        QuerySettings {
            top: 100,
            sort: StatementSort::Calls,
            ..settings()
        },
    );
    // The second refresh: the first one's monitoring statements are recorded by then.
    assert_connected(&collector.collect().await);
    let snapshot = collector.collect().await;
    assert_connected(&snapshot);
    let rows = rows(&snapshot);
    assert_no_own_statements(rows);
    let stored: Vec<(i64, String)> = sqlx::query(
        "SELECT queryid, query FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&mut admin)
    .await
    .expect("pg_stat_statements")
    .iter()
    .map(|row| (row.get("queryid"), row.get("query")))
    .collect();
    let escaped = rows
        .iter()
        .find(|row| row.query.contains("esc\x1b[31mred\x07"))
        .unwrap_or_else(|| panic!("the statement with escapes is missing: {rows:#?}"));
    assert!(
        escaped.query.contains("/* \x1b[2J\r\n\t */"),
        "{escaped:#?}"
    );
    assert_eq!(escaped.calls, 3, "{escaped:#?}");
    // Every text is exactly what PostgreSQL keeps.
    for row in rows {
        let (_, text) = stored
            .iter()
            .find(|(queryid, _)| *queryid == row.queryid)
            .unwrap_or_else(|| panic!("unknown queryid: {row:#?}"));
        assert_eq!(&row.query, text);
    }
    assert!(
        rows.iter().any(|row| row.query == "SELECT $1 AS x"),
        "{rows:#?}"
    );

    // opsdeck's own statements soon have the most calls; they still never take a place.
    collector.settings_mut().top = 2;
    for _ in 0..5 {
        let snapshot = collector.collect().await;
        assert_connected(&snapshot);
        let top = self::rows(&snapshot);
        assert_no_own_statements(top);
        assert_eq!(top.len(), 2, "{top:#?}");
        assert!(top.iter().all(|row| row.calls >= 3), "{top:#?}");
    }
    collector.close().await;
    admin.close().await.expect("close");
}

/// The binary with `config` and a sandboxed home, not waiting for it.
fn opsdeck(home: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opsdeck"));
    command
        .arg("--config")
        .arg(home.join("opsdeck.toml"))
        .arg("--state")
        .arg(home.join("state.db"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vacuum_task_waiting_on_a_lock_is_shown_as_opsdecks_own() {
    let server = Arc::new(start().await);
    pgbench_database(&server, "app", false).await;
    let url = server.url_for("app");
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("opsdeck.toml"),
        format!(
            r#"
[tasks.db-vacuum-analyze]
url = "{url}"
tables = ["public.pgbench_accounts"]

[[database]]
name = "app"
url = "{url}"
"#
        ),
    )
    .expect("config");

    // The lock a running VACUUM, ANALYZE or CREATE INDEX CONCURRENTLY holds: the task's plan
    // (which reads sizes) goes through, its VACUUM waits.
    let mut holder = connect(&url).await;
    let holder_pid = backend_pid(&mut holder).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE pgbench_accounts IN SHARE UPDATE EXCLUSIVE MODE;")
        .execute(&mut holder)
        .await
        .expect("LOCK TABLE");
    let vacuum = opsdeck(home.path(), &["run", "db-vacuum-analyze", "--yes"])
        .spawn()
        .expect("start opsdeck run");
    let mut watcher = connect(&url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let task_pid: i32 = loop {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE query LIKE 'VACUUM%' AND wait_event_type = 'Lock'",
        )
        .fetch_optional(&mut watcher)
        .await
        .expect("pg_stat_activity");
        if let Some(pid) = found {
            break pid;
        }
        assert!(Instant::now() < deadline, "the VACUUM never waited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let home_path = home.path().to_path_buf();
    let listed = blocking(move || {
        opsdeck(&home_path, &["queries", "--format", "json"])
            .output()
            .expect("opsdeck queries")
    })
    .await;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let sessions = json[0]["sessions"]["Ok"].as_array().expect("sessions");
    let task = sessions
        .iter()
        .find(|session| session["pid"] == task_pid)
        .unwrap_or_else(|| panic!("the task's VACUUM is hidden: {json:#}"));
    assert_eq!(task["opsdeck_task"], true, "{task:#}");
    assert_eq!(task["application"], "opsdeck-task", "{task:#}");
    assert_eq!(
        task["blocked_by"],
        serde_json::json!([holder_pid]),
        "{task:#}"
    );
    assert!(
        task["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("VACUUM")),
        "{task:#}"
    );
    // The monitoring connection itself is not listed.
    assert!(
        sessions
            .iter()
            .all(|s| s["application"] != "opsdeck-monitor"),
        "{json:#}"
    );
    assert_eq!(
        sessions[0]["pid"], holder_pid,
        "the blocker first: {json:#}"
    );

    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("ROLLBACK");
    let finished = blocking(move || vacuum.wait_with_output().expect("opsdeck run")).await;
    assert!(
        finished.status.success(),
        "{}{}",
        String::from_utf8_lossy(&finished.stdout),
        String::from_utf8_lossy(&finished.stderr)
    );
    holder.close().await.expect("close");
    watcher.close().await.expect("close");
}
