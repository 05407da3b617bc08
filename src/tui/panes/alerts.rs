//! The alerts area: open alerts first, then those resolved in the last 24 hours, each with its
//! level, start time, duration, peak and limit; store and notification problems are shown here
//! in place. The selected alert can be declared an incident, through a form prefilled from it;
//! an alert that belongs to an open incident (declared from it, or attached since) names it in its
//! row.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::checks::rules::format_value;
use crate::core::incidents::{Incident, Opening};
use crate::core::model::{Alert, Status};
use crate::core::protocol::Event;
use crate::tui::form::Form;
use crate::tui::modal::Modal;
use crate::tui::panes::incidents::refused_read_only;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, Pane, Problem, Summary, View, command, open_note, pane_block,
    store_problem_line,
};
use crate::tui::strings::{self, printable};

#[derive(Debug, Clone, Default)]
pub struct AlertsPane {
    /// Open alerts first (newest first), then resolved ones (newest first).
    pub alerts: Vec<Alert>,
    pub selected: usize,
    /// The rules in force, listed while there are no alerts.
    pub rules_summary: Vec<String>,
    pub store_problem: Option<Problem>,
    /// The open incidents, to name the one an alert belongs to.
    pub incidents: Vec<Incident>,
}

const COMMANDS: &[Command] = &[
    command(Action::Up, None, "select the previous alert"),
    command(Action::Down, None, "select the next alert"),
    command(Action::PageUp, None, "ten alerts up"),
    command(Action::PageDown, None, "ten alerts down"),
    command(
        Action::DeclareIncident,
        None,
        "declare an incident from the selected alert: a form prefilled from it (P1 if critical, P3 if a warning)",
    ),
];

impl AlertsPane {
    pub fn open_count(&self) -> usize {
        self.alerts.iter().filter(|alert| alert.is_open()).count()
    }

    fn sort(&mut self) {
        self.alerts.sort_by(|a, b| {
            b.is_open()
                .cmp(&a.is_open())
                .then(b.opened_at.cmp(&a.opened_at))
        });
        self.selected = self.selected.min(self.alerts.len().saturating_sub(1));
    }

    /// The open incident the alert was declared as or attached to.
    pub fn incident_of(&self, alert: &Alert) -> Option<&str> {
        self.incidents
            .iter()
            .find(|incident| incident.knows_alert(&alert.id))
            .map(|incident| incident.id.as_str())
    }

    /// Moves the selection; any pane's Up/Down that it does not use lands here.
    pub fn scroll(&mut self, action: Action) {
        let last = self.alerts.len().saturating_sub(1);
        self.selected = match action {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(last),
            Action::PageUp => self.selected.saturating_sub(10),
            Action::PageDown => (self.selected + 10).min(last),
            Action::Top => 0,
            _ => last,
        };
    }

    /// The alert rows (and any store problem) without a frame, for the pane and for tiny
    /// screens.
    pub fn render_lines(&self, view: &View, area: Rect, frame: &mut Frame) {
        let look = view.look;
        let width = usize::from(area.width);
        let height = usize::from(area.height);
        let mut lines = Vec::new();
        if let Some(problem) = &self.store_problem {
            lines.push(store_problem_line(problem, width, look));
        }
        if self.alerts.is_empty() {
            lines.push(Line::styled(
                "No alerts in the last 24 hours. Rules:",
                look.palette.get(Slot::Muted),
            ));
            lines.extend(self.rules_summary.iter().map(|rule| {
                Line::styled(
                    strings::fit(&format!("  {rule}"), width),
                    look.palette.get(Slot::Muted),
                )
            }));
        } else {
            let room = height.saturating_sub(lines.len()).max(1);
            let offset = self.selected.saturating_sub(room - 1);
            lines.extend(self.alerts.iter().enumerate().skip(offset).take(room).map(
                |(index, alert)| {
                    alert_line(
                        alert,
                        self.incident_of(alert),
                        view,
                        width,
                        view.takes_keys && index == self.selected,
                    )
                },
            ));
        }
        lines.truncate(height);
        frame.render_widget(Paragraph::new(lines), area);
    }
}

impl Component for AlertsPane {
    fn id(&self) -> Pane {
        Pane::Alerts
    }

    fn title(&self) -> &'static str {
        "Alerts"
    }

    fn column(&self) -> usize {
        1
    }

    fn summary(&self, _view: &View) -> Summary {
        let open = self.open_count();
        let level = self
            .alerts
            .iter()
            .filter(|alert| alert.is_open())
            .map(|alert| alert.level)
            .max()
            .unwrap_or(Status::Ok);
        let mut text = match open {
            0 => "Alerts none open".to_owned(),
            open => format!("Alerts {open} open"),
        };
        if self.store_problem.is_some() {
            text.push_str(" · store problem");
        }
        Summary {
            text,
            level: if self.store_problem.is_some() {
                Status::Crit
            } else {
                level
            },
        }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        // With no alerts the pane lists the rules instead, which is nice to have, not needed.
        let lines = if self.alerts.is_empty() {
            self.rules_summary.len() + 1
        } else {
            self.alerts.len()
        };
        u16::try_from(lines).unwrap_or(u16::MAX) + 2
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        match action {
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                self.scroll(action);
                Handled::Yes(Vec::new())
            }
            Action::DeclareIncident => {
                if refused_read_only(ctx, "declaring an incident") {
                    return Handled::Yes(Vec::new());
                }
                let selected = self.alerts.get(self.selected);
                let known = selected.and_then(|alert| {
                    self.incidents
                        .iter()
                        .find(|incident| incident.knows_alert(&alert.id))
                });
                match selected {
                    // The runner would refuse it after the form: say so before.
                    Some(_) if let Some(incident) = known => ctx.notice(
                        &format!(
                            "this alert belongs to {} ({}) already: work on it in the incidents pane",
                            printable(&incident.id),
                            incident.level.as_str()
                        ),
                        Status::Warn,
                    ),
                    Some(alert) => {
                        *ctx.modal = Some(Modal::Form(Box::new(Form::declare(
                            Opening::from_alert(alert),
                            ctx.language,
                        ))));
                    }
                    None => ctx.notice(
                        "no alert to declare an incident from: declare one by hand from the palette (: declare)",
                        Status::Warn,
                    ),
                }
                Handled::Yes(Vec::new())
            }
            _ => Handled::No,
        }
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        match event {
            Event::AlertsLoaded(alerts) => {
                self.alerts = alerts.clone();
                self.sort();
            }
            Event::Incidents(incidents) => {
                self.incidents = incidents.iter().filter(|i| i.is_open()).cloned().collect();
            }
            Event::AlertChanged(alert) => {
                match self.alerts.iter_mut().find(|known| known.id == alert.id) {
                    Some(known) => *known = alert.clone(),
                    None => self.alerts.push(alert.clone()),
                }
                self.sort();
            }
            // Store and notification problems concern alerts; they are shown here.
            Event::Warning { source, message } if *source == "store" || *source == "notify" => {
                self.store_problem = Some(Problem {
                    message: message.clone(),
                    at: now,
                });
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        let look = view.look;
        let open = self.open_count();
        let title = vec![
            Span::styled("Alerts", look.palette.get(Slot::Title)),
            open_note(open, look),
        ];
        let block = pane_block(title, view.focused, look);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        self.render_lines(view, inner, frame);
    }
}

fn alert_line(
    alert: &Alert,
    incident: Option<&str>,
    view: &View,
    width: usize,
    selected: bool,
) -> Line<'static> {
    let look = view.look;
    let palette = &look.palette;
    let started = alert.opened_at.with_timezone(&look.utc_offset);
    let same_day = started.date_naive() == view.now.with_timezone(&look.utc_offset).date_naive();
    let when = if same_day {
        started.format("%H:%M").to_string()
    } else {
        started.format("%m-%d %H:%M").to_string()
    };
    let duration = strings::duration(alert.duration(view.now).num_seconds());
    let (state_text, level_style) = if alert.is_open() {
        (
            format!("since {when} ({duration})"),
            palette.status(alert.level),
        )
    } else {
        (
            format!("{when}, lasted {duration}"),
            palette.get(Slot::Muted),
        )
    };
    let mut subject = match &alert.instance {
        Some(instance) => format!("{} {}", alert.metric, printable(instance)),
        None => alert.metric.clone(),
    };
    // On a shared store the other hosts' alerts are listed too: they say whose they are.
    if let Some(host) = alert.host.as_deref().filter(|host| *host != view.hostname) {
        subject = format!("{}: {subject}", printable(host));
    }
    if let Some(incident) = incident {
        subject.push_str(&format!(" -> {}", printable(incident)));
    }
    let level = if alert.is_open() {
        alert.level.label()
    } else {
        "ok"
    };
    let text = format!(
        "{subject}  {state_text}  peak {} (limit {})",
        format_value(alert.peak, alert.unit),
        format_value(alert.threshold, alert.unit)
    );
    let mut line = Line::from(vec![
        Span::styled(format!("{level:<4} "), level_style),
        Span::styled(
            strings::fit(&text, width.saturating_sub(5)),
            palette.get(if alert.is_open() {
                Slot::Text
            } else {
                Slot::Muted
            }),
        ),
    ]);
    if selected {
        line = line.style(palette.get(Slot::Selection));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::{Change, Event as LogEvent, Level, Source, fold};
    use chrono::TimeZone;

    fn incident(id: &str, attached: &str, resolved: bool) -> Incident {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 5, 3, 0, 0)
            .single()
            .expect("time");
        let event = |change| LogEvent {
            incident: id.into(),
            change,
            user: "tester".into(),
            host: "web-1".into(),
            at,
        };
        let mut events = vec![
            event(Change::Opened {
                title: "checkout down".into(),
                level: Level::P1,
                affects: vec!["checkout".into()],
                evidence: String::new(),
            }),
            event(Change::Observed {
                source: Source::Alert,
                text: "service.up checkout CRIT opened".into(),
                evidence: String::new(),
                link: Some(attached.into()),
            }),
        ];
        if resolved {
            events.push(event(Change::Resolved));
        }
        fold(id, &events).expect("opened")
    }

    #[test]
    fn an_alert_names_the_open_incident_it_is_attached_to_and_not_a_resolved_one() {
        let mut pane = AlertsPane::default();
        pane.apply(
            &Event::Incidents(vec![
                incident("INC-OPEN", "alert-2", false),
                incident("INC-DONE", "alert-3", true),
            ]),
            Utc::now(),
        );
        let alert = |id: &str| Alert {
            id: id.into(),
            key: "service.up:checkout".into(),
            metric: "service.up".into(),
            instance: Some("checkout".into()),
            host: None,
            level: Status::Crit,
            opened_at: Utc::now(),
            resolved_at: None,
            peak: 0.0,
            threshold: 1.0,
            unit: crate::core::model::Unit::Count,
        };
        assert_eq!(pane.incident_of(&alert("alert-2")), Some("INC-OPEN"));
        assert_eq!(pane.incident_of(&alert("alert-3")), None);
        assert_eq!(pane.incident_of(&alert("alert-4")), None);
    }
}
