//! The `cache-cleanup` task against throwaway Redis servers: the plan counts without changing
//! anything, a run sets missing TTLs and deletes idle keys only under the configured patterns,
//! never with KEYS or FLUSHALL, LFU policies skip idle deletion, a Redis that is down gives a
//! clear failure and cancellation stops a run within a second.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use opsdeck::core::tasks::cache_cleanup::{self, CacheCleanupSettings, CachePattern};
use opsdeck::core::tasks::{Output, Params, Plan, PlanStep, TaskContext, TaskError};
use redis::aio::MultiplexedConnection;
use support::RedisServer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);

async fn start_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("starting redis-server")
}

async fn connect(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

async fn exec(con: &mut MultiplexedConnection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    let _: redis::Value = cmd
        .query_async(con)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

async fn ttl(con: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("TTL")
        .arg(key)
        .query_async(con)
        .await
        .expect("TTL")
}

async fn exists(con: &mut MultiplexedConnection, key: &str) -> bool {
    let n: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(con)
        .await
        .expect("EXISTS");
    n == 1
}

/// The seed defaults of the maintenance guides.
fn seed_patterns() -> Vec<CachePattern> {
    [
        ("policy:*", 3600),
        ("template:*", 1800),
        ("analysis:*", 900),
        ("temp:*", 300),
    ]
    .into_iter()
    .map(|(pattern, secs)| CachePattern {
        pattern: pattern.into(),
        ttl: Duration::from_secs(secs),
    })
    .collect()
}

fn settings(url: &str, delete_idle_after: Duration) -> CacheCleanupSettings {
    CacheCleanupSettings {
        url: url.into(),
        patterns: seed_patterns(),
        delete_idle_after,
        scan_count: 100,
    }
}

fn context(cancel: CancellationToken) -> (TaskContext, mpsc::UnboundedReceiver<String>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let context = TaskContext {
        params: Params::new(),
        output: Output::new(sender),
        cancel,
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

fn notes(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|step| match step {
            PlanStep::Note { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn note_for<'a>(notes: &'a [String], pattern: &str) -> &'a str {
    notes
        .iter()
        .find(|note| note.starts_with(&format!("{pattern} — ")))
        .unwrap_or_else(|| panic!("no plan note for {pattern} in {notes:#?}"))
}

/// `policy:a` no TTL, `policy:b` TTL 100, `template:x` no TTL, `other:keep` and `user:1` no TTL.
async fn seed(con: &mut MultiplexedConnection) {
    for key in ["policy:a", "template:x", "other:keep", "user:1"] {
        exec(con, &["SET", key, "some cached value"]).await;
    }
    exec(con, &["SET", "policy:b", "cached with a ttl", "EX", "100"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_counts_without_changing_then_run_sets_missing_ttls_only_under_the_patterns() {
    let server = start_redis().await;
    let mut admin = connect(&server.url()).await;
    // A user that may not run KEYS, FLUSHALL or FLUSHDB: the task has to do without them.
    exec(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "cleaner",
            "on",
            ">s3cr3t-pw",
            "~*",
            "+@all",
            "-keys",
            "-flushall",
            "-flushdb",
        ],
    )
    .await;
    seed(&mut admin).await;
    let url = format!("redis://cleaner:s3cr3t-pw@127.0.0.1:{}/", server.port());
    let settings = settings(&url, THIRTY_DAYS);

    let plan = cache_cleanup::plan(&settings, &Params::new())
        .await
        .expect("plan");
    let notes = notes(&plan);
    assert_eq!(
        note_for(&notes, "policy:*"),
        "policy:* — 2 keys, 1 without TTL would get EXPIRE 3600, 0 idle > 30days would be \
         deleted (0 B)"
    );
    assert_eq!(
        note_for(&notes, "template:*"),
        "template:* — 1 key, 1 without TTL would get EXPIRE 1800, 0 idle > 30days would be \
         deleted (0 B)"
    );
    assert!(note_for(&notes, "analysis:*").starts_with("analysis:* — 0 keys, 0 without TTL"));
    assert!(note_for(&notes, "temp:*").starts_with("temp:* — 0 keys, 0 without TTL"));
    assert!(
        notes
            .iter()
            .any(|note| note.contains("SCAN") && note.contains("never KEYS, FLUSHALL")),
        "{notes:#?}"
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert_eq!(plan.refusal, None);
    let shown = plan.lines().join("\n");
    assert!(!shown.contains("s3cr3t-pw"), "password shown: {shown}");
    assert!(shown.contains("cleaner:***@127.0.0.1"), "{shown}");

    // The plan is a dry run.
    for key in ["policy:a", "template:x", "other:keep", "user:1"] {
        assert_eq!(ttl(&mut admin, key).await, -1, "{key} after plan");
    }

    let (context, mut lines) = context(CancellationToken::new());
    let started = Instant::now();
    let summary = cache_cleanup::run(&settings, &context).await.expect("run");
    eprintln!("run took {:?}", started.elapsed());
    assert_eq!(summary.exit_code, None);
    assert_eq!(
        summary.summary,
        "scanned 3 keys in 4 patterns: set TTL on 2, deleted 0 idle keys, freed 0 B"
    );
    let output = drain(&mut lines);
    eprintln!("output:\n{}", output.join("\n"));
    assert!(
        output.iter().any(|line| line
            == "policy:* — scanned 2 keys, set TTL on 1 (EXPIRE 3600), deleted 0 idle keys, freed 0 B"),
        "{output:#?}"
    );
    assert!(
        output
            .iter()
            .any(|line| line.starts_with("template:* — scanned 1 key, set TTL on 1")),
        "{output:#?}"
    );
    assert!(output.iter().all(|line| !line.contains("s3cr3t-pw")));

    let policy_a = ttl(&mut admin, "policy:a").await;
    assert!(policy_a > 0 && policy_a <= 3600, "policy:a TTL {policy_a}");
    let policy_b = ttl(&mut admin, "policy:b").await;
    assert!(policy_b > 0 && policy_b <= 100, "policy:b TTL {policy_b}");
    let template_x = ttl(&mut admin, "template:x").await;
    assert!(
        template_x > 0 && template_x <= 1800,
        "template:x TTL {template_x}"
    );
    for key in ["other:keep", "user:1"] {
        assert!(exists(&mut admin, key).await, "{key} was deleted");
        assert_eq!(ttl(&mut admin, key).await, -1, "{key} got a TTL");
    }

    // A second run finds nothing left to do.
    let summary = cache_cleanup::run(&settings, &context)
        .await
        .expect("second run");
    assert_eq!(
        summary.summary,
        "scanned 3 keys in 4 patterns: set TTL on 0, deleted 0 idle keys, freed 0 B"
    );

    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut admin)
        .await
        .expect("INFO commandstats");
    assert!(stats.contains("cmdstat_scan:"), "{stats}");
    for forbidden in ["cmdstat_keys:", "cmdstat_flushall:", "cmdstat_flushdb:"] {
        assert!(!stats.contains(forbidden), "{forbidden} was used:\n{stats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keys_under_the_patterns_are_deleted_and_the_rest_is_left_alone() {
    let server = start_redis().await;
    let mut con = connect(&server.url()).await;
    exec(&mut con, &["SET", "policy:old", &"x".repeat(2000)]).await;
    exec(
        &mut con,
        &["SET", "temp:old", &"y".repeat(500), "EX", "1000"],
    )
    .await;
    exec(&mut con, &["SET", "other:old", "z"]).await;
    exec(&mut con, &["SET", "user:1", "z"]).await;
    // Idle time has a resolution of one second: after 2.2 s the keys are idle for 2 s or more.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    exec(&mut con, &["SET", "policy:fresh", "just written"]).await;
    let settings = settings(&server.url(), Duration::from_secs(1));

    let plan = cache_cleanup::plan(&settings, &Params::new())
        .await
        .expect("plan");
    let notes = notes(&plan);
    let policy = note_for(&notes, "policy:*");
    assert!(
        policy.starts_with(
            "policy:* — 2 keys, 1 without TTL would get EXPIRE 3600, 1 idle > 1s would be deleted ("
        ),
        "{policy}"
    );
    assert!(!policy.ends_with("(0 B)"), "{policy}");
    let temp = note_for(&notes, "temp:*");
    assert!(
        temp.starts_with(
            "temp:* — 1 key, 0 without TTL would get EXPIRE 300, 1 idle > 1s would be deleted ("
        ),
        "{temp}"
    );
    for key in ["policy:old", "temp:old", "policy:fresh"] {
        assert!(exists(&mut con, key).await, "plan deleted {key}");
    }

    let (context, mut lines) = context(CancellationToken::new());
    let summary = cache_cleanup::run(&settings, &context).await.expect("run");
    assert!(
        summary
            .summary
            .starts_with("scanned 3 keys in 4 patterns: set TTL on 1, deleted 2 idle keys, freed "),
        "{}",
        summary.summary
    );
    assert!(
        !summary.summary.ends_with("freed 0 B"),
        "{}",
        summary.summary
    );
    let output = drain(&mut lines);
    assert!(
        output.iter().any(|line| line.starts_with(
            "temp:* — scanned 1 key, set TTL on 0 (EXPIRE 300), deleted 1 idle key, freed "
        )),
        "{output:#?}"
    );

    assert!(!exists(&mut con, "policy:old").await);
    assert!(!exists(&mut con, "temp:old").await);
    assert!(exists(&mut con, "policy:fresh").await);
    let fresh = ttl(&mut con, "policy:fresh").await;
    assert!(fresh > 0 && fresh <= 3600, "policy:fresh TTL {fresh}");
    for key in ["other:old", "user:1"] {
        assert!(
            exists(&mut con, key).await,
            "{key} outside the patterns was deleted"
        );
        assert_eq!(ttl(&mut con, key).await, -1, "{key} got a TTL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_matching_two_patterns_is_handled_once_by_the_first() {
    let server = start_redis().await;
    let mut con = connect(&server.url()).await;
    exec(&mut con, &["SET", "cache:user:1", "v"]).await;
    exec(&mut con, &["SET", "cache:other", "v"]).await;
    let settings = CacheCleanupSettings {
        url: server.url(),
        patterns: vec![
            CachePattern {
                pattern: "cache:*".into(),
                ttl: Duration::from_secs(100),
            },
            CachePattern {
                pattern: "cache:user:*".into(),
                ttl: Duration::from_secs(5000),
            },
        ],
        delete_idle_after: THIRTY_DAYS,
        scan_count: 1,
    };

    let plan = cache_cleanup::plan(&settings, &Params::new())
        .await
        .expect("plan");
    let notes = notes(&plan);
    assert!(note_for(&notes, "cache:*").starts_with("cache:* — 2 keys, 2 without TTL"));
    assert!(
        note_for(&notes, "cache:user:*").starts_with("cache:user:* — 0 keys, 0 without TTL"),
        "{notes:#?}"
    );
    assert!(note_for(&notes, "cache:user:*").ends_with("(1 key left to an earlier pattern)"));

    let (context, _lines) = context(CancellationToken::new());
    let summary = cache_cleanup::run(&settings, &context).await.expect("run");
    assert_eq!(
        summary.summary,
        "scanned 2 keys in 2 patterns: set TTL on 2, deleted 0 idle keys, freed 0 B"
    );
    let user = ttl(&mut con, "cache:user:1").await;
    assert!(user > 0 && user <= 100, "cache:user:1 TTL {user}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_gives_a_clear_failure_with_the_password_masked() {
    let mut server = start_redis().await;
    let port = server.port();
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .expect("stopping redis-server");
    let url = format!("redis://:hunter2@127.0.0.1:{port}/");
    let settings = settings(&url, THIRTY_DAYS);

    let started = Instant::now();
    let error = cache_cleanup::plan(&settings, &Params::new())
        .await
        .expect_err("plan against a stopped redis");
    let TaskError::Failed(message) = &error else {
        panic!("expected Failed, got {error:?}");
    };
    eprintln!("plan against a stopped redis: {message}");
    assert!(
        message.contains(&format!("redis://:***@127.0.0.1:{port}/")),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(message.contains("is redis-server running?"), "{message}");
    assert!(message.contains("[tasks.cache-cleanup] url"), "{message}");

    let (context, _lines) = context(CancellationToken::new());
    let error = cache_cleanup::run(&settings, &context)
        .await
        .expect_err("run against a stopped redis");
    assert!(
        matches!(&error, TaskError::Failed(run_message) if run_message == message),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_before_it_starts_changes_nothing() {
    let server = start_redis().await;
    let mut con = connect(&server.url()).await;
    seed(&mut con).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let (context, _lines) = context(cancel);

    let started = Instant::now();
    let result = cache_cleanup::run(&settings(&server.url(), Duration::ZERO), &context).await;
    assert_eq!(result, Err(TaskError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(ttl(&mut con, "policy:a").await, -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_stops_it_within_a_second() {
    const KEYS: usize = 5_000;
    let server = start_redis().await;
    let mut con = connect(&server.url()).await;
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("SET").arg(format!("temp:{i}")).arg("v").ignore();
    }
    let () = pipe
        .query_async(&mut con)
        .await
        .expect("seeding temp:* keys");

    let mut settings = settings(&server.url(), THIRTY_DAYS);
    settings.scan_count = 10;
    let cancel = CancellationToken::new();
    let (context, mut lines) = context(cancel.clone());
    let run = tokio::spawn(async move { cache_cleanup::run(&settings, &context).await });

    let first = tokio::time::timeout(Duration::from_secs(10), lines.recv())
        .await
        .expect("no output within 10 s")
        .expect("output closed without a line");
    assert!(
        first.starts_with("connected to redis://127.0.0.1:"),
        "{first}"
    );
    cancel.cancel();
    let cancelled_at = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("the run did not stop within 1 s of cancellation")
        .expect("run task panicked");
    eprintln!("stopped {:?} after cancel", cancelled_at.elapsed());
    assert_eq!(result, Err(TaskError::Cancelled));

    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("TTL").arg(format!("temp:{i}"));
    }
    let ttls: Vec<i64> = pipe.query_async(&mut con).await.expect("TTLs");
    let with_ttl = ttls.iter().filter(|ttl| **ttl > 0).count();
    assert!(
        with_ttl < KEYS,
        "all {KEYS} keys got a TTL: the run was not stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lfu_policy_skips_idle_deletion_but_still_sets_ttls() {
    let server = start_redis().await;
    let mut con = connect(&server.url()).await;
    exec(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    )
    .await;
    exec(&mut con, &["SET", "policy:a", "v"]).await;
    exec(&mut con, &["SET", "template:x", "v"]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let settings = settings(&server.url(), Duration::ZERO);

    let plan = cache_cleanup::plan(&settings, &Params::new())
        .await
        .expect("plan");
    assert!(
        plan.warnings
            .iter()
            .any(|warning| warning.contains("allkeys-lfu")
                && warning.contains("idle-based deletion is skipped")),
        "{:?}",
        plan.warnings
    );
    let notes = notes(&plan);
    assert_eq!(
        note_for(&notes, "policy:*"),
        "policy:* — 1 key, 1 without TTL would get EXPIRE 3600, idle-based deletion skipped (LFU \
         maxmemory-policy)"
    );

    // A user that may not read INFO or CONFIG: the task finds out from OBJECT IDLETIME itself.
    exec(
        &mut con,
        &[
            "ACL",
            "SETUSER",
            "limited",
            "on",
            ">pw-limited",
            "~*",
            "+@all",
            "-config",
            "-info",
        ],
    )
    .await;
    let mut limited = settings.clone();
    limited.url = format!("redis://limited:pw-limited@127.0.0.1:{}/", server.port());
    for settings in [&settings, &limited] {
        exec(&mut con, &["PERSIST", "policy:a"]).await;
        exec(&mut con, &["PERSIST", "template:x"]).await;
        let (context, mut lines) = context(CancellationToken::new());
        let summary = cache_cleanup::run(settings, &context).await.expect("run");
        assert_eq!(
            summary.summary,
            "scanned 2 keys in 4 patterns: set TTL on 2, deleted 0 idle keys, freed 0 B; \
             idle-based deletion skipped (LFU maxmemory-policy)"
        );
        let output = drain(&mut lines);
        assert!(
            output
                .iter()
                .any(|line| line.contains("idle-based deletion is skipped; TTLs are still set")),
            "{output:#?}"
        );
        for key in ["policy:a", "template:x"] {
            assert!(exists(&mut con, key).await, "{key} was deleted");
            assert!(ttl(&mut con, key).await > 0, "{key} got no TTL");
        }
    }
}
