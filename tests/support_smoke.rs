//! Smoke tests for `tests/support`: the throwaway PostgreSQL and Redis
//! servers really start, serve, stop, restart and clean up after panics.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use support::{PgServer, RedisServer, port_accepts, resp_command};

async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url)).await {
        Ok(result) => result,
        Err(_) => panic!("connecting to {url} hung for 10 s"),
    }
}

async fn select_one(url: &str) -> i32 {
    let mut conn = connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .expect("SELECT 1");
    conn.close().await.expect("close connection");
    one
}

#[test]
fn postgres_serves_stops_and_restarts_on_the_same_port() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let t = Instant::now();
    let mut pg = PgServer::start();
    eprintln!(
        "PgServer::start took {:?} (port {})",
        t.elapsed(),
        pg.port()
    );
    let port = pg.port();
    let url = pg.url();
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    );
    assert_eq!(
        pg.url_for("other"),
        format!("postgres://postgres@127.0.0.1:{port}/other")
    );
    for tool in ["psql", "pg_dump", "pgbench", "pg_isready"] {
        assert!(
            pg.bin_dir().join(tool).is_file(),
            "{tool} missing from {}",
            pg.bin_dir().display()
        );
    }

    rt.block_on(async {
        let mut conn = connect(&url).await.expect("connect to fresh server");
        let preload: String = sqlx::query_scalar("SHOW shared_preload_libraries")
            .fetch_one(&mut conn)
            .await
            .expect("SHOW shared_preload_libraries");
        assert!(
            preload.contains("pg_stat_statements"),
            "shared_preload_libraries = {preload:?}"
        );
        sqlx::query("CREATE EXTENSION pg_stat_statements")
            .execute(&mut conn)
            .await
            .expect("CREATE EXTENSION pg_stat_statements");
        // The view only works when the library really is preloaded.
        let calls: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_statements")
            .fetch_one(&mut conn)
            .await
            .expect("query pg_stat_statements");
        assert!(calls >= 0);
        conn.close().await.expect("close connection");
    });

    pg.create_database("opsdeck_smoke");
    let other_url = pg.url_for("opsdeck_smoke");
    rt.block_on(async {
        let mut conn = connect(&other_url)
            .await
            .expect("connect to created database");
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .expect("SELECT current_database()");
        assert_eq!(name, "opsdeck_smoke");
        conn.close().await.expect("close connection");
    });

    let t = Instant::now();
    pg.stop();
    eprintln!("PgServer::stop took {:?}", t.elapsed());
    assert!(
        !port_accepts(port),
        "port {port} still accepts after stop()"
    );
    rt.block_on(async {
        assert!(
            connect(&url).await.is_err(),
            "connecting after stop() unexpectedly worked"
        );
    });
    pg.stop(); // idempotent

    let t = Instant::now();
    pg.restart();
    eprintln!("PgServer::restart took {:?}", t.elapsed());
    assert_eq!(pg.port(), port, "restart() must keep the port");
    assert_eq!(pg.url(), url);
    rt.block_on(async {
        assert_eq!(select_one(&url).await, 1);
        // Data survives the restart.
        assert_eq!(select_one(&other_url).await, 1);
    });
}

#[tokio::test]
async fn postgres_can_be_used_from_a_tokio_test() {
    let pg = PgServer::start();
    assert_eq!(select_one(&pg.url()).await, 1);
}

#[test]
fn redis_serves_stops_and_restarts_on_the_same_port() {
    let t = Instant::now();
    let mut redis = RedisServer::start();
    eprintln!(
        "RedisServer::start took {:?} (port {})",
        t.elapsed(),
        redis.port()
    );
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}/"));

    assert_eq!(resp_command(port, &["PING"]).expect("PING"), "+PONG");
    assert_eq!(
        resp_command(port, &["SET", "opsdeck:smoke", "hello world"]).expect("SET"),
        "+OK"
    );
    assert_eq!(
        resp_command(port, &["GET", "opsdeck:smoke"]).expect("GET"),
        "hello world"
    );
    assert_eq!(
        resp_command(port, &["GET", "opsdeck:missing"]).expect("GET missing"),
        "(nil)"
    );

    let t = Instant::now();
    redis.stop();
    eprintln!("RedisServer::stop took {:?}", t.elapsed());
    assert!(
        !port_accepts(port),
        "port {port} still accepts after stop()"
    );
    assert!(resp_command(port, &["PING"]).is_err());
    redis.stop(); // idempotent

    let t = Instant::now();
    redis.restart();
    eprintln!("RedisServer::restart took {:?}", t.elapsed());
    assert_eq!(redis.port(), port, "restart() must keep the port");
    assert_eq!(resp_command(port, &["PING"]).expect("PING"), "+PONG");
    // Nothing is persisted across restarts.
    assert_eq!(
        resp_command(port, &["GET", "opsdeck:smoke"]).expect("GET"),
        "(nil)"
    );
}

#[test]
fn servers_are_stopped_when_the_owning_scope_panics() {
    let seen: Arc<Mutex<Option<(u16, std::path::PathBuf, u16)>>> = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let joined = std::thread::spawn(move || {
        let pg = PgServer::start();
        let redis = RedisServer::start();
        assert!(port_accepts(pg.port()));
        assert!(port_accepts(redis.port()));
        *record.lock().unwrap() = Some((pg.port(), pg.data_dir().to_path_buf(), redis.port()));
        panic!("intentional panic: the servers must be stopped during unwinding");
    })
    .join();
    assert!(joined.is_err(), "the thread was expected to panic");

    let (pg_port, data_dir, redis_port) = seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
        .expect("the thread recorded its ports before panicking");
    assert!(
        !port_accepts(pg_port),
        "postgres still accepts on port {pg_port} after the panic"
    );
    assert!(
        !port_accepts(redis_port),
        "redis still accepts on port {redis_port} after the panic"
    );
    assert!(
        !data_dir.exists(),
        "{} was not removed after the panic",
        data_dir.display()
    );
}
