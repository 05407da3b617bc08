//! How long one refresh of the queries collector takes (statements, sessions and health) when
//! `pg_stat_statements` holds 5,000 distinct statements. Target: a median of at most 50 ms.
//!
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench queries_refresh
//!
//! `DATABASE_URL` defaults to the machine's PostgreSQL as `postgres` (trust auth). The server
//! must preload pg_stat_statements; when it does not, the bench says how to run it against one
//! that does and exits 0. The extension is created in the database when it is missing. The
//! statements are `SELECT <three pg_class columns> FROM pg_class LIMIT 0` with a comment that
//! brings the text to a realistic length: they touch no user data, and each column triple
//! normalises to a statement of its own (column aliases or literals would not).

use std::time::{Duration, Instant};

use opsdeck::core::queries::collector::QueryCollector;
use opsdeck::core::queries::{QuerySettings, StatementsView};
use opsdeck::core::sources::secrets::mask_url;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const STATEMENTS: usize = 5_000;
const BATCH: usize = 250;
const REFRESHES: usize = 20;
const TARGET: Duration = Duration::from_millis(50);
/// Makes each statement text about 300 bytes long, as application queries tend to be.
const PADDING: &str = "/* opsdeck queries_refresh bench: padding that gives the statement text a \
                       realistic length, since pg_stat_statements reads every text from its \
                       query file on each call, and a refresh filters on the text */";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(&url))
}

fn how_to_run(url: &str, why: &str) {
    println!(
        "queries_refresh: skipped: {why} ({})\n\
         run it against a server that preloads pg_stat_statements, for example a throwaway one:\n\
         \x20 initdb -D /tmp/opsdeck-bench -U postgres -A trust --no-sync\n\
         \x20 postgres -D /tmp/opsdeck-bench -p 5499 -k /tmp -c listen_addresses=127.0.0.1 \\\n\
         \x20     -c shared_preload_libraries=pg_stat_statements &\n\
         \x20 DATABASE_URL=postgres://postgres@127.0.0.1:5499/postgres cargo bench --bench \
         queries_refresh",
        mask_url(url)
    );
}

async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut admin = match PgConnection::connect(url).await {
        Ok(conn) => conn,
        Err(error) => {
            how_to_run(url, &format!("cannot connect: {error}"));
            return Ok(());
        }
    };
    // Visible to superusers and pg_read_all_settings only; otherwise found out below.
    let preload: Option<String> = sqlx::query_scalar("SHOW shared_preload_libraries")
        .fetch_one(&mut admin)
        .await
        .ok();
    if preload
        .as_deref()
        .is_some_and(|libraries| !libraries.contains("pg_stat_statements"))
    {
        how_to_run(url, "the server does not preload pg_stat_statements");
        return Ok(());
    }
    let installed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
    )
    .fetch_one(&mut admin)
    .await?;
    if !installed {
        if let Err(error) = sqlx::raw_sql("CREATE EXTENSION pg_stat_statements")
            .execute(&mut admin)
            .await
        {
            how_to_run(url, &format!("cannot create the extension: {error}"));
            return Ok(());
        }
        println!("created extension pg_stat_statements");
    }
    if let Err(error) = sqlx::raw_sql("SELECT count(*) FROM pg_stat_statements")
        .execute(&mut admin)
        .await
    {
        how_to_run(url, &format!("pg_stat_statements is not usable: {error}"));
        return Ok(());
    }

    // 5,000 distinct statements: ordered triples of pg_class columns.
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(attname) FROM pg_attribute
         WHERE attrelid = 'pg_catalog.pg_class'::regclass AND attnum > 0 AND NOT attisdropped
         ORDER BY attnum",
    )
    .fetch_all(&mut admin)
    .await?;
    let mut statements = Vec::with_capacity(STATEMENTS);
    'triples: for a in &columns {
        for b in &columns {
            for c in &columns {
                if a == b || b == c || a == c {
                    continue;
                }
                if statements.len() == STATEMENTS {
                    break 'triples;
                }
                statements.push(format!(
                    "{PADDING} SELECT {a}, {b}, {c} FROM pg_catalog.pg_class LIMIT 0"
                ));
            }
        }
    }
    let started = Instant::now();
    for batch in statements.chunks(BATCH) {
        sqlx::raw_sql(AssertSqlSafe(batch.join(";\n")))
            .execute(&mut admin)
            .await?;
    }
    let (here, everywhere, max): (i64, i64, String) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE dbid = (SELECT oid FROM pg_database
                                               WHERE datname = current_database())),
                count(*), current_setting('pg_stat_statements.max')
         FROM pg_stat_statements",
    )
    .fetch_one(&mut admin)
    .await?;
    println!(
        "ran {} distinct statements in {:.1} s; pg_stat_statements holds {here} for this \
         database, {everywhere} in all (pg_stat_statements.max = {max})",
        statements.len(),
        started.elapsed().as_secs_f64()
    );
    admin.close().await?;

    let mut collector =
        QueryCollector::new("bench".into(), url.to_owned(), QuerySettings::default());
    let first = collector.collect().await;
    if let Some(error) = &first.error {
        return Err(error.clone().into());
    }
    println!(
        "first refresh (connecting included): {:.1} ms",
        ms(first.took)
    );
    let mut times = Vec::with_capacity(REFRESHES);
    let mut shown = 0;
    for _ in 0..REFRESHES {
        let snapshot = collector.collect().await;
        if let Some(error) = &snapshot.error {
            return Err(error.clone().into());
        }
        shown = match &snapshot.statements {
            StatementsView::Rows { rows } => rows.len(),
            StatementsView::Unavailable { guidance } => return Err(guidance.clone().into()),
            StatementsView::Failed { error } => return Err(error.clone().into()),
        };
        for (part, error) in [
            ("sessions", snapshot.sessions.as_ref().err()),
            ("health", snapshot.health.as_ref().err()),
        ] {
            if let Some(error) = error {
                println!("warning: {part}: {error}");
            }
        }
        times.push(snapshot.took);
    }
    collector.close().await;
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!(
        "{REFRESHES} refreshes ({shown} statements shown): median {:.1} ms, min {:.1} ms, max \
         {:.1} ms (target: median <= {} ms) {}",
        ms(median),
        ms(times[0]),
        ms(max),
        TARGET.as_millis(),
        if median <= TARGET { "ok" } else { "SLOW" }
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
