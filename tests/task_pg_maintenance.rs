//! `db-vacuum-analyze` and `db-reindex` against a real throwaway PostgreSQL: dead tuples gone
//! after a run, plans that change nothing, the long-transaction warning, REINDEX CONCURRENTLY
//! swapping in a valid new index, the free-disk refusal, cancellation that reaches the server,
//! and clear failures for unknown names and a server that is down.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use opsdeck::core::tasks::pg_maintenance::{self, ReindexSettings, VacuumSettings, refusal_for};
use opsdeck::core::tasks::{Output, Params, PlanStep, TaskContext, TaskError};
use sqlx::postgres::PgConnection;
use sqlx::postgres::types::Oid;
use sqlx::{Connection, Row};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A fresh server with an empty database `name`, and that database's URL.
async fn server_with_database(name: &'static str) -> (support::PgServer, String) {
    tokio::task::spawn_blocking(move || {
        let server = support::PgServer::start();
        server.create_database(name);
        let url = server.url_for(name);
        (server, url)
    })
    .await
    .expect("start PostgreSQL")
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("connect")
}

async fn execute(conn: &mut PgConnection, sql: &'static str) {
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn backend_pid(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn task_context(pairs: &[(&str, &str)]) -> (TaskContext, mpsc::UnboundedReceiver<String>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let context = TaskContext {
        params: params(pairs),
        output: Output::new(sender),
        cancel: CancellationToken::new(),
        store: None,
    };
    (context, receiver)
}

fn drain(receiver: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = receiver.try_recv() {
        lines.push(line);
    }
    lines
}

fn vacuum_settings(url: &str) -> VacuumSettings {
    VacuumSettings {
        url: url.to_owned(),
        tables: Vec::new(),
        largest: 10,
        max_transaction_age: Duration::from_secs(3600),
    }
}

/// (n_dead_tup, vacuum_count) of a table in `public`.
async fn table_stats(conn: &mut PgConnection, table: &str) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT coalesce(n_dead_tup, 0) AS dead, coalesce(vacuum_count, 0) AS vacuums
         FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = $1",
    )
    .bind(table.to_owned())
    .fetch_one(conn)
    .await
    .unwrap();
    (row.get("dead"), row.get("vacuums"))
}

/// A table with autovacuum off, 20,000 rows each updated twice: about 40,000 dead tuples,
/// visible in the statistics.
async fn bloated_table(conn: &mut PgConnection) -> i64 {
    execute(
        conn,
        "CREATE TABLE bloated (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
         INSERT INTO bloated SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
         UPDATE bloated SET payload = payload || 'x';
         UPDATE bloated SET payload = payload || 'y';",
    )
    .await;
    execute(conn, "SELECT pg_stat_force_next_flush()").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (dead, _) = table_stats(conn, "bloated").await;
        if dead > 0 {
            return dead;
        }
        assert!(
            Instant::now() < deadline,
            "n_dead_tup of bloated never became > 0"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vacuum_plan_changes_nothing_and_run_removes_dead_tuples() {
    let (_server, url) = server_with_database("app").await;
    let mut conn = connect(&url).await;
    let dead_before = bloated_table(&mut conn).await;
    assert!(dead_before > 10_000, "dead tuples before: {dead_before}");

    let settings = vacuum_settings(&url);
    let plan = pg_maintenance::plan_vacuum(&settings, &params(&[("table", "public.bloated")]))
        .await
        .expect("plan");
    assert!(
        plan.steps.contains(&PlanStep::Sql {
            database: url.clone(),
            statement: "VACUUM (ANALYZE) public.bloated".into(),
        }),
        "{:#?}",
        plan.steps
    );
    assert_eq!(plan.refusal, None);
    let lines = plan.lines().join("\n");
    eprintln!("plan:\n{lines}");
    assert!(lines.contains("dead tuples"), "{lines}");
    // The plan only looked.
    let (dead, vacuums) = table_stats(&mut conn, "bloated").await;
    assert_eq!(vacuums, 0);
    assert_eq!(dead, dead_before);

    // Without the parameter, the largest tables are chosen (here the only one).
    let plan = pg_maintenance::plan_vacuum(&settings, &Params::new())
        .await
        .expect("plan for the largest tables");
    assert!(plan.steps.contains(&PlanStep::Sql {
        database: url.clone(),
        statement: "VACUUM (ANALYZE) public.bloated".into(),
    }));

    let (context, mut output) = task_context(&[("table", "public.bloated")]);
    let started = Instant::now();
    let summary = pg_maintenance::run_vacuum(&settings, &context)
        .await
        .expect("run");
    eprintln!("vacuum run took {:?}", started.elapsed());
    assert!(
        summary.summary.starts_with("vacuumed 1 table in "),
        "{}",
        summary.summary
    );
    assert!(
        summary.summary.contains("dead tuples"),
        "{}",
        summary.summary
    );
    let lines = drain(&mut output);
    eprintln!(
        "output:\n{}\nsummary: {}",
        lines.join("\n"),
        summary.summary
    );
    let line = lines
        .iter()
        .find(|line| line.starts_with("public.bloated: "))
        .unwrap_or_else(|| panic!("no line for the table in {lines:#?}"));
    assert!(line.contains("dead tuples"), "{line}");
    assert!(line.contains(" -> "), "{line}");

    let (dead_after, vacuums) = table_stats(&mut conn, "bloated").await;
    assert!(vacuums >= 1);
    assert!(
        dead_after == 0 || dead_after < dead_before / 10,
        "dead tuples {dead_before} -> {dead_after}"
    );
    assert!(line.ends_with(&format!("-> {dead_after}")), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vacuum_unknown_table_fails_naming_it() {
    let (_server, url) = server_with_database("app").await;
    let settings = vacuum_settings(&url);
    let error = pg_maintenance::plan_vacuum(&settings, &params(&[("table", "public.nope")]))
        .await
        .expect_err("unknown table");
    let TaskError::Failed(message) = error else {
        panic!("{error:?}")
    };
    assert!(message.contains("public.nope"), "{message}");
    assert!(message.contains("not found"), "{message}");

    let mut configured = vacuum_settings(&url);
    configured.tables = vec!["public.missing".into()];
    let (context, _output) = task_context(&[]);
    let error = pg_maintenance::run_vacuum(&configured, &context)
        .await
        .expect_err("unknown configured table");
    assert!(error.to_string().contains("public.missing"), "{error}");
    assert!(
        error
            .to_string()
            .contains("[tasks.db-vacuum-analyze] tables"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_transaction_is_a_pre_flight_warning() {
    let (_server, url) = server_with_database("app").await;
    let mut conn = connect(&url).await;
    execute(
        &mut conn,
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);",
    )
    .await;
    let mut holder = connect(&url).await;
    let holder_pid = backend_pid(&mut holder).await;
    execute(&mut holder, "BEGIN; SELECT txid_current();").await;

    let pid_mark = format!("pid {holder_pid} ");
    let mut settings = vacuum_settings(&url);
    settings.max_transaction_age = Duration::ZERO;

    let plan = pg_maintenance::plan_vacuum(&settings, &params(&[("table", "public.t")]))
        .await
        .expect("plan");
    let warning = plan
        .warnings
        .iter()
        .find(|warning| warning.contains(&pid_mark))
        .unwrap_or_else(|| panic!("no warning for pid {holder_pid}: {:#?}", plan.warnings));
    assert!(warning.contains("VACUUM cannot remove"), "{warning}");
    assert!(warning.contains("user postgres"), "{warning}");
    assert!(warning.contains("idle in transaction"), "{warning}");

    let (context, mut output) = task_context(&[("table", "public.t")]);
    pg_maintenance::run_vacuum(&settings, &context)
        .await
        .expect("run");
    let lines = drain(&mut output);
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("warning: ") && line.contains(&pid_mark)),
        "{lines:#?}"
    );

    // Younger than the limit: no warning.
    settings.max_transaction_age = Duration::from_secs(3600);
    let plan = pg_maintenance::plan_vacuum(&settings, &params(&[("table", "public.t")]))
        .await
        .expect("plan");
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
    execute(&mut holder, "ROLLBACK").await;
}

async fn index_state(conn: &mut PgConnection, index: &str) -> (Oid, bool) {
    let row = sqlx::query(
        "SELECT i.indexrelid AS oid, i.indisvalid AS valid
         FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
    )
    .bind(index.to_owned())
    .fetch_one(conn)
    .await
    .unwrap_or_else(|error| panic!("index {index}: {error}"));
    (row.get("oid"), row.get("valid"))
}

#[tokio::test(flavor = "multi_thread")]
async fn reindex_swaps_in_a_valid_new_index() {
    let (_server, url) = server_with_database("app").await;
    let mut conn = connect(&url).await;
    execute(
        &mut conn,
        "CREATE TABLE items (id int PRIMARY KEY, label text);
         INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
         CREATE INDEX items_label_idx ON items (label);",
    )
    .await;
    let (old_oid, _) = index_state(&mut conn, "public.items_label_idx").await;
    let settings = ReindexSettings {
        url: url.clone(),
        indexes: vec!["public.items_label_idx".into()],
    };

    let plan = pg_maintenance::plan_reindex(&settings, &Params::new())
        .await
        .expect("plan");
    assert!(
        plan.steps.contains(&PlanStep::Sql {
            database: url.clone(),
            statement: "REINDEX INDEX CONCURRENTLY public.items_label_idx".into(),
        }),
        "{:#?}",
        plan.steps
    );
    assert_eq!(plan.refusal, None);
    // A local server and a superuser: the free space is known.
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
    let lines = plan.lines().join("\n");
    eprintln!("plan:\n{lines}");
    assert!(lines.contains(" free on /"), "{lines}");
    assert_eq!(
        index_state(&mut conn, "public.items_label_idx").await.0,
        old_oid
    );

    let (context, mut output) = task_context(&[]);
    let summary = pg_maintenance::run_reindex(&settings, &context)
        .await
        .expect("run");
    assert!(
        summary.summary.starts_with("rebuilt 1 index in "),
        "{}",
        summary.summary
    );
    let lines = drain(&mut output);
    eprintln!(
        "output:\n{}\nsummary: {}",
        lines.join("\n"),
        summary.summary
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("public.items_label_idx: ") && line.contains(" -> ")),
        "{lines:#?}"
    );
    let (new_oid, valid) = index_state(&mut conn, "public.items_label_idx").await;
    assert!(valid, "the rebuilt index is not valid");
    assert_ne!(new_oid, old_oid, "REINDEX CONCURRENTLY builds a new index");

    // The parameter picks one index (here the primary key).
    let (context, _output) = task_context(&[("index", "public.items_pkey")]);
    pg_maintenance::run_reindex(&settings, &context)
        .await
        .expect("run on the parameter's index");
    assert!(index_state(&mut conn, "public.items_pkey").await.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn reindex_unknown_or_missing_indexes_fail_clearly() {
    let (_server, url) = server_with_database("app").await;
    let mut conn = connect(&url).await;
    execute(&mut conn, "CREATE TABLE items (id int PRIMARY KEY)").await;

    let settings = ReindexSettings {
        url: url.clone(),
        indexes: vec!["public.nope_idx".into()],
    };
    let error = pg_maintenance::plan_reindex(&settings, &Params::new())
        .await
        .expect_err("unknown index");
    assert!(error.to_string().contains("public.nope_idx"), "{error}");
    assert!(error.to_string().contains("not found"), "{error}");
    let (context, _output) = task_context(&[]);
    let error = pg_maintenance::run_reindex(&settings, &context)
        .await
        .expect_err("unknown index");
    assert!(error.to_string().contains("public.nope_idx"), "{error}");

    // A table is not an index.
    let error = pg_maintenance::plan_reindex(&settings, &params(&[("index", "public.items")]))
        .await
        .expect_err("a table");
    assert!(error.to_string().contains("not an index"), "{error}");

    let none = ReindexSettings {
        url: url.clone(),
        indexes: Vec::new(),
    };
    for error in [
        pg_maintenance::plan_reindex(&none, &Params::new())
            .await
            .expect_err("no indexes"),
        pg_maintenance::run_reindex(&none, &context)
            .await
            .expect_err("no indexes"),
    ] {
        assert!(
            error.to_string().contains("no indexes configured"),
            "{error}"
        );
        assert!(
            error.to_string().contains("[tasks.db-reindex] indexes"),
            "{error}"
        );
    }
}

#[test]
fn reindex_refuses_when_the_disk_is_too_full() {
    let refusal = refusal_for(
        "public.orders_pkey",
        1_288_490_189,
        800 * 1024 * 1024,
        "/var/lib/postgresql/15/main",
    )
    .expect("refused");
    assert!(refusal.contains("public.orders_pkey"), "{refusal}");
    assert!(refusal.contains("1.20 GiB"), "{refusal}");
    assert!(
        refusal.contains("800 MiB free on /var/lib/postgresql/15/main"),
        "{refusal}"
    );
    assert_eq!(
        refusal_for("public.orders_pkey", 1 << 20, 2 << 20, "/data"),
        None
    );
}

/// Statements our task sessions (application_name `opsdeck-task`) are running: (pid, query).
async fn running(conn: &mut PgConnection) -> Vec<(i32, String)> {
    sqlx::query_as(
        "SELECT pid, query FROM pg_stat_activity
         WHERE application_name = 'opsdeck-task' AND state = 'active'",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Runs the vacuum of `public.t` while `lock` is held, cancels it after it has waited at least
/// 300 ms (and, when `wait_for_vacuum`, once the VACUUM itself is seen waiting for the lock), and
/// checks that it ends as cancelled within a second and that nothing of ours still runs.
async fn cancel_blocked_vacuum(lock: &'static str, wait_for_vacuum: bool) {
    let (_server, url) = server_with_database("app").await;
    let mut conn = connect(&url).await;
    execute(
        &mut conn,
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000);",
    )
    .await;
    let mut holder = connect(&url).await;
    execute(&mut holder, "BEGIN").await;
    execute(&mut holder, lock).await;

    let settings = vacuum_settings(&url);
    let (context, _output) = task_context(&[("table", "public.t")]);
    let cancel = context.cancel.clone();
    let started = Instant::now();
    let run = tokio::spawn(async move { pg_maintenance::run_vacuum(&settings, &context).await });

    if wait_for_vacuum {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE query = 'VACUUM (ANALYZE) public.t' AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            if waiting == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the VACUUM never waited for the lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let waited = started.elapsed();
    if waited < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(300) - waited).await;
    }
    assert!(!run.is_finished(), "the run did not block on the lock");

    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("the run ended within 1 s of the cancel")
        .expect("the run did not panic");
    eprintln!(
        "cancelled run ended {:?} after the cancel",
        cancelled_at.elapsed()
    );
    assert_eq!(result, Err(TaskError::Cancelled));
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));

    // The server is no longer working for us: the statement ended before the run returned.
    let active = running(&mut conn).await;
    assert!(active.is_empty(), "still running: {active:?}");
    execute(&mut holder, "ROLLBACK").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_reaches_a_vacuum_waiting_for_a_lock() {
    // SHARE UPDATE EXCLUSIVE lets the size and statistics queries through, so it is the VACUUM
    // itself that waits.
    cancel_blocked_vacuum("LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_works_while_the_table_is_locked_exclusively() {
    // ACCESS EXCLUSIVE also blocks the size query before the VACUUM: cancelled just the same.
    cancel_blocked_vacuum("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_reaches_a_reindex_waiting_for_a_lock() {
    let (_server, url) = server_with_database("app").await;
    let mut conn = connect(&url).await;
    execute(
        &mut conn,
        "CREATE TABLE items (id int PRIMARY KEY);
         INSERT INTO items SELECT generate_series(1, 1000);",
    )
    .await;
    let mut holder = connect(&url).await;
    execute(
        &mut holder,
        "BEGIN; LOCK TABLE items IN SHARE UPDATE EXCLUSIVE MODE;",
    )
    .await;
    let settings = ReindexSettings {
        url: url.clone(),
        indexes: vec!["public.items_pkey".into()],
    };
    let (context, mut output) = task_context(&[]);
    let cancel = context.cancel.clone();
    let run = tokio::spawn(async move { pg_maintenance::run_reindex(&settings, &context).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE query LIKE 'REINDEX INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the REINDEX never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("the run ended within 1 s of the cancel")
        .expect("the run did not panic");
    assert_eq!(result, Err(TaskError::Cancelled));
    let active = running(&mut conn).await;
    assert!(active.is_empty(), "still running: {active:?}");
    let lines = drain(&mut output);
    assert!(
        lines
            .iter()
            .any(|line| line.contains("cancelled during REINDEX")),
        "{lines:#?}"
    );
    execute(&mut holder, "ROLLBACK").await;
    assert!(index_state(&mut conn, "public.items_pkey").await.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_down_fails_clearly_with_the_password_masked() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://ops:s3cret-pw@127.0.0.1:{port}/app");
    let vacuum = vacuum_settings(&url);
    let reindex = ReindexSettings {
        url: url.clone(),
        indexes: vec!["public.orders_pkey".into()],
    };
    let (context, _output) = task_context(&[]);
    let started = Instant::now();
    let errors = [
        (
            "db-vacuum-analyze",
            pg_maintenance::plan_vacuum(&vacuum, &Params::new())
                .await
                .map(|_| ()),
        ),
        (
            "db-vacuum-analyze",
            pg_maintenance::run_vacuum(&vacuum, &context)
                .await
                .map(|_| ()),
        ),
        (
            "db-reindex",
            pg_maintenance::plan_reindex(&reindex, &Params::new())
                .await
                .map(|_| ()),
        ),
        (
            "db-reindex",
            pg_maintenance::run_reindex(&reindex, &context)
                .await
                .map(|_| ()),
        ),
    ];
    assert!(started.elapsed() < Duration::from_secs(10));
    for (task, result) in errors {
        let Err(TaskError::Failed(message)) = result else {
            panic!("{task}: {result:?}")
        };
        assert!(!message.contains("s3cret-pw"), "{message}");
        assert!(
            message.contains(&format!("127.0.0.1:{port}/app")),
            "{message}"
        );
        assert!(message.contains("cannot connect"), "{message}");
        assert!(message.contains("is PostgreSQL running?"), "{message}");
        assert!(
            message.contains(&format!("[tasks.{task}] url")),
            "{message}"
        );
    }
}

/// From the queries pane, VACUUM runs on the database being watched (the `database` parameter),
/// not on the task's own url.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_parameter_picks_a_watched_database() {
    use opsdeck::core::tasks::{Params, Task, TaskInfo, TaskKind};
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("app");
        server
    })
    .await
    .unwrap();
    let app = server.url_for("app");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&app)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE watched (id int)")
        .execute(&mut connection)
        .await
        .unwrap();
    let task = Task {
        info: TaskInfo {
            id: "db-vacuum-analyze".into(),
            title: String::new(),
            description: String::new(),
            destructive: true,
            timeout: Duration::from_secs(60),
            concurrent: false,
            params: vec![
                opsdeck::core::tasks::pg_maintenance::VACUUM_PARAMS[0].clone(),
                opsdeck::core::tasks::DATABASE_PARAM,
            ],
            schedule: None,
        },
        kind: TaskKind::VacuumAnalyze(
            VacuumSettings {
                url: server.url(),
                tables: Vec::new(),
                largest: 10,
                max_transaction_age: Duration::from_secs(3600),
            },
            vec![("app".into(), app.clone())],
        ),
    };
    let params = |pairs: &[(&str, &str)]| -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let plan = task
        .plan(&params(&[("table", "public.watched"), ("database", "app")]))
        .await
        .unwrap();
    assert!(
        plan.lines()
            .iter()
            .any(|line| line.contains("VACUUM (ANALYZE) public.watched")),
        "{:?}",
        plan.lines()
    );
    let elsewhere = task.plan(&params(&[("table", "public.watched")])).await;
    assert!(
        elsewhere.is_err(),
        "the task's own database has no such table: {elsewhere:?}"
    );
    let unknown = task
        .plan(&params(&[
            ("table", "public.watched"),
            ("database", "nope"),
        ]))
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("no [[database]] named `nope`"),
        "{unknown}"
    );
    drop(server);
}
