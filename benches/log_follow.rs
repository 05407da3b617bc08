//! What following a busy log costs: a writer thread appends 10,000 lines/s (an application log
//! with times, levels, a few dozen templates) while the main thread does what the runner's log
//! collector does each second: `LogWatch::poll`, read positions saved in a SQLite state store,
//! then `snapshot`. Reported: the watch's CPU as % of one core (the process's CPU time minus
//! the writer thread's, from /proc; the store's threads count as the watch's). Target (issue
//! 15): ≤ 5 %.
//!
//! Then the first-start back-scan through the same engine: `scan` (what `opsdeck logs --since
//! 24h` runs) over a generated nginx access log with `$request_time`, every stage on (access
//! recipe, levels, signatures, per-minute counts, the line ring), in MB/s on one core. The
//! recipe alone is `benches/log_scan.rs`.
//!
//!   cargo bench --bench log_follow
//!
//! `cargo test --all-targets` runs this too, without `--bench`; it then follows for 3 s
//! instead of 20 and scans 2 MB instead of 200. `OPSDECK_BENCH_SECS=<n>` and
//! `OPSDECK_BENCH_MB=<n>` set them either way.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opsdeck::core::logs::findings::LineFilter;
use opsdeck::core::logs::format::{Format, RequestTime};
use opsdeck::core::logs::source::{Input, LogSource};
use opsdeck::core::logs::watch::{self, LogWatch, Positions, StorePositions};
use opsdeck::core::store::{Store, StoreLocation};

const LINES_PER_SECOND: u64 = 10_000;
const BENCH_SECS: u64 = 20;
const TEST_SECS: u64 = 3;
const BENCH_MB: u64 = 200;
const TEST_MB: u64 = 2;
/// Clock ticks per second of /proc's CPU times: USER_HZ, 100 on every Linux architecture.
const USER_HZ: f64 = 100.0;

/// `variable`, else `bench` under `cargo bench`, else `test`.
fn setting(variable: &str, bench: u64, test: u64) -> Result<u64, String> {
    match std::env::var(variable) {
        Ok(text) => text
            .parse()
            .map_err(|error| format!("{variable}={text:?}: {error}")),
        Err(_) if std::env::args().any(|argument| argument == "--bench") => Ok(bench),
        Err(_) => Ok(test),
    }
}

/// User plus system CPU seconds from a /proc stat file (`self` or `thread-self`).
fn cpu_seconds(stat: &str) -> Result<f64, String> {
    let text = std::fs::read_to_string(format!("/proc/{stat}/stat"))
        .map_err(|error| format!("/proc/{stat}/stat: {error}"))?;
    // The command name may hold spaces: the fields count from after its closing parenthesis.
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("no ) in stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64, String> {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .ok_or_else(|| format!("no field {index} in /proc/{stat}/stat"))
    };
    // utime and stime are fields 14 and 15 of stat, the 12th and 13th after the name.
    Ok((ticks(11)? + ticks(12)?) / USER_HZ)
}

/// Appends `LINES_PER_SECOND` lines a second to `path` in 100 writes, until `stop`; returns
/// its own CPU seconds.
fn write(
    path: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) -> Result<f64, String> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|error| error.to_string())?;
    let levels = [
        "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "INFO", "ERROR",
    ];
    let started = Instant::now();
    let mut n: u64 = 0;
    let mut tick: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut chunk = String::new();
        for _ in 0..LINES_PER_SECOND / 100 {
            let now = chrono::Utc::now();
            chunk.push_str(&format!(
                "{} {} worker{} handled request {} for /api/v1/items/{} in {}ms (user {})\n",
                now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                levels[(n % 10) as usize],
                n % 8,
                n,
                n % 40,
                n % 97,
                n % 1000,
            ));
            n += 1;
        }
        file.write_all(chunk.as_bytes())
            .map_err(|error| error.to_string())?;
        written.store(n, Ordering::Relaxed);
        tick += 1;
        let next = started + Duration::from_millis(10) * tick;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    cpu_seconds("thread-self")
}

fn follow() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = setting("OPSDECK_BENCH_SECS", BENCH_SECS, TEST_SECS)?;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("app.log");
    std::fs::write(&log, "")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let store = runtime.block_on(Store::open(&StoreLocation::Sqlite(
        dir.path().join("state.db"),
    )))?;
    let positions: Box<dyn Positions> =
        Box::new(StorePositions::new(store, runtime.handle().clone()));
    let source = LogSource::new(
        "app",
        Input::Files {
            pattern: log.display().to_string(),
        },
        Format::Plain,
    );
    let mut watch = LogWatch::new(vec![source], Some(positions));
    // The first poll opens the (empty) file: what follows is the steady state.
    watch.poll(chrono::Utc::now());

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (log, stop, written) = (log.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || write(log, stop, written))
    };
    let cpu_before = cpu_seconds("self")?;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for second in 1..=seconds {
        std::thread::sleep(
            (started + Duration::from_secs(second)).saturating_duration_since(Instant::now()),
        );
        let poll_started = Instant::now();
        let now = chrono::Utc::now();
        watch.poll(now);
        let snapshot = watch.snapshot(now);
        slowest = slowest.max(poll_started.elapsed());
        if let Some(error) = &snapshot.sources[0].error {
            return Err(error.clone().into());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writer_cpu = writer.join().map_err(|_| "the writer panicked")??;
    let elapsed = started.elapsed().as_secs_f64();
    let process = cpu_seconds("self")? - cpu_before;
    // What the writer wrote after the last poll is read by one more.
    watch.poll(chrono::Utc::now());
    let snapshot = watch.snapshot(chrono::Utc::now());
    let read: u64 = snapshot.sources[0]
        .minutes
        .iter()
        .map(|minute| minute.lines)
        .sum();
    let written = written.load(Ordering::Relaxed);
    if read != written {
        return Err(format!("the watch read {read} lines of {written} written").into());
    }
    let kept = watch.lines("app", &LineFilter::All).len();
    let watch_pct = (process - writer_cpu).max(0.0) * 100.0 / elapsed;
    println!(
        "log follow: {written} lines in {elapsed:.1} s ({:.0} lines/s); watch CPU {watch_pct:.2} % \
         of one core (target ≤ 5), writer {:.2} %; slowest poll+snapshot {:.1} ms; {kept} lines kept",
        written as f64 / elapsed,
        writer_cpu * 100.0 / elapsed,
        slowest.as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// Writes about `megabytes` MB of access-log lines stamped over the last 20 hours; returns the
/// line count.
fn access_log(path: &std::path::Path, megabytes: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let statuses = [200, 200, 200, 200, 201, 204, 301, 304, 404, 500, 502];
    let bytes = megabytes * 1_000_000;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let start = chrono::Utc::now() - chrono::TimeDelta::hours(20);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut written, mut lines) = (0, 0);
    let mut line = String::new();
    while written < bytes {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = state >> 16;
        let at = start + chrono::TimeDelta::milliseconds(i64::try_from(lines)? * 20);
        line.clear();
        std::fmt::Write::write_fmt(
            &mut line,
            format_args!(
                "10.{}.{}.{} - - [{}] \"GET /api/v1/resource{}/{}?page={} HTTP/1.1\" {} {} \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0\" {}.{:03}\n",
                r % 7,
                (r >> 3) % 256,
                (r >> 11) % 256,
                at.format("%d/%b/%Y:%H:%M:%S +0000"),
                (r >> 31) % 300,
                (r >> 7) % 100_000,
                (r >> 13) % 10,
                statuses[((r >> 17) % statuses.len() as u64) as usize],
                (r >> 5) % 50_000,
                (r >> 21) % 3,
                (r >> 9) % 1000,
            ),
        )?;
        file.write_all(line.as_bytes())?;
        written += line.len() as u64;
        lines += 1;
    }
    file.flush()?;
    Ok(lines)
}

fn back_scan() -> Result<(), Box<dyn std::error::Error>> {
    let megabytes = setting("OPSDECK_BENCH_MB", BENCH_MB, TEST_MB)?;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("access.log");
    let lines = access_log(&log, megabytes)?;
    let size = std::fs::metadata(&log)?.len();
    let source = LogSource::new(
        "web",
        Input::Files {
            pattern: log.display().to_string(),
        },
        Format::Access(RequestTime::Seconds),
    );
    let started = Instant::now();
    let snapshot = watch::scan(
        &[source],
        Duration::from_secs(24 * 3600),
        chrono::Utc::now(),
    );
    let seconds = started.elapsed().as_secs_f64();
    let findings = &snapshot.sources[0];
    let requests = findings.access.as_ref().map_or(0, |access| access.requests);
    if requests != lines {
        return Err(format!("the scan counted {requests} requests of {lines} lines").into());
    }
    println!(
        "log back-scan: {:.0} MB, {lines} lines in {seconds:.2} s: {:.0} MB/s through the whole \
         engine ({} signatures)",
        size as f64 / 1e6,
        size as f64 / 1e6 / seconds,
        findings.signatures.len(),
    );
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    follow()?;
    back_scan()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("log follow bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}
