//! `opsdeck report`: a composed daily, weekly or monthly report, printed, written to a file, or
//! delivered through the notification channels.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Refused;
use crate::cli::{ReportFormat, ReportKind};
use crate::core::notify::{Document, Notifier, NotifySettings};
use crate::core::reports::{self, Format, Kind, ReportError, ReportSettings};
use crate::core::store::Store;

/// What was asked on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub kind: ReportKind,
    pub date: Option<String>,
    pub format: ReportFormat,
    pub send: bool,
    pub output: Option<PathBuf>,
}

pub fn kind_of(kind: ReportKind) -> Kind {
    match kind {
        ReportKind::Daily => Kind::Daily,
        ReportKind::Weekly => Kind::Weekly,
        ReportKind::Monthly => Kind::Monthly,
    }
}

pub fn format_of(format: ReportFormat) -> Format {
    match format {
        ReportFormat::Md => Format::Markdown,
        ReportFormat::Html => Format::Html,
        ReportFormat::Json => Format::Json,
    }
}

/// Composes, renders and prints, saves or sends the report; exit 0, 1 when a delivery failed
/// (the report is still printed or saved), 2 for a date that is not one, 3 when nothing was
/// recorded for the period (the report says so and is still printed, saved or sent: a cron job
/// pointed at the wrong store, or a console that was not running, should not pass for a quiet
/// period).
pub async fn run(
    store: &Store,
    settings: &ReportSettings,
    notify: NotifySettings,
    options: Options,
) -> Result<i32> {
    super::exit_status(report(store, settings, notify, options).await)
}

async fn report(
    store: &Store,
    settings: &ReportSettings,
    notify: NotifySettings,
    options: Options,
) -> Result<i32> {
    let now = crate::core::model::now();
    let report = reports::compose(
        store,
        settings,
        kind_of(options.kind),
        options.date.as_deref(),
        now,
        &chrono::Local,
    )
    .await
    .map_err(|error| match error {
        ReportError::BadDate(_) => anyhow::Error::new(Refused(error.to_string())),
        other => other.into(),
    })?;
    let text = reports::render(&report, format_of(options.format));
    match &options.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| {
                format!(
                    "cannot write the report to {}\n  fix: check that its directory exists and is writable",
                    path.display()
                )
            })?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    let quiet = if report.empty {
        eprintln!(
            "opsdeck: nothing was recorded for {} in the state store {}\n  fix: point the report at the store the console writes (--state FILE, or [store] url in the config), and keep the console running so it records",
            report.period.label,
            store.location()
        );
        3
    } else {
        0
    };
    if !options.send {
        return Ok(quiet);
    }
    let document = Document {
        title: reports::markdown::title(&report),
        text: reports::render(&report, Format::Markdown),
        json: serde_json::to_value(&report)?,
    };
    let failures = Notifier::new(notify).publish(&document).await;
    for failure in &failures {
        eprintln!("opsdeck: report not delivered: {failure}");
    }
    Ok(if failures.is_empty() { quiet } else { 1 })
}
