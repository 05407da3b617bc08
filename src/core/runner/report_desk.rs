//! The runner's side of the console's report view: a report is composed off the runner's loop
//! (it reads the store, the watched databases and the log files), the last one of each kind is
//! kept so the view can save it, and saving renders and writes it off the loop too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::core::protocol::Event;
use crate::core::reports::compose::{ReportSettings, compose};
use crate::core::reports::{Format, Kind, Report, render};
use crate::core::store::Store;

/// Composes and keeps reports for the console.
#[derive(Clone)]
pub struct ReportDesk {
    store: Option<Store>,
    settings: Arc<ReportSettings>,
    composed: Arc<Mutex<HashMap<Kind, Report>>>,
}

impl ReportDesk {
    pub fn new(store: Option<Store>, settings: ReportSettings) -> ReportDesk {
        ReportDesk {
            store,
            settings: Arc::new(settings),
            composed: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Composes the last complete period's report of `kind` and sends it.
    pub fn compose(&self, kind: Kind, events: mpsc::Sender<Event>) {
        let desk = self.clone();
        tokio::spawn(async move {
            let report = match &desk.store {
                Some(store) => compose(
                    store,
                    &desk.settings,
                    kind,
                    None,
                    crate::core::model::now(),
                    &chrono::Local,
                )
                .await
                .map_err(|error| error.to_string()),
                None => Err(
                    "reports need the state store, and it is not open; see the store error"
                        .to_owned(),
                ),
            };
            if let (Ok(report), Ok(mut composed)) = (&report, desk.composed.lock()) {
                composed.insert(kind, report.clone());
            }
            let _ = events
                .send(Event::ReportComposed {
                    kind,
                    report: report.map(Box::new),
                })
                .await;
        });
    }

    /// Saves the last report of `kind` as `format` in the reports directory and sends where.
    pub fn save(&self, kind: Kind, format: Format, events: mpsc::Sender<Event>) {
        let report = self
            .composed
            .lock()
            .ok()
            .and_then(|composed| composed.get(&kind).cloned());
        let dir = self.settings.reports_dir.clone();
        tokio::spawn(async move {
            let saved = match (report, dir) {
                (Some(report), Some(dir)) => {
                    tokio::task::spawn_blocking(move || write(&report, format, &dir))
                        .await
                        .unwrap_or_else(|error| Err(error.to_string()))
                }
                (None, _) => Err(format!("no {} report composed yet", kind.as_str())),
                (_, None) => {
                    Err("no directory to save reports in (set HOME or XDG_STATE_HOME)".to_owned())
                }
            };
            let _ = events.send(Event::ReportSaved(saved)).await;
        });
    }
}

/// Writes `report` to `dir/opsdeck-KIND-PERIOD.EXT`; the path written, or why not.
fn write(report: &Report, format: Format, dir: &std::path::Path) -> Result<String, String> {
    let path: PathBuf = dir.join(format!(
        "opsdeck-{}-{}.{}",
        report.period.kind.as_str(),
        report.period.label,
        format.extension()
    ));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, render(report, format)))
        .map_err(|error| {
            format!(
                "cannot write {}: {error}; fix: make {} writable",
                path.display(),
                dir.display()
            )
        })?;
    Ok(path.display().to_string())
}
