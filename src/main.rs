//! The opsdeck binary: parses the command line, loads the configuration, and runs the console
//! or a headless command. Errors are printed once, after the terminal is restored.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use opsdeck::cli::{CheckGroup, Cli, Command, ConfigCommand, Format, ScheduleCommand};
use opsdeck::config::keymap::KeyChord;
use opsdeck::config::paths::Paths;
use opsdeck::config::theme::Theme;
use opsdeck::config::{Config, DEFAULT_CONFIG, LoadedConfig};
use opsdeck::core::checks::{Judge, Rule};
use opsdeck::core::collectors::BlockingCollector;
use opsdeck::core::collectors::resources::{ResourceCollector, ResourceSettings};
use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::exporter::ExporterSettings;
use opsdeck::core::exporter::http::Endpoint;
use opsdeck::core::protocol::Event;
use opsdeck::core::runner::{self, Resources, RunnerSettings};
use opsdeck::core::sources::secrets::RedactingWriter;
use opsdeck::core::store::{Store, StoreLocation};
use opsdeck::core::tasks::{Params, Task};
use opsdeck::headless;
use opsdeck::headless::check::{
    CheckReport, check_exposure, check_incidents, check_resources, check_services, check_tasks,
};
use opsdeck::tui::app::{AppState, HostInfo, Msg};
use opsdeck::tui::style::Look;
use opsdeck::tui::style::{Palette, glyphs_for};

fn main() -> ExitCode {
    // Without fault-around the loader's tables are dropped with the rest of the pages read
    // before main; on kernels that refuse it, at least those go.
    if opsdeck::fault_around::switch_off().is_err() {
        opsdeck::loader_tables::release();
    }
    let cli = Cli::parse();
    let failure_code = match &cli.command {
        Some(
            Command::Check { .. }
            | Command::Logs { .. }
            | Command::Hosts { .. }
            | Command::Containers { .. },
        ) => 3,
        _ => 1,
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            opsdeck::tui::terminal::restore();
            if opsdeck::tui::terminal::was_entered() {
                eprint!("\r\n");
            }
            eprintln!("opsdeck: {error:#}");
            ExitCode::from(failure_code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
    let paths = Paths::discover();
    match &cli.command {
        Some(Command::Config {
            action: ConfigCommand::Default,
        }) => {
            print!("{DEFAULT_CONFIG}");
            Ok(0)
        }
        Some(Command::Config {
            action: ConfigCommand::Check { file },
        }) => config_check(file.as_ref().or(cli.config.as_ref()), paths.as_ref()),
        Some(Command::Check { format, only }) => {
            let loaded = load_config(&cli, paths.as_ref())?;
            let config = &loaded.config;
            let judge = Judge::new(config.effective_rules());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let checks = runtime.block_on(async {
                let mut checks = Vec::new();
                if matches!(only, None | Some(CheckGroup::Resources)) {
                    checks.extend(check_resources(config.resource_settings(), &judge).await?);
                }
                if matches!(only, None | Some(CheckGroup::Services)) {
                    checks.extend(check_services(&config.service_specs, &judge).await);
                }
                if matches!(only, None | Some(CheckGroup::Logs)) {
                    checks.extend(headless::logs::check_lines(&config.log_sources, &judge).await);
                }
                if matches!(only, None | Some(CheckGroup::Exposure)) {
                    let settings = config
                        .exposure
                        .settings(&config.secret_specs, &state_dir(paths.as_ref()));
                    checks.extend(check_exposure(settings, &judge).await);
                }
                if matches!(only, None | Some(CheckGroup::Incidents)) {
                    let location = store_location(&cli, config, paths.as_ref())?;
                    checks.extend(check_incidents(&location, &judge).await);
                }
                if matches!(only, None | Some(CheckGroup::Tasks)) {
                    let location = store_location(&cli, config, paths.as_ref())?;
                    let schedules: Vec<_> = config
                        .tasks(&state_dir(paths.as_ref()))
                        .into_iter()
                        .filter_map(|(task, _)| Some((task.info.id, task.info.schedule?)))
                        .collect();
                    checks.extend(check_tasks(&location, &hostname(), &schedules, &judge).await);
                }
                Ok::<_, anyhow::Error>(checks)
            })?;
            let report = CheckReport::new(hostname(), checks);
            match format {
                Format::Text => print!("{}", report.to_text()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            Ok(report.status.exit_code())
        }
        Some(Command::Tasks { format }) => {
            let format = *format;
            with_store(&cli, paths, |config, store, paths| async move {
                let tasks: Vec<(Task, Option<String>)> = config
                    .tasks(&state_dir(paths.as_ref()))
                    .into_iter()
                    .map(|(task, key)| (task, key.map(|key| key.to_string())))
                    .collect();
                let host = hostname();
                // This host's tasks are judged by its own runs, not the others' on a shared store.
                let runs = store.host_runs(&host, 1000).await?;
                let now = opsdeck::core::model::now();
                let scheduled: Vec<String> = tasks
                    .iter()
                    .filter(|(task, _)| task.info.schedule.is_some())
                    .map(|(task, _)| task.info.id.clone())
                    .collect();
                let watched = store.watch_schedules(&host, &scheduled, now).await?;
                let listing = headless::tasks::listing(&tasks, &runs, &watched, now);
                match format {
                    Format::Text => print!("{}", headless::tasks::listing_text(&listing)),
                    Format::Json => println!("{}", serde_json::to_string_pretty(&listing)?),
                }
                Ok(0)
            })
        }
        Some(Command::History {
            task,
            limit,
            format,
        }) => {
            let (task, limit, format) = (task.clone(), *limit, *format);
            with_store(&cli, paths, |_, store, _| async move {
                let runs = store.runs(task.as_deref(), limit).await?;
                match format {
                    Format::Text => print!("{}", headless::tasks::history_text(&runs)),
                    Format::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
                }
                Ok(0)
            })
        }
        Some(Command::Run { due: true, .. }) => {
            let read_only = cli.read_only;
            with_store(&cli, paths, |config, store, paths| async move {
                let tasks = config.tasks(&state_dir(paths.as_ref()));
                let due: Vec<String> = tasks
                    .iter()
                    .filter(|(task, _)| task.info.schedule.is_some())
                    .map(|(task, _)| task.info.id.clone())
                    .collect();
                // The latest due time is run even when it passed before watching began: cron
                // wakes this at that very time, so its own first look must not hide it. Only
                // the overdue view skips such windows; record the start for it.
                store
                    .watch_schedules(&hostname(), &due, opsdeck::core::model::now())
                    .await?;
                let settings = RunnerSettings::tasks_only(task_settings(
                    tasks,
                    read_only || config.general.read_only,
                    paths.as_ref(),
                ));
                let runner = runner::spawn(settings, Some(store));
                headless::tasks::run_due(runner, due).await
            })
        }
        Some(Command::Run {
            task,
            dry_run,
            yes,
            params,
            ..
        }) => {
            let (task_id, dry_run, yes) = (task.clone().unwrap_or_default(), *dry_run, *yes);
            let params: Params = params.iter().cloned().collect();
            let read_only = cli.read_only;
            with_store(&cli, paths, |config, store, paths| async move {
                let tasks = config.tasks(&state_dir(paths.as_ref()));
                let settings = RunnerSettings::tasks_only(task_settings(
                    tasks,
                    read_only || config.general.read_only,
                    paths.as_ref(),
                ));
                let runner = runner::spawn(settings, Some(store));
                headless::tasks::run(runner, task_id, params, dry_run, yes).await
            })
        }
        Some(Command::Schedule {
            action: Some(ScheduleCommand::Print { systemd, .. }),
            ..
        }) => {
            let loaded = load_config(&cli, paths.as_ref())?;
            let tasks = loaded.config.tasks(&state_dir(paths.as_ref()));
            let scheduled: Vec<(&str, &opsdeck::core::tasks::schedule::CronExpr)> = tasks
                .iter()
                .filter_map(|(task, _)| {
                    let schedule = task.info.schedule.as_ref()?;
                    Some((task.info.id.as_str(), &schedule.cron))
                })
                .collect();
            if scheduled.is_empty() {
                return Err(anyhow!(
                    "no task has a schedule, so there is nothing to wake `run --due` for\n  fix: add schedule = \"0 3 * * *\" to a [tasks.NAME] or [[task]] entry"
                ));
            }
            let command = due_command(&cli, &loaded)?;
            if *systemd {
                for (name, contents) in
                    opsdeck::core::tasks::schedule::systemd_units(&scheduled, &command)
                {
                    println!("# /etc/systemd/system/{name}\n{contents}");
                }
            } else {
                print!(
                    "{}",
                    opsdeck::core::tasks::schedule::crontab(&scheduled, &command)
                );
            }
            Ok(0)
        }
        Some(Command::Schedule {
            action: None,
            date,
            format,
        }) => {
            let (date, format) = (date.clone(), *format);
            let now = match &date {
                Some(date) => day_start(date)?,
                None => chrono::Utc::now(),
            };
            with_store(&cli, paths, |config, store, paths| async move {
                let tasks: Vec<opsdeck::core::tasks::TaskInfo> = config
                    .tasks(&state_dir(paths.as_ref()))
                    .into_iter()
                    .map(|(task, _)| task.info)
                    .collect();
                let session = checklist_session(&config, paths.as_ref());
                let calendar = opsdeck::core::calendar::load(
                    &store,
                    &hostname(),
                    &tasks,
                    &session.checklists,
                    session.language,
                    now,
                    &chrono::Local,
                )
                .await?;
                match format {
                    Format::Text => print!("{}", calendar.to_text(&chrono::Local)),
                    Format::Json => println!("{}", serde_json::to_string_pretty(&calendar)?),
                }
                Ok(0)
            })
        }
        Some(Command::Queries {
            db,
            top,
            min_mean_ms,
            format,
        }) => {
            let loaded = load_config(&cli, paths.as_ref())?;
            let mut databases = loaded.config.databases();
            if let Some(db) = db {
                let known: Vec<String> = databases.iter().map(|(name, _)| name.clone()).collect();
                databases.retain(|(name, _)| name == db);
                if databases.is_empty() {
                    return Err(anyhow!(
                        "no [[database]] named `{db}`; configured: {}\n  fix: pass one of those to --db, or add it to the config",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ));
                }
            }
            if databases.is_empty() {
                return Err(anyhow!(
                    "no databases to look at\n  fix: add [[database]] name = \"app\" url = \"postgres://…\" to the config"
                ));
            }
            let mut settings = loaded.config.queries.settings();
            if let Some(top) = top {
                settings.top = (*top).max(1);
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut snapshots = runtime.block_on(headless::queries::collect(&databases, &settings));
            if let Some(min_mean_ms) = min_mean_ms {
                headless::queries::keep_slower_than(&mut snapshots, *min_mean_ms);
            }
            match format {
                Format::Text => print!("{}", headless::queries::to_text(&snapshots)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&snapshots)?),
            }
            Ok(
                if snapshots.iter().any(|snapshot| snapshot.error.is_some()) {
                    1
                } else {
                    0
                },
            )
        }
        Some(Command::Backups { set, format }) => {
            let (set, format) = (set.clone(), *format);
            with_store(&cli, paths, |config, store, _| async move {
                let mut sets = config.backup_set_specs.clone();
                if sets.is_empty() {
                    return Err(anyhow!(
                        "no backup sets configured\n  fix: add a [[backup]] section (opsdeck config default shows one)"
                    ));
                }
                if let Some(wanted) = &set {
                    let known: Vec<String> = sets.iter().map(|set| set.name.clone()).collect();
                    sets.retain(|set| set.name == *wanted);
                    if sets.is_empty() {
                        return Err(anyhow!(
                            "no [[backup]] set named `{wanted}`; configured: {}\n  fix: pass one of those to --set",
                            known.join(", ")
                        ));
                    }
                }
                let judged =
                    headless::backups::judge(&sets, Some(&store), &config.effective_rules()).await;
                match format {
                    Format::Text => print!("{}", headless::backups::to_text(&judged)),
                    Format::Json => println!("{}", serde_json::to_string_pretty(&judged)?),
                }
                Ok(headless::backups::exit_code(&judged))
            })
        }
        Some(Command::Logs {
            source,
            since,
            format,
        }) => {
            let loaded = load_config(&cli, paths.as_ref())?;
            headless::exit_status(logs(&loaded.config, source.as_deref(), *since, *format))
        }
        Some(Command::Hosts { format }) => {
            let loaded = load_config(&cli, paths.as_ref())?;
            headless::exit_status(hosts(&loaded.config, *format))
        }
        Some(Command::Containers { format }) => {
            let loaded = load_config(&cli, paths.as_ref())?;
            headless::exit_status(containers(&loaded.config, *format))
        }
        Some(Command::Exporter) => exporter(&cli, paths),
        Some(Command::Checklist { action }) => {
            let action = action.clone();
            with_store(&cli, paths, |config, store, paths| async move {
                let session = checklist_session(&config, paths.as_ref());
                headless::checklists::run(&session, &store, action).await
            })
        }
        Some(Command::Incident { action }) => {
            let action = action.clone();
            with_store(&cli, paths, |config, store, _| async move {
                let session = headless::incidents::Session {
                    language: config
                        .general
                        .language
                        .resolve(&|name| std::env::var(name).ok()),
                    user: username(),
                    host: hostname(),
                    notify: config.notify.settings(&hostname()),
                };
                headless::incidents::run(&session, &store, action).await
            })
        }
        Some(Command::Report {
            kind,
            date,
            format,
            send,
            output,
        }) => {
            let options = headless::report::Options {
                kind: *kind,
                date: date.clone(),
                format: *format,
                send: *send,
                output: output.clone(),
            };
            with_store(&cli, paths, |config, store, paths| async move {
                let checklists = checklist_session(&config, paths.as_ref());
                let settings = report_settings(&config, checklists.checklists, paths.as_ref());
                let notify = config.notify.settings(&hostname());
                headless::report::run(&store, &settings, notify, options).await
            })
        }
        None => console(&cli, paths),
    }
}

/// The checklists (built-in and the user's) with the language their labels are shown in.
fn checklist_session(config: &Config, paths: Option<&Paths>) -> headless::checklists::Session {
    headless::checklists::Session::load(
        paths
            .map(|paths| opsdeck::core::checklists::user_dir(&paths.config_dir))
            .as_deref(),
        config
            .tasks(&state_dir(paths))
            .into_iter()
            .map(|(task, _)| task.info.id)
            .collect(),
        config
            .general
            .language
            .resolve(&|name| std::env::var(name).ok()),
        username(),
        hostname(),
    )
}

/// What a composed report reads besides the store, from the configuration.
fn report_settings(
    config: &Config,
    checklists: Vec<opsdeck::core::checklists::Checklist>,
    paths: Option<&Paths>,
) -> opsdeck::core::reports::ReportSettings {
    opsdeck::core::reports::ReportSettings {
        host: hostname(),
        services: opsdeck::config::services::report_targets(&config.services),
        rules: config.effective_rules(),
        checklists,
        databases: config.databases(),
        queries: config.queries.settings(),
        backups: config.backup_set_specs.clone(),
        logs: config.log_sources.clone(),
        reports_dir: paths.map(|paths| paths.state_dir.join("reports")),
    }
}

/// `opsdeck logs`: the chosen sources read on a blocking thread, judged and printed.
fn logs(
    config: &Config,
    source: Option<&str>,
    since: std::time::Duration,
    format: Format,
) -> Result<i32> {
    let sources = headless::logs::select(&config.log_sources, source)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let snapshot = runtime.block_on(headless::logs::scan(sources.clone(), since))?;
    let judge = Judge::new(config.effective_rules());
    let report = headless::logs::LogsReport::new(hostname(), &sources, snapshot, since, &judge);
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.exit_code())
}

/// `opsdeck hosts`: every `[[prometheus]]` source read once, judged and printed.
fn hosts(config: &Config, format: Format) -> Result<i32> {
    headless::hosts::require(&config.fleet_specs)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sources = runtime.block_on(headless::hosts::collect(&config.fleet_specs));
    let judge = Judge::new(config.effective_rules());
    let report = headless::hosts::HostsReport::new(sources, &judge);
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.exit_code())
}

/// `opsdeck containers`: every Docker container read once, judged and printed.
fn containers(config: &Config, format: Format) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let snapshot = runtime.block_on(headless::containers::collect());
    let judge = Judge::new(config.effective_rules());
    let report = headless::containers::ContainersReport::new(snapshot, &judge);
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.exit_code())
}

/// Loads the config, opens the state store, and runs `body` on a small runtime.
fn with_store<F, Fut>(cli: &Cli, paths: Option<Paths>, body: F) -> Result<i32>
where
    F: FnOnce(Config, Store, Option<Paths>) -> Fut,
    Fut: std::future::Future<Output = Result<i32>>,
{
    let loaded = load_config(cli, paths.as_ref())?;
    let location = store_location(cli, &loaded.config, paths.as_ref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Store::open(&location).await?.for_host(&hostname()).await?;
        // The audit log must not show a run of a dead process as still running.
        opsdeck::core::execution::mark_interrupted(&store, &hostname()).await?;
        body(loaded.config, store, paths).await
    })
}

/// The command cron or systemd runs: this binary, with the configuration and state it was
/// given, and `run --due`.
fn due_command(cli: &Cli, loaded: &LoadedConfig) -> Result<String> {
    let exe = std::env::current_exe().context("cannot tell where the opsdeck binary is")?;
    let mut argv = vec![exe.display().to_string()];
    if let Some(config) = &loaded.source {
        let config = std::fs::canonicalize(config).unwrap_or_else(|_| config.clone());
        argv.extend(["--config".to_owned(), config.display().to_string()]);
    }
    if let Some(state) = &cli.state {
        let state = std::path::absolute(state).unwrap_or_else(|_| state.clone());
        argv.extend(["--state".to_owned(), state.display().to_string()]);
    }
    argv.extend(["run".to_owned(), "--due".to_owned()]);
    Ok(shell_words::join(argv))
}

/// The local start of a `YYYY-MM-DD` day.
fn day_start(date: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .with_context(|| format!("`{date}` is not a date\n  fix: write it as YYYY-MM-DD"))?;
    chrono::Local
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|start| start.with_timezone(&chrono::Utc))
        .ok_or_else(|| anyhow!("{date} has no local midnight"))
}

/// Where generated files and run logs go.
fn state_dir(paths: Option<&Paths>) -> PathBuf {
    paths.map_or_else(
        || std::env::temp_dir().join("opsdeck"),
        |paths| paths.state_dir.clone(),
    )
}

fn task_settings(
    tasks: Vec<(Task, Option<KeyChord>)>,
    read_only: bool,
    paths: Option<&Paths>,
) -> TaskSettings {
    TaskSettings {
        tasks: tasks.into_iter().map(|(task, _)| task).collect(),
        read_only,
        identity: Identity::from_environment(hostname(), username()),
        runs_dir: Some(state_dir(paths).join("runs")),
    }
}

/// Loads the configuration and makes its incident levels and contacts the ones this process
/// judges incidents by.
fn load_config(cli: &Cli, paths: Option<&Paths>) -> Result<LoadedConfig> {
    let default_file = paths.map(Paths::config_file);
    let loaded = Config::load(cli.config.as_deref(), default_file.as_deref())?;
    // The configuration is read once per process; a second read would carry the same policy.
    opsdeck::core::incidents::policy::install(loaded.config.incident_policy.clone());
    Ok(loaded)
}

fn config_check(file: Option<&PathBuf>, paths: Option<&Paths>) -> Result<i32> {
    let path = match (file, paths) {
        (Some(file), _) => file.clone(),
        (None, Some(paths)) => paths.config_file(),
        (None, None) => {
            return Err(anyhow!(
                "no config file given and no home directory to look in; pass FILE"
            ));
        }
    };
    if file.is_none() && !path.exists() {
        println!(
            "{}: no such file; opsdeck uses the built-in defaults (`opsdeck config default` prints them)",
            path.display()
        );
        return Ok(0);
    }
    let loaded = Config::load(Some(&path), None)?;
    let themes_dir = paths.map(Paths::themes_dir);
    loaded
        .config
        .theme(None, themes_dir.as_deref(), Some(&path))?;
    check_promql_rules(&loaded.config, &path)?;
    let conflicts = loaded.config.keymap().conflicts();
    for (key, first, second) in &conflicts {
        eprintln!(
            "{}: warning: key {key} is bound to both `{}` and `{}`; `{}` wins",
            path.display(),
            first.name(),
            second.name(),
            first.name()
        );
    }
    println!("{}: ok", path.display());
    Ok(0)
}

/// Asks the first `[[prometheus]]` server whether each `[[rule]] promql` parses: a refused one is
/// reported at its `[[rule]]` with Prometheus' own error text. A server that cannot be reached
/// is a warning (the rules are then checked at their first evaluation, shown in place).
fn check_promql_rules(config: &Config, path: &std::path::Path) -> Result<()> {
    let (Some(spec), false) = (config.fleet_specs.first(), config.promql_rules.is_empty()) else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let server = opsdeck::core::sources::prometheus::Prometheus::new(spec.server.clone())?;
    let rules: Vec<_> = config
        .promql_rules
        .iter()
        .map(|placed| placed.rule.clone())
        .collect();
    match runtime.block_on(opsdeck::core::fleet::check_rules(&server, &rules)) {
        Ok(refused) => {
            match refused.first() {
                Some((index, message)) => {
                    let placed = &config.promql_rules[*index];
                    Err(opsdeck::config::ConfigError {
                    file: path.display().to_string(),
                    position: Some(placed.at),
                    message: format!(
                        "Prometheus refuses the promql of rule `{}`: {}",
                        placed.rule.metric.trim_start_matches("promql."),
                        opsdeck::core::text::printable(message)
                    ),
                    fix: Some("correct the expression (try it in Prometheus' expression browser first)".into()),
                }
                .into())
                }
                None => Ok(()),
            }
        }
        Err(error) => {
            eprintln!(
                "{}: warning: the promql rules were not checked: {error}",
                path.display()
            );
            Ok(())
        }
    }
}

fn hostname() -> String {
    hostname::get()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown-host".into())
}

fn username() -> String {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return user;
    }
    let uid = rustix::process::getuid().as_raw().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.get(2) == Some(&uid.as_str())).then(|| fields[0].to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn theme_for(cli: &Cli, loaded: &LoadedConfig, paths: Option<&Paths>) -> Result<Theme> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    let chosen = if no_color {
        Some("mono")
    } else {
        cli.theme.as_deref()
    };
    let themes_dir = paths.map(Paths::themes_dir);
    Ok(loaded
        .config
        .theme(chosen, themes_dir.as_deref(), loaded.source.as_deref())?)
}

fn store_location(cli: &Cli, config: &Config, paths: Option<&Paths>) -> Result<StoreLocation> {
    if let Some(file) = &cli.state {
        return Ok(StoreLocation::Sqlite(file.clone()));
    }
    if let Some(location) = &config.store.url.0 {
        return Ok(location.clone());
    }
    paths
        .map(|paths| StoreLocation::Sqlite(paths.default_state_database()))
        .ok_or_else(|| anyhow!("no home directory to keep state in\n  fix: set HOME or XDG_DATA_HOME, or pass --state FILE"))
}

fn init_logging(
    paths: Option<&Paths>,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    let Some(paths) = paths else {
        return Ok(None);
    };
    let log_file = paths.log_file();
    std::fs::create_dir_all(&paths.state_dir)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&log_file))
        .with_context(|| format!("cannot write the log file {}\n  fix: make {} writable, or set XDG_STATE_HOME to a writable directory", log_file.display(), paths.state_dir.display()))?;
    let appender = tracing_appender::rolling::never(&paths.state_dir, "opsdeck.log");
    // The default queue preallocates 128,000 slots (megabytes of resident memory); a console
    // logs a few lines a minute.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(1024)
        .finish(appender);
    // `target=level` directives (`info,opsdeck::core=debug`); tracing's EnvFilter would also take
    // span and field filters, at the price of a full regex engine (0.2 MiB resident).
    let filter = std::env::var("OPSDECK_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || RedactingWriter(writer.clone()))
                .with_ansi(false),
        )
        .with(filter)
        .init();
    Ok(Some(guard))
}

fn rules_summary(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .map(|rule| {
            let subject = match &rule.instance {
                Some(instance) => format!("{} {instance}", rule.metric),
                None => rule.metric.clone(),
            };
            let limits: Vec<String> = [("warn", rule.warn), ("crit", rule.crit)]
                .into_iter()
                .filter_map(|(label, value)| {
                    value.map(|v| format!("{label} {} {v}", rule.operator.symbol()))
                })
                .collect();
            let hold = if rule.hold_for.is_zero() {
                String::new()
            } else {
                format!(" for {}", humantime::format_duration(rule.hold_for))
            };
            format!("{subject}: {}{hold}", limits.join(", "))
        })
        .collect()
}

fn console(cli: &Cli, paths: Option<Paths>) -> Result<i32> {
    let loaded = load_config(cli, paths.as_ref())?;
    let theme = theme_for(cli, &loaded, paths.as_ref())?;
    let config = loaded.config;
    let location = store_location(cli, &config, paths.as_ref())?;
    if !std::io::stdout().is_terminal() {
        return Err(anyhow!(
            "the console needs a terminal on stdout\n  fix: run it in a terminal, or use `opsdeck check` in scripts"
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rules = config.effective_rules();
    let host = HostInfo {
        hostname: hostname(),
        user: username(),
        environment: config.general.environment.clone(),
        read_only: cli.read_only || config.general.read_only,
    };
    let mut state = AppState::new(
        host,
        config.keymap(),
        config.resources.interval.0,
        rules_summary(&rules),
        chrono::Utc::now(),
    );
    let look = Look {
        palette: Palette::new(&theme),
        glyphs: glyphs_for(config.general.glyphs, &|name| std::env::var(name).ok()),
        utc_offset: *chrono::Local::now().offset(),
    };
    let read_only = cli.read_only || config.general.read_only;
    let tasks = config.tasks(&state_dir(paths.as_ref()));
    state.set_services(
        config
            .service_specs
            .iter()
            .map(|spec| (spec.name.clone(), spec.check.kind(), spec.interval))
            .collect(),
    );
    state.set_databases(
        config
            .databases()
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
        config.queries.interval.0,
    );
    let checklists = checklist_session(&config, paths.as_ref());
    state.language = checklists.language;
    state.set_checklists(
        checklists.checklists.clone(),
        checklists.language,
        checklists
            .load_errors
            .iter()
            .map(ToString::to_string)
            .collect(),
    );
    state.set_backup_sets(
        config
            .backup_set_specs
            .iter()
            .map(|set| set.name.clone())
            .collect(),
    );
    state.set_containers_watched(config.containers.enabled);
    state.set_fleet_sources(
        config
            .fleet_specs
            .iter()
            .map(|spec| spec.name.clone())
            .collect(),
    );
    state.set_log_sources(
        config
            .log_sources
            .iter()
            .map(|source| source.name.clone())
            .collect(),
    );
    state.set_tasks(
        tasks
            .iter()
            .map(|(task, key)| (task.info.clone(), *key))
            .collect(),
    );
    if let Some(pane) = cli.pane {
        state.focus_on(pane);
    }
    let resources = read_gauges_first(config.resource_settings(), &rules, &mut state);
    let reports = report_settings(&config, checklists.checklists.clone(), paths.as_ref());
    let settings = runner_settings(
        &config,
        &checklists.checklists,
        resources,
        read_only,
        paths.as_ref(),
    );
    let settings = RunnerSettings {
        reports: Some(reports),
        ..settings
    };
    let exporter = config.exporter.listen.0.map(|listen| ExporterSettings {
        listen,
        host: hostname(),
        checklists: checklists.checklists.clone(),
    });
    // Opening the store (and creating the log) waits until the first frame is on screen.
    let start = async {
        let store = Store::open(&location).await?.for_host(&hostname()).await?;
        let log_guard = init_logging(paths.as_ref())?;
        tracing::info!(store = store.location(), "opsdeck started");
        let runner = runner::spawn(settings, Some(store.clone()));
        let runner = match exporter {
            Some(exporter) => runner::exporter::attach_or_warn(exporter, runner, Some(store)).await,
            None => runner,
        };
        Ok((runner, log_guard))
    };
    let exit = runtime.block_on(opsdeck::tui::run(state, look, start, config.general.mouse))?;
    Ok(exit.code())
}

/// The runner of the console and of `opsdeck exporter`: every collector, rule and task the
/// configuration has (reports are the console's alone).
fn runner_settings(
    config: &Config,
    checklists: &[opsdeck::core::checklists::Checklist],
    resources: Resources,
    read_only: bool,
    paths: Option<&Paths>,
) -> RunnerSettings {
    RunnerSettings {
        resources: Some(resources),
        rules: config.effective_rules(),
        services: config.service_specs.clone(),
        notify: config.notify.settings(&hostname()),
        databases: config.databases(),
        queries: config.queries.settings(),
        queries_interval: config.queries.interval.0,
        backups: config.backup_set_specs.clone(),
        backups_interval: config.backups.interval.0,
        checklists: checklists.to_vec(),
        watch_incidents: true,
        watch_schedules: true,
        shared: Some(opsdeck::core::shared::SharedSettings::console()),
        logs: config.log_sources.clone(),
        fleet: config.fleet_specs.clone(),
        capacity: Some(opsdeck::core::capacity::job::JobTiming::default()),
        exposure: Some(
            config
                .exposure
                .settings(&config.secret_specs, &state_dir(paths)),
        ),
        containers: config.containers.watch(),
        ..RunnerSettings::tasks_only(task_settings(
            config.tasks(&state_dir(paths)),
            read_only,
            paths,
        ))
    }
}

/// `opsdeck exporter`: the console's runner without a terminal, serving `/metrics` at
/// `[exporter] listen` until SIGTERM.
fn exporter(cli: &Cli, paths: Option<Paths>) -> Result<i32> {
    let loaded = load_config(cli, paths.as_ref())?;
    let config = &loaded.config;
    let file = loaded.source.as_ref().map_or_else(
        || "the built-in defaults".to_owned(),
        |path| path.display().to_string(),
    );
    let Some(listen) = config.exporter.listen.0 else {
        return Err(anyhow!(
            "{file}: no [exporter] listen address; the exporter is off\n  fix: add [exporter] listen = \"127.0.0.1:9464\""
        ));
    };
    let location = store_location(cli, config, paths.as_ref())?;
    let checklists = checklist_session(config, paths.as_ref());
    let read_only = cli.read_only || config.general.read_only;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let endpoint = Endpoint::bind(ExporterSettings {
            listen,
            host: hostname(),
            checklists: checklists.checklists.clone(),
        })
        .await
        .map_err(|error| {
            anyhow!("{error}\n  fix: set [exporter] listen in {file} to a free address, or stop what listens there")
        })?;
        let store = Store::open(&location)
            .await?
            .for_host(&hostname())
            .await?;
        let _log_guard = init_logging(paths.as_ref())?;
        tracing::info!(store = store.location(), "opsdeck exporter started");
        let settings = RunnerSettings {
            // Its own heartbeat kind, so a rule on `heartbeat.exporter_age` notices a dead one.
            shared: Some(opsdeck::core::shared::SharedSettings {
                kind: opsdeck::core::shared::Kind::Exporter,
                ..opsdeck::core::shared::SharedSettings::console()
            }),
            ..runner_settings(
                config,
                &checklists.checklists,
                Resources::Settings(config.resource_settings()),
                read_only,
                paths.as_ref(),
            )
        };
        headless::exporter::run(runner::spawn(settings, Some(store.clone())), endpoint, store).await
    })
}

/// How long the console waits for its first reading of the gauges before drawing without them
/// (statvfs on a stalled NFS mount can block for minutes; the runner then reports it in place).
const FIRST_READING_WAIT: std::time::Duration = std::time::Duration::from_millis(40);

/// Reads the local figures (CPU since boot, memory, swap, filesystems, load, uptime) before the
/// first frame, so the first frame already holds them and no repaint follows it; the runner
/// takes over the collector for the next reading, one interval later.
fn read_gauges_first(
    settings: ResourceSettings,
    rules: &[Rule],
    state: &mut AppState,
) -> Resources {
    let (sender, receiver) = std::sync::mpsc::channel();
    let owned = settings.clone();
    let reader = std::thread::Builder::new()
        .name("first-reading".into())
        .spawn(move || {
            let read = ResourceCollector::new(owned).and_then(|mut collector| {
                let sample = collector.collect()?;
                Ok((collector, sample))
            });
            let _ = sender.send(read);
        });
    let read = reader
        .ok()
        .and_then(|_| receiver.recv_timeout(FIRST_READING_WAIT).ok());
    match read {
        Some(Ok((collector, sample))) => {
            let evaluations = Judge::new(rules.to_vec()).evaluate(&sample);
            state.update(Msg::Runner(Event::Resources {
                sample: Box::new(sample),
                evaluations,
            }));
            Resources::Primed(Box::new(collector))
        }
        // Late or failed: the runner reads them itself and shows a failure in place.
        _ => Resources::Settings(settings),
    }
}
