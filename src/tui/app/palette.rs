//! The command palette's keys and matching: every shown pane, then the entries each pane offers
//! ([`crate::tui::panes::Component::palette`]), fuzzily filtered by what was typed; Enter goes
//! to the pane or lets the pane open the entry (a task through its usual plan-and-confirm path).

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

use super::AppState;
use crate::config::keymap::{KeyChord, KeyCode};
use crate::core::protocol::Request;
use crate::core::reports::Kind as ReportKind;
use crate::tui::modal::{Modal, PaletteInput, Popup, ReportView};

/// The reports the palette offers, each of its last complete period.
const REPORTS: [ReportKind; 3] = [ReportKind::Daily, ReportKind::Weekly, ReportKind::Monthly];
use crate::tui::panes::PaletteEntry;

impl AppState {
    /// What the palette lists: every pane on screen, then what each pane offers, a pane off
    /// screen too (declaring the first incident before the incidents pane appears).
    pub fn palette_entries(&self) -> Vec<PaletteEntry> {
        self.panes
            .iter()
            .filter(|pane| pane.shown())
            .map(|pane| PaletteEntry {
                pane: pane.id(),
                kind: "pane",
                label: pane.title().to_owned(),
                key: String::new(),
            })
            .chain(self.panes.iter().flat_map(|pane| pane.palette()))
            .chain(REPORTS.iter().map(|kind| PaletteEntry {
                pane: self.focus,
                kind: "report",
                label: format!("{} report", kind.as_str()),
                key: kind.as_str().to_owned(),
            }))
            .chain(std::iter::once(PaletteEntry {
                pane: self.focus,
                kind: "calendar",
                label: "maintenance calendar: due, ran, skipped, failed".to_owned(),
                key: String::new(),
            }))
            .collect()
    }

    /// The entries matching what was typed, best first.
    pub fn palette_matches(&self, query: &str) -> Vec<PaletteEntry> {
        matches(self.palette_entries(), query)
    }

    pub(super) fn palette_key(&mut self, mut input: PaletteInput, key: KeyChord) -> Vec<Request> {
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Enter => {
                let chosen = self
                    .palette_matches(&input.query)
                    .into_iter()
                    .nth(input.selected);
                return match chosen {
                    Some(entry) => self.open_palette_entry(entry),
                    None => Vec::new(),
                };
            }
            KeyCode::Up => input.selected = input.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => input.selected += 1,
            KeyCode::Backspace => {
                input.query.pop();
                input.selected = 0;
            }
            KeyCode::Char(ch) if !key.ctrl && !key.alt => {
                input.query.push(ch);
                input.selected = 0;
            }
            _ => {}
        }
        let count = self.palette_matches(&input.query).len();
        input.selected = input.selected.min(count.saturating_sub(1));
        self.modal = Some(Modal::Palette(input));
        Vec::new()
    }

    fn open_palette_entry(&mut self, entry: PaletteEntry) -> Vec<Request> {
        if entry.kind == "report" {
            let Some(kind) = REPORTS.into_iter().find(|kind| kind.as_str() == entry.key) else {
                return Vec::new();
            };
            self.modal = Some(Modal::Popup(Popup::Report(Box::new(ReportView::new(kind)))));
            return vec![Request::ComposeReport { kind }];
        }
        if entry.kind == "calendar" {
            self.modal = Some(Modal::Popup(Popup::Calendar {
                calendar: None,
                scroll: 0,
            }));
            return vec![Request::LoadCalendar {
                language: self.language,
            }];
        }
        self.focus_on(entry.pane);
        if entry.kind == "pane" {
            return Vec::new();
        }
        self.with_ctx(entry.pane, |pane, ctx| pane.open_entry(&entry.key, ctx))
            .unwrap_or_default()
    }
}

/// An entry with the text it is matched on: its label and what kind it is.
struct Candidate {
    entry: PaletteEntry,
    haystack: String,
}

impl AsRef<str> for Candidate {
    fn as_ref(&self) -> &str {
        &self.haystack
    }
}

/// The entries matching `query`, best first; all of them, in order, for an empty query.
pub fn matches(entries: Vec<PaletteEntry>, query: &str) -> Vec<PaletteEntry> {
    let candidates = entries.into_iter().map(|entry| Candidate {
        haystack: format!("{} {}", entry.label, entry.kind),
        entry,
    });
    let pattern = Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart);
    // The matcher's buffers are sized for long file paths; the palette is open seconds at a time.
    let mut matcher = Matcher::new(Config::DEFAULT);
    pattern
        .match_list(candidates, &mut matcher)
        .into_iter()
        .map(|(candidate, _)| candidate.entry)
        .collect()
}
