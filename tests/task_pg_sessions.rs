//! `pg-cancel-query` and `pg-terminate-session` against a real throwaway PostgreSQL: a cancelled
//! `pg_sleep` ends at once and its session stays usable, a terminated session is closed and gone
//! from `pg_stat_activity`, plans that describe the sessions and refuse unknown pids, the missing
//! permission with its GRANT, and clear failures for bad parameters and a server that is down.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use opsdeck::core::tasks::pg_sessions::{self, PARAMS, SessionAction, SessionActionSettings};
use opsdeck::core::tasks::{Output, Params, Plan, PlanStep, TaskContext, TaskError};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A fresh server with an empty database `app`, and that database's URL.
async fn server_with_app() -> (support::PgServer, String) {
    tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("app");
        let url = server.url_for("app");
        (server, url)
    })
    .await
    .expect("start PostgreSQL")
}

fn settings(url: &str) -> SessionActionSettings {
    SessionActionSettings {
        databases: vec![("app".into(), url.to_owned())],
    }
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

async fn select_one(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT 1").fetch_one(conn).await
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

fn notes(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter_map(|step| match step {
            PlanStep::Note { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn statements(plan: &Plan) -> Vec<(&str, &str)> {
    plan.steps
        .iter()
        .filter_map(|step| match step {
            PlanStep::Sql {
                database,
                statement,
            } => Some((database.as_str(), statement.as_str())),
            _ => None,
        })
        .collect()
}

type Sleeper = JoinHandle<(PgConnection, Result<(), sqlx::Error>)>;

/// A session S on `url` running `SELECT pg_sleep(60)`: its pid (read on S before the sleep) and
/// the task awaiting the sleep, which hands S back with the statement's result.
async fn sleeping_session(url: &str, observer: &mut PgConnection) -> (i32, Sleeper) {
    let mut session = connect(url).await;
    let pid = backend_pid(&mut session).await;
    let sleeper = tokio::spawn(async move {
        let result = sqlx::query("SELECT pg_sleep(60)")
            .execute(&mut session)
            .await
            .map(|_| ());
        (session, result)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sleeping: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%')",
        )
        .bind(pid)
        .fetch_one(&mut *observer)
        .await
        .unwrap();
        if sleeping {
            return (pid, sleeper);
        }
        assert!(
            Instant::now() < deadline,
            "pid {pid} never started sleeping"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn present(observer: &mut PgConnection, pid: i32) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
        .bind(pid)
        .fetch_one(observer)
        .await
        .unwrap()
}

fn error_text(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => database.message().to_owned(),
        None => error.to_string(),
    }
}

#[test]
fn the_parameters_are_database_and_pids() {
    let names: Vec<&str> = PARAMS.iter().map(|spec| spec.name).collect();
    assert_eq!(names, ["database", "pids"]);
    assert_eq!(
        PARAMS[1].description,
        "comma-separated backend pids, e.g. 1234,5678"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_ends_the_running_statement_and_keeps_the_session() {
    let (_server, url) = server_with_app().await;
    let settings = settings(&url);
    let mut observer = connect(&url).await;
    let (pid, sleeper) = sleeping_session(&url, &mut observer).await;
    let pids = pid.to_string();

    let plan = pg_sessions::plan(
        SessionAction::Cancel,
        &settings,
        &params(&[("pids", &pids)]),
    )
    .await
    .expect("plan");
    assert_eq!(plan.refusal, None, "{:#?}", plan.lines());
    assert!(plan.warnings.is_empty(), "{:#?}", plan.warnings);
    let statement = format!("SELECT pg_cancel_backend({pid})");
    assert_eq!(statements(&plan), [(url.as_str(), statement.as_str())]);
    let notes = notes(&plan);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let note = notes[0];
    assert!(note.contains(&format!("pid {pid} ")), "{note}");
    assert!(note.contains("on app by postgres, active "), "{note}");
    assert!(note.contains("SELECT pg_sleep(60)"), "{note}");
    assert!(!sleeper.is_finished(), "the plan changed something");

    let (context, mut output) = task_context(&[("database", "app"), ("pids", &pids)]);
    let started = Instant::now();
    let summary = pg_sessions::run(SessionAction::Cancel, &settings, &context)
        .await
        .expect("run");
    assert_eq!(summary.summary, "cancelled the query of 1 session");
    let (mut session, result) = tokio::time::timeout(Duration::from_secs(1), sleeper)
        .await
        .expect("the sleep ended within 1 s of the run")
        .expect("the sleeper did not panic");
    eprintln!(
        "the sleep ended {:?} after the run started",
        started.elapsed()
    );
    let error = result.expect_err("the sleep was cancelled");
    assert_eq!(
        error_text(&error),
        "canceling statement due to user request"
    );
    let lines = drain(&mut output);
    assert!(
        lines.contains(&format!("pid {pid}: query cancelled")),
        "{lines:#?}"
    );
    // Only the statement ended: the session is still there and usable.
    assert_eq!(select_one(&mut session).await.expect("S still works"), 1);
    assert_eq!(backend_pid(&mut session).await, pid);
}

#[tokio::test(flavor = "multi_thread")]
async fn terminate_closes_the_sessions() {
    let (_server, url) = server_with_app().await;
    let settings = settings(&url);
    let mut observer = connect(&url).await;
    let (sleeping, sleeper) = sleeping_session(&url, &mut observer).await;
    let mut idle = connect(&url).await;
    let idle_pid = backend_pid(&mut idle).await;
    let pids = format!("{sleeping}, {idle_pid}");

    let plan = pg_sessions::plan(
        SessionAction::Terminate,
        &settings,
        &params(&[("pids", &pids)]),
    )
    .await
    .expect("plan");
    assert_eq!(plan.refusal, None, "{:#?}", plan.lines());
    let expected = [
        format!("SELECT pg_terminate_backend({sleeping})"),
        format!("SELECT pg_terminate_backend({idle_pid})"),
    ];
    let got: Vec<&str> = statements(&plan).iter().map(|(_, sql)| *sql).collect();
    assert_eq!(got, expected);
    let notes = notes(&plan);
    assert!(notes[0].contains("active") && notes[0].contains("pg_sleep"));
    assert!(
        notes[1].contains(&format!("pid {idle_pid} ")) && notes[1].contains(", idle "),
        "{}",
        notes[1]
    );

    let (context, mut output) = task_context(&[("pids", &pids)]);
    let summary = pg_sessions::run(SessionAction::Terminate, &settings, &context)
        .await
        .expect("run");
    assert_eq!(summary.summary, "terminated 2 sessions");
    let lines = drain(&mut output);
    for pid in [sleeping, idle_pid] {
        assert!(
            lines.contains(&format!("pid {pid}: terminated")),
            "{lines:#?}"
        );
        assert!(!present(&mut observer, pid).await, "pid {pid} still there");
    }
    let (mut session, result) = tokio::time::timeout(Duration::from_secs(1), sleeper)
        .await
        .expect("the sleep ended")
        .expect("the sleeper did not panic");
    assert!(result.is_err(), "the sleep finished normally");
    assert!(select_one(&mut session).await.is_err(), "S still answers");
    assert!(
        select_one(&mut idle).await.is_err(),
        "the idle session still answers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_pids_are_refused_and_bad_parameters_rejected() {
    let (_server, url) = server_with_app().await;
    let settings = settings(&url);
    let mut observer = connect(&url).await;
    let (pid, sleeper) = sleeping_session(&url, &mut observer).await;

    // A pid that is no backend: the plan refuses, naming it (and the good one is not refused).
    let gone = 999_999_999;
    for action in [SessionAction::Cancel, SessionAction::Terminate] {
        let plan = pg_sessions::plan(
            action,
            &settings,
            &params(&[("pids", &format!("{pid},{gone}"))]),
        )
        .await
        .expect("plan");
        assert_eq!(
            plan.refusal.as_deref(),
            Some("no session with pid 999999999 on app")
        );
        assert!(
            plan.lines()
                .iter()
                .any(|line| line == "refused: no session with pid 999999999 on app")
        );
    }

    // Run on its own (the runner would have refused): not signalled, and said so.
    let (context, mut output) = task_context(&[("pids", &gone.to_string())]);
    let summary = pg_sessions::run(SessionAction::Cancel, &settings, &context)
        .await
        .expect("run");
    assert_eq!(
        drain(&mut output).last().map(String::as_str),
        Some(
            "pid 999999999: not signalled (gone, or not yours: needs the pg_signal_backend role \
             or superuser)"
        )
    );
    assert!(
        summary.summary.contains("not signalled"),
        "{}",
        summary.summary
    );

    // Bad parameters, before anything is signalled.
    let bad = [
        (vec![("pids", "abc")], "pids", "`abc`"),
        (vec![("pids", "12,,13")], "pids", "empty entry"),
        (vec![("pids", "0")], "pids", "`0`"),
        (vec![("pids", "-5")], "pids", "`-5`"),
        (vec![("pids", " ")], "pids", "required"),
        (vec![], "pids", "required"),
        (
            vec![("pids", "1234"), ("database", "nope")],
            "database",
            "unknown database `nope`; configured: app",
        ),
    ];
    for (pairs, param, needle) in bad {
        for action in [SessionAction::Cancel, SessionAction::Terminate] {
            let planned = pg_sessions::plan(action, &settings, &params(&pairs)).await;
            let (context, _output) = task_context(&pairs);
            let ran = pg_sessions::run(action, &settings, &context).await;
            for result in [planned.map(|_| ()), ran.map(|_| ())] {
                match result {
                    Err(TaskError::BadParam { name, message }) => {
                        assert_eq!(name, param, "{pairs:?}");
                        assert!(message.contains(needle), "{pairs:?}: {message}");
                    }
                    other => panic!("{pairs:?}: {other:?}"),
                }
            }
        }
    }
    assert!(
        !sleeper.is_finished(),
        "a refused or bad request signalled S"
    );

    // Cancelled before it starts: nothing is signalled.
    let (context, _output) = task_context(&[("pids", &pid.to_string())]);
    context.cancel.cancel();
    assert_eq!(
        pg_sessions::run(SessionAction::Terminate, &settings, &context).await,
        Err(TaskError::Cancelled)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!sleeper.is_finished(), "a cancelled run signalled S");
    assert!(present(&mut observer, pid).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_permission_fails_with_the_grant_that_fixes_it() {
    let (_server, url) = server_with_app().await;
    let mut admin = connect(&url).await;
    execute(
        &mut admin,
        "CREATE ROLE ops LOGIN; CREATE ROLE alice LOGIN;",
    )
    .await;
    let (port, _) = url
        .trim_start_matches("postgres://postgres@127.0.0.1:")
        .split_once('/')
        .unwrap();
    let as_user = |user: &str| format!("postgres://{user}@127.0.0.1:{port}/app");
    let settings = settings(&as_user("ops"));
    let (alices, alice_sleeper) = sleeping_session(&as_user("alice"), &mut admin).await;
    let (postgres, postgres_sleeper) = sleeping_session(&url, &mut admin).await;

    let plan = pg_sessions::plan(
        SessionAction::Cancel,
        &settings,
        &params(&[("pids", &format!("{alices},{postgres}"))]),
    )
    .await
    .expect("plan");
    assert_eq!(plan.refusal, None);
    assert_eq!(plan.warnings.len(), 2, "{:#?}", plan.warnings);
    assert!(
        plan.warnings[0].contains(&format!("pid {alices} belongs to alice"))
            && plan.warnings[0].contains("GRANT pg_signal_backend TO ops;"),
        "{}",
        plan.warnings[0]
    );
    assert!(
        plan.warnings[1].contains("only a superuser may signal it"),
        "{}",
        plan.warnings[1]
    );

    let (context, _output) = task_context(&[("pids", &alices.to_string())]);
    let Err(TaskError::Failed(message)) =
        pg_sessions::run(SessionAction::Cancel, &settings, &context).await
    else {
        panic!("ops cancelled alice's query without pg_signal_backend");
    };
    // The server's wording varies by version ("must be a member of the role …" in 15,
    // "permission denied to cancel query" later); ours does not.
    assert!(
        message.contains(&format!("cannot cancel the query of pid {alices} on ")),
        "{message}"
    );
    assert!(
        message.contains("fix: GRANT pg_signal_backend TO ops;"),
        "{message}"
    );
    assert!(!alice_sleeper.is_finished());

    execute(&mut admin, "GRANT pg_signal_backend TO ops").await;
    let (context, _output) = task_context(&[("pids", &alices.to_string())]);
    let summary = pg_sessions::run(SessionAction::Cancel, &settings, &context)
        .await
        .expect("cancel with pg_signal_backend");
    assert_eq!(summary.summary, "cancelled the query of 1 session");
    let (_, result) = tokio::time::timeout(Duration::from_secs(1), alice_sleeper)
        .await
        .expect("alice's sleep ended")
        .unwrap();
    assert!(result.is_err());

    // pg_signal_backend does not reach a superuser's session.
    let (context, _output) = task_context(&[("pids", &postgres.to_string())]);
    let Err(TaskError::Failed(message)) =
        pg_sessions::run(SessionAction::Terminate, &settings, &context).await
    else {
        panic!("ops terminated a superuser's session");
    };
    assert!(
        message.contains(&format!("cannot terminate pid {postgres} on ")),
        "{message}"
    );
    assert!(!postgres_sleeper.is_finished());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_down_fails_clearly_with_the_password_masked() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://ops:s3cret-pw@127.0.0.1:{port}/app");
    let settings = SessionActionSettings {
        databases: vec![
            ("app".into(), url.clone()),
            ("other".into(), "postgres://x@127.0.0.1:1/x".into()),
        ],
    };
    let started = Instant::now();
    for action in [SessionAction::Cancel, SessionAction::Terminate] {
        let planned = pg_sessions::plan(action, &settings, &params(&[("pids", "1234")])).await;
        let (context, _output) = task_context(&[("database", "app"), ("pids", "1234")]);
        let ran = pg_sessions::run(action, &settings, &context).await;
        for result in [planned.map(|_| ()), ran.map(|_| ())] {
            let Err(TaskError::Failed(message)) = result else {
                panic!("{action:?}: {result:?}")
            };
            assert!(!message.contains("s3cret-pw"), "{message}");
            assert!(
                message.contains(&format!(
                    "cannot connect to postgres://ops:***@127.0.0.1:{port}/app"
                )),
                "{message}"
            );
            assert!(message.contains("is PostgreSQL running?"), "{message}");
            assert!(message.contains("[[database]] named `app`"), "{message}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Through the runner, as the queries pane uses it: read-only refuses both actions (and the
/// refusal is audited), an unconfirmed request is refused, and a confirmed "cancel query" runs,
/// is audited with its exact SQL, and leaves the session alive.
#[tokio::test(flavor = "multi_thread")]
async fn the_runner_confirms_audits_and_refuses_in_read_only() {
    use opsdeck::core::execution::{Identity, TaskSettings};
    use opsdeck::core::model::RunStatus;
    use opsdeck::core::protocol::{Event, Request};
    use opsdeck::core::runner::{self, RunnerSettings};
    use opsdeck::core::store::{Store, StoreLocation};
    use opsdeck::core::tasks::{Task, TaskInfo, TaskKind};

    let (server, url) = server_with_app().await;
    let mut observer = connect(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let location = StoreLocation::Sqlite(dir.path().join("state.db"));
    let tasks = || {
        [SessionAction::Cancel, SessionAction::Terminate]
            .into_iter()
            .map(|action| Task {
                info: TaskInfo {
                    id: action.task_id().into(),
                    title: action.task_id().into(),
                    description: String::new(),
                    destructive: true,
                    timeout: Duration::from_secs(30),
                    concurrent: true,
                    params: PARAMS.to_vec(),
                    schedule: None,
                },
                kind: TaskKind::Session(action, settings(&url)),
            })
            .collect::<Vec<_>>()
    };
    let spawn = |store: Store, read_only: bool| {
        runner::spawn(
            RunnerSettings::tasks_only(TaskSettings {
                tasks: tasks(),
                read_only,
                identity: Identity {
                    user: "oncall".into(),
                    client: None,
                    host: "h".into(),
                    pid: std::process::id(),
                },
                runs_dir: None,
            }),
            Some(store),
        )
    };
    let (pid, sleeper) = sleeping_session(&url, &mut observer).await;
    let request = |task_id: &str, confirmed: bool| Request::StartTask {
        task_id: task_id.into(),
        params: params(&[("database", "app"), ("pids", &pid.to_string())]),
        confirmed: if confirmed {
            opsdeck::core::tasks::Confirmed::AsPlannedThen
        } else {
            opsdeck::core::tasks::Confirmed::No
        },
    };
    async fn refusal(runner: &mut opsdeck::core::runner::RunnerHandle) -> String {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), runner.events.recv())
                .await
                .unwrap()
                .unwrap()
            {
                Event::TaskRefused { reason, .. } => return reason,
                Event::TaskStarted(run) => panic!("started: {run:?}"),
                _ => {}
            }
        }
    }

    let store = Store::open(&location).await.unwrap();
    let mut read_only = spawn(store.clone(), true);
    for task_id in ["pg-cancel-query", "pg-terminate-session"] {
        read_only.requests.send(request(task_id, true)).unwrap();
        assert!(refusal(&mut read_only).await.contains("read-only"));
    }
    read_only.requests.send(Request::Shutdown).unwrap();
    let _ = read_only.task.await;
    assert!(
        present(&mut observer, pid).await,
        "the session was touched in read-only mode"
    );

    let store = Store::open(&location).await.unwrap();
    let mut runner = spawn(store.clone(), false);
    runner
        .requests
        .send(request("pg-cancel-query", false))
        .unwrap();
    assert!(refusal(&mut runner).await.contains("confirm"));
    runner
        .requests
        .send(request("pg-cancel-query", true))
        .unwrap();
    let run = loop {
        match tokio::time::timeout(Duration::from_secs(10), runner.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Event::TaskFinished(run) => break run,
            Event::TaskRefused { reason, .. } => panic!("{reason}"),
            _ => {}
        }
    };
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(
        run.plan
            .iter()
            .any(|line| line.contains(&format!("pg_cancel_backend({pid})"))),
        "{:?}",
        run.plan
    );
    let (mut session, result) = sleeper.await.unwrap();
    assert!(error_text(&result.unwrap_err()).contains("canceling statement due to user request"));
    assert_eq!(
        select_one(&mut session).await.unwrap(),
        1,
        "the session survives a cancel"
    );
    let audit = store.runs(None, 10).await.unwrap();
    let statuses: Vec<(&str, RunStatus)> = audit
        .iter()
        .map(|run| (run.task_id.as_str(), run.status))
        .collect();
    assert!(
        statuses.contains(&("pg-cancel-query", RunStatus::Succeeded)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|(_, status)| *status == RunStatus::Refused)
            .count(),
        3,
        "{statuses:?}"
    );
    runner.requests.send(Request::Shutdown).unwrap();
    let _ = runner.task.await;
    drop(server);
}
