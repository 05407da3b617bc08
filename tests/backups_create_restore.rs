//! `backup-create` and the restore test against real servers: gzip and custom pg_dumps of a
//! seeded database (sidecar digest checked), restore tests of each that count the right rows and
//! leave no scratch database behind, a truncated dump and an empty sanity table that fail with
//! clear messages (and still leave nothing behind), cancellation of a dump waiting for a lock and
//! of a restore, a Redis BGSAVE copy, a tar.gz of a directory tree, a missing backup directory,
//! and plans that never show a password.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Local, TimeZone, Utc};
use opsdeck::core::backups::{
    BackupFile, BackupSet, BackupTools, CreateSource, DetectedKind, DumpFormat, ExpectedKind,
    Freshness, RestoreSettings, RestoreTest, Retention,
};
use opsdeck::core::tasks::backups::create::{self, target_path};
use opsdeck::core::tasks::backups::restore::{self, scratch_database};
use opsdeck::core::tasks::{Output, Plan, TaskContext, TaskError};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn task_context() -> (TaskContext, mpsc::UnboundedReceiver<String>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let context = TaskContext {
        params: Default::default(),
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

fn backup_set(name: &str, directory: &Path, kind: ExpectedKind) -> BackupSet {
    BackupSet {
        name: name.to_owned(),
        directory: directory.to_path_buf(),
        patterns: Vec::new(),
        kind,
        freshness: Freshness::MaxAge(Duration::from_secs(86_400)),
        retention: Retention::Days(30),
        min_size: 1,
        encryption_required: false,
        create: None,
        prefix: name.to_owned(),
        restore: None,
    }
}

fn backup_file(path: &Path, kind: DetectedKind) -> BackupFile {
    let size = fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
    BackupFile {
        path: path.to_path_buf(),
        time: Utc::now(),
        time_from_name: true,
        modified: Utc::now(),
        size,
        kind,
        problem: None,
        sidecar: None,
    }
}

fn sha256_hex(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The sidecar is in sha256sum format and matches the file; no partial is left.
fn assert_sidecar(path: &Path) {
    let sidecar = PathBuf::from(format!("{}.sha256", path.display()));
    let text = fs::read_to_string(&sidecar).expect("sidecar written");
    let name = path.file_name().unwrap().to_string_lossy();
    assert_eq!(text, format!("{}  {name}\n", sha256_hex(path)));
    assert!(!Path::new(&format!("{}.partial", path.display())).exists());
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .expect("a complete gzip file");
    text
}

async fn execute(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}

async fn scratch_databases(url: &str) -> Vec<String> {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let names = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'opsdeck_restore_%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list databases");
    conn.close().await.ok();
    names
}

async fn restore_test(
    server_url: &str,
    set: &BackupSet,
    file: &BackupFile,
    tools: &BackupTools,
    tables: &[&str],
    queries: &[&str],
) -> (Result<RestoreTest, TaskError>, Vec<String>) {
    let settings = RestoreSettings {
        url: server_url.to_owned(),
        tables: tables.iter().map(|table| (*table).to_owned()).collect(),
        queries: queries.iter().map(|query| (*query).to_owned()).collect(),
        max_age: Duration::from_secs(30 * 86_400),
    };
    let database = scratch_database(set, Utc::now());
    let (context, mut receiver) = task_context();
    let result = restore::restore_test(set, &settings, tools, file, &database, &context).await;
    (result, drain(&mut receiver))
}

const COUNT_QUERY: &str = "SELECT count(*) > 100 FROM orders";
const SUM_QUERY: &str = "SELECT sum(amount) FROM orders";

/// One server for everything PostgreSQL: dumps, restore tests, failures and cancellation.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_dumps_are_made_and_restore_tested() {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("shop");
        server
    })
    .await
    .expect("start PostgreSQL");
    let shop = server.url_for("shop");
    execute(
        &shop,
        "CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(10,2) NOT NULL);
         INSERT INTO orders SELECT g, g / 100.0 FROM generate_series(1, 5000) g;
         CREATE TABLE empty_things (id int);",
    )
    .await;
    let tools = BackupTools::new(Some(server.bin_dir()));
    let dir = tempfile::tempdir().unwrap();
    let at = Local.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();

    // --- gzip dump ---
    let gzip_set = backup_set("shop", dir.path(), ExpectedKind::PgDumpGzip);
    let gzip_source = CreateSource::Postgres {
        url: shop.clone(),
        format: DumpFormat::Gzip,
    };
    let target = target_path(&gzip_set, &gzip_source, at);
    assert_eq!(target, dir.path().join("shop_20240506_070809.sql.gz"));
    let (context, mut receiver) = task_context();
    let (gzip_path, size) = create::create(&gzip_set, &gzip_source, &tools, &target, &context)
        .await
        .expect("gzip dump");
    assert_eq!(gzip_path, target);
    assert_eq!(size, fs::metadata(&gzip_path).unwrap().len());
    assert_sidecar(&gzip_path);
    let sql = gunzip(&gzip_path);
    assert!(sql.contains("PostgreSQL database dump"), "{sql:.200}");
    assert!(sql.contains("CREATE TABLE public.orders"));
    let lines = drain(&mut receiver);
    assert!(
        lines.iter().any(
            |line| line.starts_with(&format!("wrote {}", gzip_path.display()))
                && line.contains("sha256 ")
        ),
        "{lines:?}"
    );

    // --- custom dump ---
    let custom_set = backup_set("shop_custom", dir.path(), ExpectedKind::PgDumpCustom);
    let custom_source = CreateSource::Postgres {
        url: shop.clone(),
        format: DumpFormat::Custom,
    };
    let target = target_path(&custom_set, &custom_source, at);
    assert!(target.to_string_lossy().ends_with(".dump"));
    let (context, _receiver) = task_context();
    let (custom_path, _) = create::create(&custom_set, &custom_source, &tools, &target, &context)
        .await
        .expect("custom dump");
    assert!(fs::read(&custom_path).unwrap().starts_with(b"PGDMP"));
    assert_sidecar(&custom_path);

    // An existing backup is never overwritten.
    let (context, _receiver) = task_context();
    let error = create::create(&custom_set, &custom_source, &tools, &target, &context)
        .await
        .expect_err("target exists");
    assert!(error.to_string().contains("already exists"), "{error}");

    // --- restore tests of both ---
    let server_url = server.url();
    for (set, path, kind) in [
        (&gzip_set, &gzip_path, DetectedKind::PgDumpPlainGzip),
        (&custom_set, &custom_path, DetectedKind::PgDumpCustom),
    ] {
        let file = backup_file(path, kind);
        let (result, lines) = restore_test(
            &server_url,
            set,
            &file,
            &tools,
            &["orders", "public.orders"],
            &[COUNT_QUERY, SUM_QUERY],
        )
        .await;
        let test = result.unwrap_or_else(|e| panic!("restore test of {}: {e}", path.display()));
        assert!(test.ok, "{}: {}\n{lines:#?}", path.display(), test.message);
        assert_eq!(test.file, *path);
        assert_eq!(test.set, set.name);
        assert_eq!(
            test.counts,
            vec![
                ("orders".to_owned(), 5000),
                ("public.orders".to_owned(), 5000),
                (COUNT_QUERY.to_owned(), 1),
                // sum of g/100 for g in 1..=5000
                (SUM_QUERY.to_owned(), 125_025),
            ]
        );
        assert!(test.duration_ms > 0);
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("dropped scratch database")),
            "{lines:#?}"
        );
        assert_eq!(scratch_databases(&server_url).await, Vec::<String>::new());
    }

    // --- an empty sanity table fails the test ---
    let file = backup_file(&gzip_path, DetectedKind::PgDumpPlainGzip);
    let (result, _) = restore_test(
        &server_url,
        &gzip_set,
        &file,
        &tools,
        &["orders", "empty_things"],
        &[],
    )
    .await;
    let test = result.expect("a failed check is a result");
    assert!(!test.ok);
    assert!(
        test.message.contains("empty_things") && test.message.contains("empty"),
        "{}",
        test.message
    );
    assert_eq!(
        test.counts,
        vec![("orders".to_owned(), 5000), ("empty_things".to_owned(), 0)]
    );
    assert_eq!(scratch_databases(&server_url).await, Vec::<String>::new());

    // --- a query that is false fails it too ---
    let (result, _) = restore_test(
        &server_url,
        &gzip_set,
        &file,
        &tools,
        &[],
        &["SELECT count(*) > 1000000 FROM orders"],
    )
    .await;
    let test = result.expect("a failed check is a result");
    assert!(!test.ok);
    assert!(
        test.message.contains("count(*) > 1000000"),
        "{}",
        test.message
    );

    // --- a truncated gzip dump: ok=false naming the file, nothing left behind ---
    let truncated = dir.path().join("shop_20240101_000000.sql.gz");
    let bytes = fs::read(&gzip_path).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let file = backup_file(&truncated, DetectedKind::PgDumpPlainGzip);
    let (result, lines) =
        restore_test(&server_url, &gzip_set, &file, &tools, &["orders"], &[]).await;
    let test = result.expect("a damaged dump is a result");
    assert!(!test.ok, "{lines:#?}");
    assert!(
        test.message.contains(&truncated.display().to_string()),
        "{}",
        test.message
    );
    assert!(test.message.contains("gzip"), "{}", test.message);
    assert_eq!(scratch_databases(&server_url).await, Vec::<String>::new());

    // --- a truncated custom dump: pg_restore's first error line ---
    let truncated = dir.path().join("shop_custom_20240101_000000.dump");
    let bytes = fs::read(&custom_path).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let file = backup_file(&truncated, DetectedKind::PgDumpCustom);
    let (result, _) = restore_test(&server_url, &custom_set, &file, &tools, &["orders"], &[]).await;
    let test = result.expect("a damaged dump is a result");
    assert!(!test.ok);
    assert!(
        test.message.contains(&truncated.display().to_string())
            && test.message.contains("pg_restore")
            && test.message.contains("error"),
        "{}",
        test.message
    );
    assert_eq!(scratch_databases(&server_url).await, Vec::<String>::new());

    // --- plain SQL that fails: psql's first error line ---
    let broken = dir.path().join("broken.sql");
    fs::write(
        &broken,
        "CREATE TABLE t (id int);\nINSERT INTO nowhere VALUES (1);\nCREATE TABLE u (id int);\n",
    )
    .unwrap();
    let plain_set = backup_set("plain", dir.path(), ExpectedKind::PgDumpPlain);
    let file = backup_file(&broken, DetectedKind::PgDumpPlain);
    let (result, _) = restore_test(&server_url, &plain_set, &file, &tools, &[], &[]).await;
    let test = result.expect("a failed restore is a result");
    assert!(!test.ok);
    assert!(
        test.message.contains("psql") && test.message.contains("\"nowhere\" does not exist"),
        "{}",
        test.message
    );
    assert_eq!(scratch_databases(&server_url).await, Vec::<String>::new());

    // --- cancelling a restore: Cancelled within a couple of seconds, database dropped ---
    let slow = dir.path().join("slow.sql");
    fs::write(&slow, "CREATE TABLE t (id int);\nSELECT pg_sleep(60);\n").unwrap();
    let file = backup_file(&slow, DetectedKind::PgDumpPlain);
    let settings = RestoreSettings {
        url: server_url.clone(),
        tables: vec!["t".to_owned()],
        queries: Vec::new(),
        max_age: Duration::from_secs(86_400),
    };
    let database = scratch_database(&plain_set, Utc::now());
    let (context, _receiver) = task_context();
    let cancel = context.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let result =
        restore::restore_test(&plain_set, &settings, &tools, &file, &database, &context).await;
    assert_eq!(result, Err(TaskError::Cancelled));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(scratch_databases(&server_url).await, Vec::<String>::new());

    // --- cancelling a pg_dump that waits for a lock: Cancelled, no partial, no file ---
    let mut locker = PgConnection::connect(&shop).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let blocked_target = dir.path().join("blocked.sql.gz");
    let (context, _receiver) = task_context();
    let cancel = context.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let result = create::create(&gzip_set, &gzip_source, &tools, &blocked_target, &context).await;
    assert_eq!(result, Err(TaskError::Cancelled));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!blocked_target.exists());
    assert!(!dir.path().join("blocked.sql.gz.partial").exists());
    locker.close().await.ok();
    // pg_dump's session is gone too (its process group was killed).
    let mut conn = PgConnection::connect(&server_url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let dumps: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if dumps == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "pg_dump still connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // --- a database that does not exist: pg_dump's message, no partial ---
    let missing = CreateSource::Postgres {
        url: server.url_for("no_such_db"),
        format: DumpFormat::Gzip,
    };
    let target = dir.path().join("missing.sql.gz");
    let (context, _receiver) = task_context();
    let error = create::create(&gzip_set, &missing, &tools, &target, &context)
        .await
        .expect_err("no such database");
    assert!(
        error.to_string().contains("pg_dump of no_such_db failed")
            && error.to_string().contains("no_such_db\" does not exist"),
        "{error}"
    );
    assert!(!target.exists());
    assert!(!dir.path().join("missing.sql.gz.partial").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_bgsave_is_copied_from_the_server() {
    let server = tokio::task::spawn_blocking(support::RedisServer::start)
        .await
        .expect("start redis-server");
    server.command(&["SET", "greeting", "hello"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let set = backup_set("cache", dir.path(), ExpectedKind::RedisRdb);
    let source = CreateSource::Redis { url: server.url() };
    let tools = BackupTools::new(None);
    let at = Local::now();
    // Twice in a row: the second save ends in the same second as the first one unless the task
    // waits for the clock, which it must notice.
    for at in [at, at + chrono::Duration::seconds(1)] {
        let target = target_path(&set, &source, at);
        assert!(target.to_string_lossy().ends_with(".rdb"));
        let (context, mut receiver) = task_context();
        let (path, size) = create::create(&set, &source, &tools, &target, &context)
            .await
            .unwrap_or_else(|e| panic!("redis backup: {e}\n{:#?}", drain(&mut receiver)));
        let bytes = fs::read(&path).unwrap();
        assert!(
            bytes.starts_with(b"REDIS"),
            "{:?}",
            &bytes[..bytes.len().min(16)]
        );
        assert_eq!(size, bytes.len() as u64);
        assert!(bytes.windows(5).any(|window| window == b"hello"));
        assert_sidecar(&path);
        let lines = drain(&mut receiver);
        assert!(
            lines.iter().any(|line| line.starts_with("BGSAVE finished")),
            "{lines:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_become_a_tar_gz_relative_to_the_root() {
    let tree = tempfile::tempdir().unwrap();
    let app = tree.path().join("app");
    fs::create_dir_all(app.join("data/nested")).unwrap();
    fs::write(app.join("data/a.txt"), "alpha").unwrap();
    fs::write(app.join("data/nested/b.txt"), "beta").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", app.join("data/outside")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(app.join("data/app.sock")).unwrap();
    fs::write(app.join("config.toml"), "x = 1").unwrap();
    // The set's own directory sits inside the tree and must not be archived.
    let backups = app.join("backups");
    fs::create_dir(&backups).unwrap();
    fs::write(backups.join("old.tar.gz"), "earlier backup").unwrap();

    let set = backup_set("files", &backups, ExpectedKind::TarGz);
    let source = CreateSource::Paths {
        paths: vec![app.join("data"), app.clone()],
    };
    let tools = BackupTools::new(None);
    let target = target_path(&set, &source, Local::now());
    let (context, mut receiver) = task_context();
    let (path, _) = create::create(&set, &source, &tools, &target, &context)
        .await
        .expect("tar.gz backup");
    assert_sidecar(&path);
    let lines = drain(&mut receiver);
    assert!(
        lines
            .iter()
            .any(|line| line.contains("app.sock") && line.starts_with("skipped")),
        "{lines:#?}"
    );
    // app/data is inside app: archived once.
    assert!(
        lines
            .iter()
            .any(|line| line.contains("already in the archive")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(
            |line| line.contains(&backups.display().to_string()) && line.starts_with("skipped")
        ),
        "{lines:#?}"
    );

    let relative = |path: &Path| path.strip_prefix("/").unwrap().to_path_buf();
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(fs::File::open(&path).unwrap()));
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().into_owned();
        let kind = entry.header().entry_type();
        let mut content = String::new();
        if kind.is_file() {
            entry.read_to_string(&mut content).unwrap();
        }
        let link = entry.link_name().unwrap().map(|link| link.into_owned());
        entries.push((name, kind, content, link));
    }
    let names: Vec<&PathBuf> = entries.iter().map(|(name, ..)| name).collect();
    for expected in [
        app.join("data"),
        app.join("data/a.txt"),
        app.join("data/nested/b.txt"),
        app.join("data/outside"),
        app.join("config.toml"),
    ] {
        assert!(
            names.contains(&&relative(&expected)),
            "{expected:?} in {names:#?}"
        );
    }
    assert!(
        names
            .iter()
            .all(|name| !name.starts_with(relative(&backups)))
    );
    assert!(names.iter().all(|name| !name.ends_with("app.sock")));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:#?}");
    let a = entries
        .iter()
        .find(|(name, ..)| *name == relative(&app.join("data/a.txt")))
        .unwrap();
    assert_eq!(a.2, "alpha");
    let outside = entries
        .iter()
        .find(|(name, ..)| *name == relative(&app.join("data/outside")))
        .unwrap();
    assert!(outside.1.is_symlink());
    assert_eq!(outside.3.as_deref(), Some(Path::new("/etc/hostname")));

    // A configured path that does not exist fails the backup.
    let source = CreateSource::Paths {
        paths: vec![app.join("data"), tree.path().join("nope")],
    };
    let target = backups.join("files_missing.tar.gz");
    let (context, _receiver) = task_context();
    let error = create::create(&set, &source, &tools, &target, &context)
        .await
        .expect_err("missing path");
    assert!(
        error
            .to_string()
            .contains(&tree.path().join("nope").display().to_string()),
        "{error}"
    );
    assert!(!target.exists());
    assert!(!backups.join("files_missing.tar.gz.partial").exists());
}

#[tokio::test]
async fn a_missing_backup_directory_is_not_created() {
    let tree = tempfile::tempdir().unwrap();
    let missing = tree.path().join("backups/daily");
    let set = backup_set("files", &missing, ExpectedKind::TarGz);
    let source = CreateSource::Paths {
        paths: vec![tree.path().to_path_buf()],
    };
    let target = target_path(&set, &source, Local::now());
    let (context, _receiver) = task_context();
    let error = create::create(&set, &source, &BackupTools::new(None), &target, &context)
        .await
        .expect_err("missing directory");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "backup directory {} does not exist",
            missing.display()
        )) && message.contains(&format!("mkdir -p {}", missing.display()))
            && message.contains("[[backup]] directory"),
        "{message}"
    );
    assert!(!missing.exists());
}

#[test]
fn plans_show_the_commands_without_the_password() {
    let dir = Path::new("/var/backups/shop");
    let mut set = backup_set("shop", dir, ExpectedKind::PgDumpGzip);
    let url = "postgres://app:s3cret-pw@db.example:5432/shop";
    let source = CreateSource::Postgres {
        url: url.to_owned(),
        format: DumpFormat::Gzip,
    };
    let tools = BackupTools::new(Some(Path::new("/usr/lib/postgresql/16/bin")));
    let target = dir.join("shop_20240506_070809.sql.gz");
    let plan = Plan {
        steps: create::plan_steps(&set, &source, &tools, &target),
        ..Plan::default()
    };
    let lines = plan.lines().join("\n");
    assert!(
        lines.contains(
            "run: /usr/lib/postgresql/16/bin/pg_dump --no-password postgres://app@db.example:5432/shop"
        ),
        "{lines}"
    );
    assert!(
        lines.contains("shop_20240506_070809.sql.gz.partial"),
        "{lines}"
    );
    assert!(
        lines.contains("shop_20240506_070809.sql.gz.sha256"),
        "{lines}"
    );
    assert!(!lines.contains("s3cret"), "{lines}");

    let custom = CreateSource::Postgres {
        url: url.to_owned(),
        format: DumpFormat::Custom,
    };
    let lines = Plan {
        steps: create::plan_steps(&set, &custom, &tools, &dir.join("shop.dump")),
        ..Plan::default()
    }
    .lines()
    .join("\n");
    assert!(
        lines.contains("pg_dump --no-password -Fc -f /var/backups/shop/shop.dump.partial"),
        "{lines}"
    );
    assert!(!lines.contains("s3cret"), "{lines}");

    let settings = RestoreSettings {
        url: "postgres://admin:an0ther-pw@db.example/postgres".to_owned(),
        tables: vec!["public.orders".to_owned()],
        queries: vec!["SELECT count(*) > 0 FROM customers".to_owned()],
        max_age: Duration::from_secs(86_400),
    };
    set.restore = Some(settings.clone());
    let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    let database = scratch_database(&set, at);
    assert_eq!(database, "opsdeck_restore_shop_20240506070809");
    let file = backup_file(&target, DetectedKind::PgDumpPlainGzip);
    let lines = Plan {
        steps: restore::plan_steps(&set, &settings, &tools, &file, &database),
        ..Plan::default()
    }
    .lines()
    .join("\n");
    for expected in [
        "CREATE DATABASE \"opsdeck_restore_shop_20240506070809\"",
        "psql --no-password -X -q -v 'ON_ERROR_STOP=1' -d postgres://admin@db.example/opsdeck_restore_shop_20240506070809 -f -",
        "SELECT count(*) FROM \"public\".\"orders\"",
        "SELECT count(*) > 0 FROM customers",
        "DROP DATABASE IF EXISTS \"opsdeck_restore_shop_20240506070809\" WITH (FORCE)",
    ] {
        assert!(lines.contains(expected), "{expected}\n in\n{lines}");
    }
    assert!(!lines.contains("an0ther"), "{lines}");

    let file = backup_file(&dir.join("shop.dump"), DetectedKind::PgDumpCustom);
    let lines = Plan {
        steps: restore::plan_steps(&set, &settings, &tools, &file, &database),
        ..Plan::default()
    }
    .lines()
    .join("\n");
    assert!(
        lines.contains("pg_restore --no-password --no-owner --no-privileges --exit-on-error -d"),
        "{lines}"
    );
}

#[test]
fn scratch_names_are_safe_and_short() {
    let set = backup_set(
        "Shop-Orders.EU west with a very long name that goes on and on",
        Path::new("/b"),
        ExpectedKind::PgDumpGzip,
    );
    let name = scratch_database(
        &set,
        Utc.with_ymd_and_hms(2024, 12, 31, 23, 59, 58).unwrap(),
    );
    assert!(name.len() <= 63, "{name} is {} bytes", name.len());
    assert!(
        name.starts_with("opsdeck_restore_shop_orders_eu_west_"),
        "{name}"
    );
    assert!(name.ends_with("_20241231235958"), "{name}");
    assert!(
        name.bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
        "{name}"
    );
}
