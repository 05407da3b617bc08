//! The command line: global options and subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "opsdeck",
    version,
    about = "A terminal console for on-call engineers: live gauges, alerts and maintenance tasks.",
    after_help = "Examples:
  opsdeck                          open the console with ~/.config/opsdeck/config.toml or the defaults
  opsdeck --read-only --theme mono open it with destructive actions disabled, without colour
  opsdeck --pane alerts            open it with the focus on the alerts
  opsdeck check                    one pass of every check; exit 0 ok, 1 warn, 2 crit, 3 unknown
  opsdeck check --format json --only resources
  opsdeck tasks                    list the maintenance tasks and their last runs
  opsdeck run temp-cleanup --dry-run
  opsdeck run log-rotation --yes --param force=true
  opsdeck run --due                due scheduled tasks, from cron or a systemd timer
  opsdeck schedule print --cron    crontab lines for it (--systemd: a service and timer)
  opsdeck schedule --format json   the calendar: next 7 days due, past 7 days ran/skipped/failed
  opsdeck history --task db-vacuum-analyze --format json
  opsdeck queries --db app --top 10 --min-mean-ms 1000
  opsdeck logs --since 1h          log findings: errors, new signatures, access figures, failed logins
  opsdeck logs --source nginx --format json
  opsdeck hosts --format json      the fleet from Prometheus, worst first; exit by the rules
  opsdeck containers               Docker containers: state, health, restarts, OOM kills; exit by the rules
  opsdeck exporter                 serve /metrics at [exporter] listen without the console
  opsdeck checklist list           the checklists, whether each is due, and how far along
  opsdeck checklist tick daily handover --note 'quiet night, see INC-42'
  opsdeck checklist export daily > handover.md
  opsdeck incident open --level P1 --title 'checkout 500s' --affects checkout
  opsdeck incident export INC-20261205-3fa9c1 --format md > postmortem.md
  opsdeck report daily             yesterday's report as Markdown (weekly: last week, monthly: last month)
  opsdeck report monthly --date 2026-11-01 --format html --output november.html
  opsdeck report weekly --format json --send
  opsdeck config default > ~/.config/opsdeck/config.toml
  opsdeck config check ~/.config/opsdeck/config.toml"
)]
pub struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/opsdeck/config.toml if it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Theme: dark, light, high-contrast, mono, or a file in the config dir's themes/.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Refuse every destructive action.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// The pane the console opens with the focus on (default: resources).
    #[arg(long, value_enum, value_name = "PANE")]
    pub pane: Option<crate::tui::panes::Pane>,
    /// SQLite state database (default: $XDG_DATA_HOME/opsdeck/state.db).
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every check once and report; exit 0 ok, 1 warn, 2 crit, 3 unknown (Nagios style).
    Check {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only this group of checks (default: all).
        #[arg(long, value_enum)]
        only: Option<CheckGroup>,
    },
    /// List the maintenance tasks with their keys and last runs.
    Tasks {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run a maintenance task, streaming its output; exits with the task's status
    /// (0 succeeded, the command's own status or 1 failed, 2 refused, 124 timed out,
    /// 130 cancelled).
    Run {
        /// Task id, as listed by `opsdeck tasks`.
        #[arg(required_unless_present = "due", conflicts_with = "due")]
        task: Option<String>,
        /// Run every scheduled task that is due and not running in any process, one after
        /// another (for cron or a systemd timer; `opsdeck schedule print` writes the lines).
        /// Destructive tasks only with `unattended = true`. Exit 1 when a run failed.
        #[arg(long, conflicts_with_all = ["dry_run", "yes", "params"])]
        due: bool,
        /// Only show what the task would do.
        #[arg(long)]
        dry_run: bool,
        /// Confirm a task that changes the system (needed for destructive tasks).
        #[arg(long)]
        yes: bool,
        /// A task parameter, e.g. --param older_than=3d (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Show the audit log of task runs (who, what, when, status, output).
    History {
        /// Only runs of this task.
        #[arg(long)]
        task: Option<String>,
        /// How many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The slow statements, problem sessions and table health of the watched databases.
    Queries {
        /// Only this database (a [[database]] name); default: all.
        #[arg(long)]
        db: Option<String>,
        /// How many statements.
        #[arg(long)]
        top: Option<usize>,
        /// Only statements whose mean time is at least this.
        #[arg(long, value_name = "MS")]
        min_mean_ms: Option<f64>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The backup sets: newest backup age, sizes, retention, verification and restore tests
    /// (exit 0 ok, 1 warn, 2 crit).
    Backups {
        /// Only this set (a [[backup]] name); default: all.
        #[arg(long)]
        set: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The log sources' findings over the last `--since`: lines, errors and warnings, top
    /// signatures (new ones first), matches, access-log figures and failed logins, judged by the
    /// rules over each source's window (exit 0 ok, 1 warn, 2 crit, 3 a source unreadable).
    Logs {
        /// Only this source (a [[log]] name); default: all.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// How far back to read, e.g. 15m, 1h, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = parse_since)]
        since: std::time::Duration,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The fleet's hosts from the [[prometheus]] sources, worst first: up/down, CPU, memory,
    /// the fullest filesystem, load, network and the scrape's age, judged by the rules (exit 0
    /// ok, 1 warn, 2 crit, 3 a source or a PromQL rule could not be read).
    Hosts {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The Docker containers, worst first: state, health, restarts in the last hour, exit code
    /// and OOM kill, CPU, memory against the limit, image age, judged by the rules (exit 0 ok,
    /// 1 warn, 2 crit, 3 Docker could not be read).
    Containers {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Serve opsdeck's own metrics for Prometheus at `[exporter] listen` without the console
    /// (for a systemd unit): the console's collectors, rules and alerts, no terminal. Runs
    /// until SIGTERM or Ctrl-C; warnings go to standard error.
    Exporter,
    /// The maintenance checklists: where each run stands, ticking items, signing off, and the
    /// shift-handover export.
    Checklist {
        #[command(subcommand)]
        action: ChecklistCommand,
    },
    /// Incidents P0–P4: open one, acknowledge, change level, note, mitigate, resolve, add
    /// action items, and export the postmortem.
    Incident {
        #[command(subcommand)]
        action: IncidentCommand,
    },
    /// A composed report of a day, ISO week or month: status, resources, availability against
    /// each service's objective, alerts, incidents, slow statements, backups, checklists, task
    /// runs, capacity, log findings and what changed since the period before.
    Report {
        #[arg(value_enum)]
        kind: ReportKind,
        /// A day in the period to report on, YYYY-MM-DD (default: the last complete period:
        /// yesterday, last week, last month).
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// Also deliver it through [notify]: email gets the text, Slack its beginning, webhooks
        /// the JSON.
        #[arg(long)]
        send: bool,
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The maintenance calendar: the next 7 days' due tasks and checklists, and the past 7 days
    /// with what ran, was skipped, failed or was missed.
    Schedule {
        #[command(subcommand)]
        action: Option<ScheduleCommand>,
        /// The calendar around the start of this day (YYYY-MM-DD) instead of now.
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print or validate the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigCommand,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum ChecklistCommand {
    /// Every checklist with its current period, whether it is due, and its progress (exit 1 when
    /// a checklist file could not be read; the others are still listed).
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One run's items with who ticked or skipped them, and the notes.
    Show {
        /// Checklist id, as listed by `opsdeck checklist list`.
        id: String,
        #[command(flatten)]
        run: RunChoice,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Tick an item as done (or skip it with a reason, or reopen it), optionally with a note;
    /// exit 2 when refused.
    Tick {
        /// Checklist id.
        id: String,
        /// Item id, as `opsdeck checklist show ID` lists them.
        item: String,
        /// Not done on purpose, for this reason.
        #[arg(long, value_name = "REASON", conflicts_with = "reopen")]
        skip: Option<String>,
        /// A note on the item, recorded before the tick (items that need a note need it first).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Undo a tick or skip.
        #[arg(long)]
        reopen: bool,
        #[command(flatten)]
        run: RunChoice,
    },
    /// Add a note to an item or to the run as a whole (the handover notes); exit 2 when refused.
    Note {
        /// Checklist id.
        id: String,
        /// The note, exactly as it should be kept.
        text: String,
        /// The item the note is about (default: the run as a whole).
        #[arg(long)]
        item: Option<String>,
        #[command(flatten)]
        run: RunChoice,
    },
    /// Sign off a run whose items are all ticked or skipped; exit 2 when refused.
    SignOff {
        /// Checklist id.
        id: String,
        /// A closing remark, kept as a note on the run.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        #[command(flatten)]
        run: RunChoice,
    },
    /// The run as a shift-handover document (Markdown) or as JSON with every entry.
    Export {
        /// Checklist id.
        id: String,
        #[command(flatten)]
        run: RunChoice,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum IncidentCommand {
    /// The incidents, open ones first (most severe first), with their level, stage and whether
    /// the response is overdue.
    List {
        /// Resolved incidents too.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One incident: its times, affected systems, timeline and action items.
    Show {
        /// Incident id, as `opsdeck incident list` shows it.
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Declare an incident; prints its id. Exit 2 when refused.
    Open {
        /// P0 (full outage) to P4 (minor).
        #[arg(long, value_name = "LEVEL")]
        level: String,
        #[arg(long)]
        title: String,
        /// An affected system, service or instance (repeatable).
        #[arg(long = "affects", value_name = "NAME")]
        affects: Vec<String>,
    },
    /// Acknowledge: the response starts, and you are the commander.
    Ack { id: String },
    /// Change the level (P0 to P4).
    Level { id: String, level: String },
    /// Add a note to the timeline.
    Note {
        id: String,
        /// The note, exactly as it should be kept.
        text: String,
        /// What it is about, frozen as it is now (a value, a line of output, the SQL).
        #[arg(long, value_name = "TEXT")]
        evidence: Option<String>,
    },
    /// The impact is contained (a workaround is in place).
    Mitigate { id: String },
    /// The cause is fixed.
    Resolve { id: String },
    /// The service is fully back (after resolve).
    Recover { id: String },
    /// The postmortem is written (after resolve).
    PostmortemDone { id: String },
    /// Add a follow-up action item with its owner and due date.
    Action {
        id: String,
        #[arg(long)]
        owner: String,
        /// YYYY-MM-DD, today or later.
        #[arg(long, value_name = "DATE")]
        due: String,
        /// What is to be done.
        text: String,
    },
    /// Mark a follow-up action item done (its number as `show` lists it); it is no longer overdue.
    ActionDone { id: String, item: usize },
    /// The postmortem in the report template's four parts, as Markdown or JSON.
    Export {
        id: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
    },
}

/// Which run of a checklist: the current period's unless one of these picks another.
#[derive(Debug, Clone, Default, Args)]
pub struct RunChoice {
    /// The run of the period containing this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", conflicts_with = "period")]
    pub date: Option<String>,
    /// The run of this period, e.g. 2026-11-22, 2026-W47, 2026-11 or 2026-Q4.
    #[arg(long, value_name = "PERIOD")]
    pub period: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ScheduleCommand {
    /// Print what wakes `opsdeck run --due` at the tasks' due times: crontab lines, or a
    /// systemd service and timer.
    Print {
        #[arg(long, required_unless_present = "systemd", conflicts_with = "systemd")]
        cron: bool,
        #[arg(long)]
        systemd: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportKind {
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the built-in default configuration, with comments.
    Default,
    /// Validate a configuration file (default: the one opsdeck would read).
    Check { file: Option<PathBuf> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckGroup {
    Resources,
    Services,
    /// Open incidents nobody acknowledged within their level's target (from the state store).
    Incidents,
    /// The [[log]] sources, each judged over its window.
    Logs,
    /// Pending updates, reboots, key ages and hardening ([exposure], [[secret]]).
    Exposure,
    /// Scheduled tasks overdue on this host, and the age of each one's last success (from the
    /// state store).
    Tasks,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

fn parse_since(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(since) if !since.is_zero() => Ok(since),
        Ok(_) => Err("must be more than 0, e.g. 15m, 1h or 24h".to_owned()),
        Err(error) => Err(format!("{error}; write it like 15m, 1h, 24h or 7d")),
    }
}
