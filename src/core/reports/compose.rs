//! Composing a report from the configuration's settings: which period, the live reads (watched
//! databases, backup inventories, log sources read back over the period), then [`build`]. The
//! command line and the console's runner both come here.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::build::{Live, ReportInputs, ServiceTarget, build};
use super::period::{Kind, Period};
use super::{Report, ReportError};
use crate::core::backups::BackupSet;
use crate::core::backups::inventory::KindCache;
use crate::core::checklists::Checklist;
use crate::core::checks::Rule;
use crate::core::logs::source::LogSource;
use crate::core::queries::QuerySettings;
use crate::core::queries::collector::QueryCollector;
use crate::core::store::Store;

/// Everything a report is composed from besides the store.
#[derive(Debug, Clone, Default)]
pub struct ReportSettings {
    pub host: String,
    pub services: Vec<ServiceTarget>,
    pub rules: Vec<Rule>,
    pub checklists: Vec<Checklist>,
    /// Watched databases (name, url).
    pub databases: Vec<(String, String)>,
    pub queries: QuerySettings,
    pub backups: Vec<BackupSet>,
    pub logs: Vec<LogSource>,
    /// Where the console saves reports.
    pub reports_dir: Option<std::path::PathBuf>,
}

/// The period a report of `kind` covers: the one containing `date`, or the last complete one.
pub fn period_for<Tz: TimeZone>(
    kind: Kind,
    date: Option<&str>,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Period, ReportError> {
    match date {
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(|date| Period::containing(kind, date, zone))
            .map_err(|_| ReportError::BadDate(crate::core::text::printable(text))),
        None => Ok(Period::last_complete(kind, now, zone)),
    }
}

/// Whether the live reads describe `period`: they show the state now, which is the state at
/// the end of the current or the last complete period, not of one long gone.
fn is_recent(period: &Period, now: DateTime<Utc>) -> bool {
    now < period.end + (period.end - period.start)
}

/// Reads what is only known live, for a recent period.
async fn live(
    settings: &ReportSettings,
    store: &Store,
    period: &Period,
    now: DateTime<Utc>,
) -> Live {
    if !is_recent(period, now) {
        return Live::default();
    }
    let mut statements = Vec::with_capacity(settings.databases.len());
    for (name, url) in &settings.databases {
        let mut collector =
            QueryCollector::new(name.clone(), url.clone(), settings.queries.clone());
        statements.push(collector.collect().await);
    }
    let mut backups = Vec::with_capacity(settings.backups.len());
    for set in &settings.backups {
        if let Some(report) =
            crate::core::backups::watch::report(set, &mut KindCache::default(), Some(store)).await
        {
            backups.push(report);
        }
    }
    let logs = if settings.logs.is_empty() {
        None
    } else {
        let sources = settings.logs.clone();
        let since = (now - period.start).to_std().unwrap_or_default();
        tokio::task::spawn_blocking(move || crate::core::logs::watch::scan(&sources, since, now))
            .await
            .ok()
    };
    Live {
        statements: (!settings.databases.is_empty()).then_some(statements),
        backups,
        logs,
    }
}

/// The report of `kind` for the period containing `date` (default: the last complete one).
pub async fn compose<Tz: TimeZone>(
    store: &Store,
    settings: &ReportSettings,
    kind: Kind,
    date: Option<&str>,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Report, ReportError> {
    let period = period_for(kind, date, now, zone)?;
    let inputs = ReportInputs {
        host: settings.host.clone(),
        services: settings.services.clone(),
        rules: &settings.rules,
        checklists: &settings.checklists,
        live: live(settings, store, &period, now).await,
    };
    build(store, &inputs, &period, now, zone).await
}
