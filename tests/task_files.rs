//! The file-system tasks on real files in a temporary directory: `temp-cleanup` (selection,
//! symlinks never followed, hostile names, cancellation), `security-scan` (exactly the expected
//! findings) and `log-rotation` (a real logrotate run, the plan's argv and dry run, a missing
//! program).

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use opsdeck::core::tasks::logrotate::{self, LogRotationSettings};
use opsdeck::core::tasks::security_scan::{self, SecurityScanSettings};
use opsdeck::core::tasks::temp_cleanup::{self, TempCleanupSettings};
use opsdeck::core::tasks::{Output, Plan, PlanStep, PlannedFile, TaskContext, TaskError};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DAY: Duration = Duration::from_secs(86_400);
const LOGROTATE: &str = "/usr/sbin/logrotate";

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn task_context(pairs: &[(&str, &str)]) -> (TaskContext, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let context = TaskContext {
        params: params(pairs),
        output: Output::new(tx),
        cancel: CancellationToken::new(),
        store: None,
    };
    (context, rx)
}

fn lines(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        lines.push(line);
    }
    lines
}

fn write(path: &Path, content: &str) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(path, content).expect("write file");
    path.to_path_buf()
}

/// Sets the file's mtime `age` in the past.
fn age(path: &Path, age: Duration) {
    File::options()
        .write(true)
        .open(path)
        .expect("open for mtime")
        .set_modified(SystemTime::now() - age)
        .expect("set mtime");
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn planned_files(plan: &Plan) -> (Vec<PlannedFile>, u64) {
    plan.steps
        .iter()
        .find_map(|step| match step {
            PlanStep::Files {
                action,
                files,
                total_bytes,
            } => {
                assert_eq!(action, "delete");
                Some((files.clone(), *total_bytes))
            }
            _ => None,
        })
        .expect("a Files step")
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

// ----- temp-cleanup -----

struct CleanupTree {
    _tmp: TempDir,
    clean: PathBuf,
    missing: PathBuf,
    /// Old matching regular files inside the cleaned directory: the selection.
    doomed: Vec<PathBuf>,
    /// Everything that must survive (files, symlinks and the symlinks' targets).
    survivors: Vec<PathBuf>,
}

fn cleanup_tree() -> CleanupTree {
    let tmp = TempDir::new().expect("tempdir");
    let clean = tmp.path().join("clean");
    let outside = tmp.path().join("outside");
    let old = 10 * DAY;

    let mut doomed = Vec::new();
    for name in [
        "old.tmp",
        "old with space.tmp",
        "old\nwith newline.tmp",
        "old\u{1b}[31mred\u{1b}[0m.tmp",
        "sub/deeper/deep.tmp",
    ] {
        let path = write(&clean.join(name), "stale data");
        age(&path, old);
        doomed.push(path);
    }

    let mut survivors = Vec::new();
    let fresh = write(&clean.join("fresh.tmp"), "new");
    survivors.push(fresh);
    let other = write(&clean.join("old.log"), "old but not matching");
    age(&other, old);
    survivors.push(other);
    let sub_fresh = write(&clean.join("sub/fresh.tmp"), "new");
    survivors.push(sub_fresh);

    // Old files outside, reachable only through symlinks.
    let outside_file = write(&outside.join("target.tmp"), "outside, old");
    age(&outside_file, old);
    let outside_dir_file = write(&outside.join("dir/inner.tmp"), "outside, old");
    age(&outside_dir_file, old);
    survivors.push(outside_file.clone());
    survivors.push(outside_dir_file);
    let file_link = clean.join("link.tmp");
    symlink(&outside_file, &file_link).expect("file symlink");
    let dir_link = clean.join("linkdir");
    symlink(outside.join("dir"), &dir_link).expect("dir symlink");
    survivors.push(file_link);
    survivors.push(dir_link);

    doomed.sort();
    CleanupTree {
        missing: tmp.path().join("does-not-exist"),
        _tmp: tmp,
        clean,
        doomed,
        survivors,
    }
}

fn cleanup_settings(tree: &CleanupTree) -> TempCleanupSettings {
    TempCleanupSettings {
        directories: vec![tree.clean.clone(), tree.missing.clone()],
        patterns: vec!["*.tmp".into()],
        older_than: 7 * DAY,
    }
}

#[tokio::test]
async fn temp_cleanup_plans_and_deletes_exactly_the_old_matching_files_inside() {
    let tree = cleanup_tree();
    let settings = cleanup_settings(&tree);

    let plan = temp_cleanup::plan(&settings, &params(&[]))
        .await
        .expect("plan");
    let (files, total_bytes) = planned_files(&plan);
    let mut planned: Vec<PathBuf> = files.iter().map(|file| file.path.clone()).collect();
    planned.sort();
    assert_eq!(planned, tree.doomed);
    assert!(
        files
            .iter()
            .all(|file| file.bytes == "stale data".len() as u64)
    );
    assert_eq!(total_bytes, files.len() as u64 * "stale data".len() as u64);
    let note = notes(&plan).join("\n");
    assert!(
        note.contains("files matching *.tmp older than 7d under"),
        "{note}"
    );
    assert!(note.contains("symlinks are never followed"), "{note}");
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(
        plan.warnings[0].contains("does not exist"),
        "{:?}",
        plan.warnings
    );
    for survivor in tree.survivors.iter().chain(&tree.doomed) {
        assert!(
            survivor.symlink_metadata().is_ok(),
            "planning removed {}",
            survivor.display()
        );
    }

    // One planned file is written to after the plan: the run must leave it alone.
    let touched = tree.clean.join("old.tmp");
    age(&touched, Duration::ZERO);

    let (context, mut rx) = task_context(&[]);
    let summary = temp_cleanup::run(&settings, &context).await.expect("run");
    let output = lines(&mut rx);
    assert_eq!(
        summary.summary, "deleted 4 files (40 B); 1 warning",
        "{output:#?}"
    );
    for path in tree.doomed.iter().filter(|path| **path != touched) {
        assert!(
            path.symlink_metadata().is_err(),
            "not deleted: {}",
            path.display()
        );
    }
    assert!(
        touched.exists(),
        "a file that changed since the plan was deleted"
    );
    for survivor in &tree.survivors {
        assert!(
            survivor.symlink_metadata().is_ok(),
            "deleted: {}",
            survivor.display()
        );
    }
    assert!(
        tree.clean
            .join("link.tmp")
            .symlink_metadata()
            .expect("link")
            .file_type()
            .is_symlink()
    );

    let deleted: Vec<&String> = output
        .iter()
        .filter(|line| line.starts_with("deleted "))
        .collect();
    assert_eq!(deleted.len(), 4, "{output:#?}");
    assert!(
        output.iter().any(|line| line.contains("does not exist")),
        "{output:#?}"
    );
    // Hostile names are shown escaped: no raw newline or escape character reaches the output.
    assert!(
        output
            .iter()
            .all(|line| !line.contains('\n') && !line.contains('\u{1b}')),
        "{output:#?}"
    );
    assert!(
        output
            .iter()
            .any(|line| line.contains(r"old\nwith newline.tmp")),
        "{output:#?}"
    );
    assert!(
        output.iter().any(|line| line.contains(r"old\x1b[31mred")),
        "{output:#?}"
    );
}

#[tokio::test]
async fn temp_cleanup_param_overrides_the_age_and_rejects_bad_values() {
    let tmp = TempDir::new().expect("tempdir");
    let two_days = write(&tmp.path().join("a.tmp"), "x");
    age(&two_days, 2 * DAY);
    let settings = TempCleanupSettings {
        directories: vec![tmp.path().to_path_buf()],
        patterns: Vec::new(),
        older_than: 7 * DAY,
    };
    let plan = temp_cleanup::plan(&settings, &params(&[]))
        .await
        .expect("plan");
    assert!(planned_files(&plan).0.is_empty());
    let plan = temp_cleanup::plan(&settings, &params(&[("older_than", "1d")]))
        .await
        .expect("plan");
    assert_eq!(planned_files(&plan).0.len(), 1);
    assert!(
        notes(&plan)[0].starts_with("all files older than 1d under"),
        "{:?}",
        notes(&plan)
    );

    let bad = temp_cleanup::plan(&settings, &params(&[("older_than", "bad")])).await;
    assert!(
        matches!(&bad, Err(TaskError::BadParam { name, .. }) if name == "older_than"),
        "{bad:?}"
    );
    let (context, _rx) = task_context(&[("older_than", "bad")]);
    let bad = temp_cleanup::run(&settings, &context).await;
    assert!(
        matches!(&bad, Err(TaskError::BadParam { name, .. }) if name == "older_than"),
        "{bad:?}"
    );
    assert!(two_days.exists());
}

#[tokio::test]
async fn temp_cleanup_honours_a_cancelled_token() {
    let tmp = TempDir::new().expect("tempdir");
    let mut paths = Vec::new();
    for index in 0..300 {
        let path = write(
            &tmp.path().join(format!("d{}/f{index}.tmp", index % 10)),
            "x",
        );
        age(&path, 30 * DAY);
        paths.push(path);
    }
    let settings = TempCleanupSettings {
        directories: vec![tmp.path().to_path_buf()],
        patterns: vec!["*.tmp".into()],
        older_than: DAY,
    };
    let (context, _rx) = task_context(&[]);
    context.cancel.cancel();
    let result = temp_cleanup::run(&settings, &context).await;
    assert_eq!(result, Err(TaskError::Cancelled));
    assert!(
        paths.iter().all(|path| path.exists()),
        "a cancelled run deleted files"
    );
}

// ----- security-scan -----

#[tokio::test]
async fn security_scan_reports_exactly_the_bad_permissions() {
    let tmp = TempDir::new().expect("tempdir");
    let root = tmp.path().join("srv");
    let bad_env = write(&root.join("app/.env"), "SECRET=1");
    chmod(&bad_env, 0o644);
    for good in ["app/prod.env", "app/.env.local", "other/.env"] {
        chmod(&write(&root.join(good), "SECRET=1"), 0o600);
    }
    let data = root.join("app/data");
    fs::create_dir_all(&data).expect("data dir");
    chmod(&data, 0o777);
    let logs = root.join("app/logs");
    fs::create_dir_all(&logs).expect("logs dir");
    chmod(&logs, 0o750);
    let log = root.join("log");
    fs::create_dir_all(&log).expect("log dir");
    chmod(&log, 0o755);
    let shared = write(&root.join("shared.txt"), "anyone may write");
    chmod(&shared, 0o666);
    chmod(&write(&root.join("ok.txt"), "fine"), 0o644);
    let sticky = root.join("scratch");
    fs::create_dir_all(&sticky).expect("sticky dir");
    chmod(&sticky, 0o1777);
    // A symlink to a world-writable file outside: not followed, no finding.
    let outside = write(&tmp.path().join("outside/ww.txt"), "outside");
    chmod(&outside, 0o666);
    symlink(tmp.path().join("outside"), root.join("elsewhere")).expect("symlink");
    symlink(&outside, root.join("ww-link.txt")).expect("symlink");

    let settings = SecurityScanSettings {
        paths: vec![root.clone()],
        hardening: None,
    };
    let plan = security_scan::plan(&settings, &params(&[]))
        .await
        .expect("plan");
    let text = plan.lines().join("\n");
    assert!(text.contains(&root.display().to_string()), "{text}");
    assert!(
        text.contains("600") && text.contains("755 or 750") && text.contains("world-writable"),
        "{text}"
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

    let (context, mut rx) = task_context(&[]);
    let summary = security_scan::run(&settings, &context).await.expect("run");
    let output = lines(&mut rx);
    let findings: Vec<&String> = output
        .iter()
        .filter(|line| line.starts_with("WARN "))
        .collect();
    let (env, data, shared) = (bad_env.display(), data.display(), shared.display());
    assert_eq!(
        findings,
        [
            &format!("WARN {env} mode 644, expected 600 (chmod 600 '{env}')"),
            &format!("WARN {data} mode 777, expected 755 or 750 (chmod 755 '{data}')"),
            &format!("WARN {shared} mode 666 is world-writable (chmod o-w '{shared}')"),
        ],
        "{output:#?}"
    );
    assert_eq!(summary.exit_code, None);
    assert_eq!(summary.summary, "3 findings under 1 path");
}

#[tokio::test]
async fn security_scan_warns_about_a_missing_path_and_scans_the_rest() {
    let tmp = TempDir::new().expect("tempdir");
    let missing = tmp.path().join("nope");
    let settings = SecurityScanSettings {
        paths: vec![tmp.path().to_path_buf(), missing.clone()],
        hardening: None,
    };
    let plan = security_scan::plan(&settings, &params(&[]))
        .await
        .expect("plan");
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    let (context, mut rx) = task_context(&[]);
    let summary = security_scan::run(&settings, &context).await.expect("run");
    let output = lines(&mut rx);
    assert_eq!(
        summary.summary, "0 findings under 2 paths; 1 warning",
        "{output:#?}"
    );
    assert_eq!(output.len(), 1, "{output:#?}");
    assert!(
        output[0].starts_with("warning: ") && output[0].contains("does not exist"),
        "{output:#?}"
    );
}

// ----- log-rotation -----

fn logrotate_installed() {
    assert!(
        Path::new(LOGROTATE).is_file(),
        "these tests need logrotate at {LOGROTATE} (apt-get install logrotate)"
    );
}

fn rotation_settings(tmp: &TempDir, paths: Vec<String>) -> LogRotationSettings {
    LogRotationSettings {
        config: None,
        paths,
        state_file: None,
        work_dir: tmp.path().join("work"),
        program: LOGROTATE.into(),
    }
}

#[tokio::test]
async fn log_rotation_plans_the_exact_command_and_a_dry_run() {
    logrotate_installed();
    let tmp = TempDir::new().expect("tempdir");
    let app = write(&tmp.path().join("logs/app.log"), "line 1\nline 2\n");
    let settings = rotation_settings(&tmp, vec![app.display().to_string()]);
    let work = tmp.path().join("work");

    let plan = logrotate::plan(&settings, &params(&[("force", "true")]))
        .await
        .expect("plan");
    let argv: Vec<String> = [
        LOGROTATE,
        "-v",
        "-s",
        &work.join("logrotate.state").display().to_string(),
        "-f",
        &work.join("logrotate.conf").display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    assert!(
        plan.steps.contains(&PlanStep::Command { argv, cwd: None }),
        "{:#?}",
        plan.steps
    );
    let text = notes(&plan).join("\n");
    assert!(
        text.contains(&format!("would rotate {}", app.display())),
        "{text}"
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // The dry run changed nothing.
    assert!(!tmp.path().join("logs/app.log.1").exists());
    assert_eq!(fs::read_to_string(&app).expect("log"), "line 1\nline 2\n");

    // Without force, a first run has nothing due (logrotate starts a new state file as rotated).
    let plan = logrotate::plan(&settings, &params(&[]))
        .await
        .expect("plan");
    assert!(
        notes(&plan).contains(&"dry run (logrotate -d): nothing needs rotating now".to_owned()),
        "{:#?}",
        plan.steps
    );
}

#[tokio::test]
async fn log_rotation_rotates_with_the_guides_policy() {
    logrotate_installed();
    let tmp = TempDir::new().expect("tempdir");
    let logs = tmp.path().join("logs");
    let app = write(&logs.join("app.log"), "hello\n");
    let spaced = write(&logs.join("my app.log"), "spaced\n");
    let empty = write(&logs.join("empty.log"), "");
    let settings = rotation_settings(
        &tmp,
        [&app, &spaced, &empty]
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
    );

    let (context, mut rx) = task_context(&[("force", "true")]);
    let summary = logrotate::run(&settings, &context).await.expect("run");
    let output = lines(&mut rx);
    assert_eq!(
        summary.summary,
        format!("rotated 2 logs: {}, {}", app.display(), spaced.display()),
        "{output:#?}"
    );
    assert_eq!(summary.exit_code, Some(0));
    // delaycompress: the first rotation stays uncompressed.
    assert_eq!(
        fs::read_to_string(logs.join("app.log.1")).expect("app.log.1"),
        "hello\n"
    );
    assert_eq!(
        fs::read_to_string(logs.join("my app.log.1")).expect("my app.log.1"),
        "spaced\n"
    );
    assert_eq!(fs::read_to_string(&app).expect("new app.log"), "");
    assert_eq!(
        fs::metadata(&app).expect("app.log").permissions().mode() & 0o777,
        0o644
    );
    // notifempty: the empty log is left alone.
    assert!(!logs.join("empty.log.1").exists());
    assert!(
        output
            .iter()
            .any(|line| line == &format!("rotated {0} -> {0}.1", app.display())),
        "{output:#?}"
    );

    let config = tmp.path().join("work/logrotate.conf");
    let text = fs::read_to_string(&config).expect("generated config");
    assert!(
        text.contains(&format!(
            "{} \"{}\" {} {{",
            app.display(),
            spaced.display(),
            empty.display()
        )),
        "{text}"
    );
    for line in [
        "daily",
        "rotate 30",
        "compress",
        "delaycompress",
        "notifempty",
        "missingok",
        "create 644",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "{line} missing from\n{text}"
        );
    }
    assert_eq!(
        fs::metadata(&config).expect("config").permissions().mode() & 0o777,
        0o644
    );
    assert!(tmp.path().join("work/logrotate.state").is_file());

    // Again without force: rotated today already, nothing is due.
    let (context, _rx) = task_context(&[]);
    let summary = logrotate::run(&settings, &context)
        .await
        .expect("second run");
    assert_eq!(summary.summary, "nothing needed rotating");
}

#[tokio::test]
async fn log_rotation_without_logrotate_gives_the_install_hint() {
    let tmp = TempDir::new().expect("tempdir");
    let app = write(&tmp.path().join("app.log"), "x\n");
    let mut settings = rotation_settings(&tmp, vec![app.display().to_string()]);
    settings.program = "/nonexistent/logrotate".into();

    let (context, _rx) = task_context(&[]);
    let result = logrotate::run(&settings, &context).await;
    let hint = "`/nonexistent/logrotate` was not found: install it with `apt-get install \
                logrotate` or set [tasks.log-rotation] program";
    assert_eq!(result, Err(TaskError::Failed(hint.into())));

    let plan = logrotate::plan(&settings, &params(&[]))
        .await
        .expect("plan");
    assert!(
        plan.warnings.contains(&hint.to_owned()),
        "{:?}",
        plan.warnings
    );
    assert!(
        plan.steps.iter().any(|step| matches!(step, PlanStep::Command { argv, .. } if argv[0] == "/nonexistent/logrotate")),
        "{:#?}",
        plan.steps
    );
}

#[tokio::test]
async fn log_rotation_needs_a_config_or_paths_and_reports_logrotate_failures() {
    let tmp = TempDir::new().expect("tempdir");
    let settings = rotation_settings(&tmp, Vec::new());
    let expected = Some(TaskError::Failed(
        "nothing to rotate: set [tasks.log-rotation] config = FILE or paths = [...]".into(),
    ));
    assert_eq!(
        logrotate::plan(&settings, &params(&[])).await.err(),
        expected
    );
    let (context, _rx) = task_context(&[]);
    assert_eq!(logrotate::run(&settings, &context).await.err(), expected);

    let bad = rotation_settings(&tmp, vec!["/x/app.log".into()]);
    let result = logrotate::plan(&bad, &params(&[("force", "yes")])).await;
    assert!(
        matches!(&result, Err(TaskError::BadParam { name, .. }) if name == "force"),
        "{result:?}"
    );

    logrotate_installed();
    let mut missing_config = rotation_settings(&tmp, Vec::new());
    missing_config.config = Some(tmp.path().join("no-such.conf"));
    let plan = logrotate::plan(&missing_config, &params(&[]))
        .await
        .expect("plan");
    assert!(
        plan.warnings.iter().any(|w| w.contains("does not exist")),
        "{:?}",
        plan.warnings
    );
    let (context, mut rx) = task_context(&[]);
    let result = logrotate::run(&missing_config, &context).await;
    assert!(
        matches!(result, Err(TaskError::Exit(code)) if code != 0),
        "{result:?}"
    );
    assert!(
        !lines(&mut rx).is_empty(),
        "logrotate's output was not streamed"
    );
}
