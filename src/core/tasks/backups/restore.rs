//! The restore test: a set's newest PostgreSQL dump restored into a throwaway database, a few
//! sanity checks run on it (tables that must have rows, queries that must come out true or
//! positive), and the database dropped again.
//!
//! The drop happens whatever the outcome — a damaged dump, a failed check, a cancelled run — and
//! even when the run's future is dropped half-way (a detached task then does it), because a
//! restore test that leaves full copies of production data behind is worse than none. The
//! restore tools run in their own process group and are killed on cancel; `DROP DATABASE … WITH
//! (FORCE)` (PostgreSQL 13+) ends any session still busy in the scratch database.

use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Connection, Row, TypeInfo, ValueRef};
use tokio_util::sync::CancellationToken;

use super::create::Tool;
use crate::core::backups::{
    BackupFile, BackupSet, BackupTools, DetectedKind, ExpectedKind, RestoreSettings, RestoreTest,
};
use crate::core::checks::rules::format_bytes;
use crate::core::sources::pg::{Limits, Server, split_password, sql_message, with_database};
use crate::core::sources::secrets::mask_url;
use crate::core::sources::unless_cancelled;
use crate::core::sql;
use crate::core::tasks::{Plan, PlanStep, TaskContext, TaskError};

const SCRATCH_PREFIX: &str = "opsdeck_restore_";
/// PostgreSQL truncates identifiers longer than this many bytes.
const MAX_IDENTIFIER: usize = 63;
const STAMP_FORMAT: &str = "%Y%m%d%H%M%S";
/// Dropping a large restored database deletes many files; give it time.
const DROP_TIMEOUT: Duration = Duration::from_secs(120);
const CONFIG_HINT: &str = "[backup.restore] url";
const COPY_BUFFER: usize = 256 * 1024;

/// The throwaway database's name for a run at `at`:
/// `opsdeck_restore_<set, sanitised to [a-z0-9_], truncated>_<YYYYmmddHHMMSS>` (≤ 63 bytes).
pub fn scratch_database(set: &BackupSet, at: DateTime<Utc>) -> String {
    let stamp = at.format(STAMP_FORMAT).to_string();
    let room = MAX_IDENTIFIER - SCRATCH_PREFIX.len() - 1 - stamp.len();
    let name: String = set
        .name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("{SCRATCH_PREFIX}{name}_{stamp}")
}

/// What a run does: CREATE DATABASE, the restore command, each sanity query, DROP DATABASE.
pub fn plan_steps(
    set: &BackupSet,
    settings: &RestoreSettings,
    tools: &BackupTools,
    file: &BackupFile,
    database: &str,
) -> Vec<PlanStep> {
    let server = mask_url(&settings.url);
    let scratch_url = with_database(&settings.url, database);
    let scratch = mask_url(&scratch_url);
    let (bare, password) = split_password(&scratch_url);
    let mut steps = vec![PlanStep::Sql {
        database: server.clone(),
        statement: create_statement(database),
    }];
    match dump_format(set, file) {
        Ok(format) => {
            let (program, args) = restore_command(format, tools, &bare, &file.path);
            steps.push(PlanStep::Command {
                argv: std::iter::once(program.display().to_string())
                    .chain(args)
                    .collect(),
                cwd: None,
            });
            match format {
                Format::Plain => steps.push(Plan::note(format!(
                    "feed {} to psql's standard input",
                    file.path.display()
                ))),
                Format::Gzip => steps.push(Plan::note(format!(
                    "gunzip {} into psql's standard input",
                    file.path.display()
                ))),
                Format::Custom => {}
            }
            if password.is_some() {
                steps.push(Plan::note(
                    "the URL's password is passed in PGPASSWORD, not on the command line",
                ));
            }
        }
        Err(problem) => steps.push(Plan::note(problem)),
    }
    for table in &settings.tables {
        steps.push(PlanStep::Sql {
            database: scratch.clone(),
            statement: count_statement(table),
        });
    }
    for query in &settings.queries {
        steps.push(PlanStep::Sql {
            database: scratch.clone(),
            statement: query.clone(),
        });
    }
    if !settings.tables.is_empty() || !settings.queries.is_empty() {
        steps.push(Plan::note(
            "each table must have rows; each query must return one row whose first column is \
             true or a number above zero",
        ));
    }
    steps.push(PlanStep::Sql {
        database: server,
        statement: drop_statement(database),
    });
    steps.push(Plan::note(
        "the scratch database is dropped whatever happens: after a failed restore, a failed \
         check or a cancel",
    ));
    steps
}

/// Restores `file` into the scratch database `database`, runs the sanity checks and drops the
/// database again. A damaged dump or a failed check is `Ok` with `ok: false`; `Err` is for
/// setup failures (cannot connect, cannot create the database) and cancellation.
pub async fn restore_test(
    set: &BackupSet,
    settings: &RestoreSettings,
    tools: &BackupTools,
    file: &BackupFile,
    database: &str,
    context: &TaskContext,
) -> Result<RestoreTest, TaskError> {
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let started_at = Utc::now();
    let clock = Instant::now();
    let record = |ok: bool, message: String, counts: Vec<(String, i64)>| RestoreTest {
        set: set.name.clone(),
        file: file.path.clone(),
        started_at,
        duration_ms: i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX),
        ok,
        message,
        counts,
    };
    let format = dump_format(set, file).map_err(TaskError::Failed)?;
    if file.size == 0 || file.kind == DetectedKind::Empty {
        return Ok(record(
            false,
            format!(
                "{} is empty: there is nothing to restore",
                file.path.display()
            ),
            Vec::new(),
        ));
    }
    let output = &context.output;
    let admin_server = Server::new(&settings.url, crate::core::TASK_APPLICATION, CONFIG_HINT)?;
    let scratch_url = with_database(&settings.url, database);
    let scratch_server = Server::new(&scratch_url, crate::core::TASK_APPLICATION, CONFIG_HINT)?;
    let server = admin_server.shown().to_owned();

    let mut admin = admin_server
        .connect(Limits::CONNECT_ONLY, Some(&context.cancel))
        .await?;
    // Armed before CREATE DATABASE, so that a run abandoned while it is being created still
    // drops it.
    let mut scratch = Scratch {
        server: admin_server,
        name: database.to_owned(),
        dropped: false,
    };
    let created = sqlx::raw_sql(AssertSqlSafe(create_statement(database)))
        .execute(&mut admin)
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), admin.close()).await;
    if let Err(error) = created {
        // Not ours: a database of that name that existed already must be left alone.
        scratch.dropped = true;
        return Err(TaskError::failed(create_failure(database, &server, &error)));
    }
    output.line(format!("created scratch database {database} on {server}"));

    let checked = restore_and_check(
        format,
        settings,
        tools,
        &file.path,
        &scratch_server,
        &scratch_url,
        context,
    )
    .await;

    let drop_problem = match scratch.drop_now().await {
        Ok(()) => {
            output.line(format!("dropped scratch database {database}"));
            None
        }
        Err(error) => {
            let problem = format!(
                "WARNING: the scratch database {database} on {server} could not be dropped \
                 ({error}); drop it by hand: {}",
                drop_statement(database)
            );
            output.line(&problem);
            Some(problem)
        }
    };
    let noted = |message: String| match &drop_problem {
        Some(problem) => format!("{message}; {problem}"),
        None => message,
    };
    match checked {
        Err(TaskError::Failed(message)) => Err(TaskError::Failed(noted(message))),
        Err(other) => Err(other),
        Ok(checked) => {
            let ok = checked.failures.is_empty();
            let message = if ok {
                let mut message = format!(
                    "restored {} into {database} in {:.1} s",
                    file.path.display(),
                    checked.took.as_secs_f64()
                );
                if !checked.counts.is_empty() {
                    let counts: Vec<String> = checked
                        .counts
                        .iter()
                        .map(|(name, count)| format!("{name}: {count}"))
                        .collect();
                    message.push_str(&format!("; {}", counts.join(", ")));
                }
                message
            } else {
                checked.failures.join("; ")
            };
            Ok(record(ok, noted(message), checked.counts))
        }
    }
}

/// How the dump is fed to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Plain,
    Gzip,
    Custom,
}

/// The file's own kind when it was recognised as a dump, else (for a file whose start could
/// not be told) the set's kind.
fn dump_format(set: &BackupSet, file: &BackupFile) -> Result<Format, String> {
    match file.kind {
        DetectedKind::PgDumpPlain => return Ok(Format::Plain),
        DetectedKind::PgDumpPlainGzip => return Ok(Format::Gzip),
        DetectedKind::PgDumpCustom => return Ok(Format::Custom),
        DetectedKind::Gzip | DetectedKind::Unknown | DetectedKind::Empty => {}
        other => {
            return Err(format!(
                "{} is {}, not a pg_dump file: restore tests need plain, gzip or custom pg_dump \
                 files",
                file.path.display(),
                other.label()
            ));
        }
    }
    match set.kind {
        ExpectedKind::PgDumpPlain => Ok(Format::Plain),
        ExpectedKind::PgDumpGzip => Ok(Format::Gzip),
        ExpectedKind::PgDumpCustom => Ok(Format::Custom),
        other => Err(format!(
            "backup set `{}` holds {} files: restore tests need pg_dump files (kind = \
             \"pg_dump_gzip\", \"pg_dump_plain\" or \"pg_dump_custom\")",
            set.name,
            other.label()
        )),
    }
}

fn restore_command(
    format: Format,
    tools: &BackupTools,
    bare_url: &str,
    file: &Path,
) -> (PathBuf, Vec<String>) {
    let owned = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect();
    match format {
        Format::Plain | Format::Gzip => {
            let mut args: Vec<String> =
                owned(&["--no-password", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"]);
            args.extend([bare_url.to_owned(), "-f".to_owned(), "-".to_owned()]);
            (tools.psql.clone(), args)
        }
        Format::Custom => {
            let mut args: Vec<String> = owned(&[
                "--no-password",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "-d",
            ]);
            args.extend([bare_url.to_owned(), file.display().to_string()]);
            (tools.pg_restore.clone(), args)
        }
    }
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// The statements below are filled in Rust because database and table names cannot be bind
// parameters; each name is quoted here.

fn create_statement(database: &str) -> String {
    let database = quote_identifier(database);
    sql::fill(sql::RESTORE_CREATE_DATABASE, &[("database", &database)])
}

fn drop_statement(database: &str) -> String {
    let database = quote_identifier(database);
    sql::fill(sql::RESTORE_DROP_DATABASE, &[("database", &database)])
}

/// `SELECT count(*)` of a configured table, `schema.table` or a bare name (found on the search
/// path), each part quoted as written.
fn count_statement(table: &str) -> String {
    let quoted = match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", quote_identifier(schema), quote_identifier(name)),
        None => quote_identifier(table),
    };
    sql::fill(sql::RESTORE_COUNT_ROWS, &[("table", &quoted)])
}

fn create_failure(database: &str, server: &str, error: &sqlx::Error) -> String {
    let code = error
        .as_database_error()
        .and_then(|error| error.code())
        .map(|code| code.into_owned());
    let fix = match code.as_deref() {
        Some("42501") => format!(
            "the user in {CONFIG_HINT} needs the CREATEDB privilege (ALTER ROLE <user> CREATEDB)"
        ),
        Some("42P04") => {
            "another restore test is using that name; wait for it to finish and run again".into()
        }
        _ => format!("check the server log and {CONFIG_HINT}"),
    };
    format!(
        "cannot create the scratch database {database} on {server}: {}\n  fix: {fix}",
        sql_message(error)
    )
}

/// The scratch database, dropped by a detached task if the run's future goes away before
/// [`Scratch::drop_now`] has finished.
struct Scratch {
    server: Server,
    name: String,
    dropped: bool,
}

impl Scratch {
    async fn drop_now(&mut self) -> Result<(), String> {
        let result = drop_database(&self.server, &self.name).await;
        self.dropped = true;
        result
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let server = self.server.clone();
            let name = self.name.clone();
            runtime.spawn(async move {
                if let Err(error) = drop_database(&server, &name).await {
                    tracing::error!(
                        "the scratch database {name} of an abandoned restore test could not be \
                         dropped ({error}); drop it by hand: {}",
                        drop_statement(&name)
                    );
                }
            });
        }
    }
}

/// `DROP DATABASE … WITH (FORCE)` over a fresh connection: the run's own connections may be
/// gone or busy by the time this runs, and cancellation must not stop it.
async fn drop_database(server: &Server, name: &str) -> Result<(), String> {
    let mut conn = server
        .connect(Limits::CONNECT_ONLY, None)
        .await
        .map_err(|error| error.to_string())?;
    let dropped = tokio::time::timeout(
        DROP_TIMEOUT,
        sqlx::raw_sql(AssertSqlSafe(drop_statement(name))).execute(&mut conn),
    )
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    match dropped {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(sql_message(&error)),
        Err(_) => Err(format!("no answer within {} s", DROP_TIMEOUT.as_secs())),
    }
}

/// What the restore and the checks found; `failures` empty means the test passed.
struct Checked {
    counts: Vec<(String, i64)>,
    failures: Vec<String>,
    took: Duration,
}

async fn restore_and_check(
    format: Format,
    settings: &RestoreSettings,
    tools: &BackupTools,
    file: &Path,
    scratch: &Server,
    scratch_url: &str,
    context: &TaskContext,
) -> Result<Checked, TaskError> {
    let output = &context.output;
    let took = Instant::now();
    if let Some(failure) = restore(format, tools, file, scratch_url, context).await? {
        output.line(&failure);
        return Ok(Checked {
            counts: Vec::new(),
            failures: vec![failure],
            took: took.elapsed(),
        });
    }
    let took = took.elapsed();
    output.line(format!(
        "restored {} in {:.1} s",
        file.display(),
        took.as_secs_f64()
    ));

    let mut conn = scratch
        .connect(Limits::CONNECT_ONLY, Some(&context.cancel))
        .await?;
    let mut counts = Vec::new();
    let mut failures = Vec::new();
    for table in &settings.tables {
        let statement = count_statement(table);
        // On cancel the connection is abandoned; the forced DROP ends its session.
        let counted = unless_cancelled(
            Some(&context.cancel),
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(statement.clone())).fetch_one(&mut conn),
        )
        .await?;
        match counted {
            Ok(count) => {
                output.line(format!("{table}: {count} rows"));
                counts.push((table.clone(), count));
                if count <= 0 {
                    failures.push(format!(
                        "table {table} is empty after restoring {}",
                        file.display()
                    ));
                }
            }
            Err(error) => failures.push(format!(
                "sanity check `{statement}` failed after restoring {}: {}",
                file.display(),
                sql_message(&error)
            )),
        }
    }
    for query in &settings.queries {
        let rows = unless_cancelled(
            Some(&context.cancel),
            sqlx::raw_sql(AssertSqlSafe(query.clone())).fetch_all(&mut conn),
        )
        .await?;
        let judged = match rows {
            Ok(rows) => judge(&rows),
            Err(error) => Err(sql_message(&error)),
        };
        match judged {
            Ok((value, shown)) => {
                output.line(format!("`{query}`: {shown}"));
                counts.push((query.clone(), value));
                if value <= 0 {
                    failures.push(format!(
                        "sanity query `{query}` returned {shown} after restoring {}; it must be \
                         true or above zero",
                        file.display()
                    ));
                }
            }
            Err(problem) => failures.push(format!(
                "sanity query `{query}` failed after restoring {}: {problem}",
                file.display()
            )),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    Ok(Checked {
        counts,
        failures,
        took,
    })
}

/// A sanity query's value, for the record and as shown: one row whose first column is a boolean
/// (1 or 0) or a number (cut to a whole number for the record). Rows come from the simple
/// protocol, so values arrive as text.
fn judge(rows: &[PgRow]) -> Result<(i64, String), String> {
    let [row] = rows else {
        return Err(format!(
            "it returned {} rows; it must return one",
            rows.len()
        ));
    };
    let value = row
        .try_get_raw(0)
        .map_err(|_| "it returned no columns; it must return one value".to_owned())?;
    if value.is_null() {
        return Err("it returned NULL; it must return true or a number above zero".into());
    }
    let type_name = value.type_info().name().to_owned();
    let text = value
        .as_str()
        .map_err(|error| format!("cannot read its {type_name} value: {error}"))?
        .trim()
        .to_owned();
    match type_name.as_str() {
        "BOOL" => {
            let value = text == "t" || text == "true";
            Ok((i64::from(value), value.to_string()))
        }
        "INT2" | "INT4" | "INT8" | "OID" => text
            .parse()
            .map(|value| (value, text.clone()))
            .map_err(|_| format!("cannot read its {type_name} value `{text}`")),
        "NUMERIC" | "FLOAT4" | "FLOAT8" => {
            let number: f64 = text
                .parse()
                .map_err(|_| format!("cannot read its {type_name} value `{text}`"))?;
            if number.is_nan() {
                return Err("it returned NaN; it must return true or a number above zero".into());
            }
            // A fraction above zero passes; keep it visible as 1 rather than cutting it to 0.
            let value = if number > 0.0 && number < 1.0 {
                1
            } else {
                number as i64
            };
            Ok((value, text))
        }
        other => Err(format!(
            "it returned a {other}; it must return a boolean or a number (cast it, e.g. \
             `… ::bigint`)"
        )),
    }
}

/// Runs the restore tool; `Some(message)` when the restore failed.
async fn restore(
    format: Format,
    tools: &BackupTools,
    file: &Path,
    scratch_url: &str,
    context: &TaskContext,
) -> Result<Option<String>, TaskError> {
    let (bare, password) = split_password(scratch_url);
    let (program, args) = restore_command(format, tools, &bare, file);
    let output = &context.output;
    output.line(format!(
        "restoring {} into {} with {}",
        file.display(),
        mask_url(scratch_url),
        program.display()
    ));
    let tool_name = program
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let failed = |problem: String| Some(format!("restore of {} failed: {problem}", file.display()));
    match format {
        Format::Custom => {
            let tool = Tool::spawn(
                &program,
                &args,
                password.as_deref(),
                Stdio::null(),
                Stdio::null(),
                output,
            )?;
            let finished = tool.finish(&context.cancel).await?;
            Ok(finished
                .problem()
                .and_then(|problem| failed(format!("{tool_name} {problem}"))))
        }
        Format::Plain | Format::Gzip => {
            let mut tool = Tool::spawn(
                &program,
                &args,
                password.as_deref(),
                Stdio::piped(),
                Stdio::null(),
                output,
            )?;
            let stdin = tool.take_stdin()?;
            let path = file.to_path_buf();
            let token = context.cancel.clone();
            let gzip = format == Format::Gzip;
            let feeding = tokio::task::spawn_blocking(move || feed(&path, gzip, stdin, &token));
            let finished = tool.finish(&context.cancel).await;
            // A killed or finished psql closes its end of the pipe, so the feeder ends too.
            let fed = feeding.await.map_err(|error| {
                TaskError::failed(format!("internal error in the restore feeder: {error}"))
            })?;
            let finished = finished?;
            let tool_error = finished
                .first_error()
                .map(|line| format!("; {tool_name}: {line}"))
                .unwrap_or_default();
            if let Fed::All(sent) = fed {
                output.line(format!(
                    "{} of SQL sent to {tool_name}",
                    format_bytes(sent as f64)
                ));
            }
            Ok(match fed {
                Fed::Source(problem) => failed(format!("{problem}{tool_error}")),
                Fed::All(_) | Fed::Stopped => finished
                    .problem()
                    .and_then(|problem| failed(format!("{tool_name} {problem}"))),
            })
        }
    }
}

/// How feeding the dump to psql ended.
enum Fed {
    /// Everything was sent (bytes of SQL).
    All(u64),
    /// psql stopped reading: it failed, or was killed.
    Stopped,
    /// The file could not be read or decompressed: the dump itself is bad.
    Source(String),
}

fn feed(path: &Path, gzip: bool, mut sink: std::fs::File, cancel: &CancellationToken) -> Fed {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) => return Fed::Source(format!("cannot read it ({error})")),
    };
    let mut source: Box<dyn Read> = if gzip {
        Box::new(MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    let mut buffer = vec![0; COPY_BUFFER];
    let mut sent = 0_u64;
    loop {
        if cancel.is_cancelled() {
            return Fed::Stopped;
        }
        let count = match source.read(&mut buffer) {
            Ok(0) => return Fed::All(sent),
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let what = if gzip && !matches!(error.kind(), io::ErrorKind::PermissionDenied) {
                    "its gzip data is damaged or truncated"
                } else {
                    "it could not be read"
                };
                return Fed::Source(format!(
                    "{what} ({error}) after {} of SQL",
                    format_bytes(sent as f64)
                ));
            }
        };
        if sink.write_all(&buffer[..count]).is_err() {
            return Fed::Stopped;
        }
        sent += count as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_quoted_part_by_part() {
        assert_eq!(
            count_statement("shop.orders"),
            r#"SELECT count(*) FROM "shop"."orders""#
        );
        assert_eq!(
            count_statement(r#"we"ird"#),
            r#"SELECT count(*) FROM "we""ird""#
        );
    }
}
