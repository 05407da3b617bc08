//! The small forms over the panes: declaring an incident (prefilled from an alert, or blank) and
//! adding a follow-up action item to one. Text fields are one-line tui-textareas; the level is
//! picked with keys. Enter checks what was typed and, when it passes, becomes the request for the
//! runner; a refusal is shown in the form, which stays open with what was typed.

use chrono::NaiveDate;
use tui_textarea::{CursorMove, TextArea};

use crate::config::keymap::{KeyChord, KeyCode};
use crate::core::checklists::Language;
use crate::core::incidents::{Change, Incident, Level, Opening, check, policy};
use crate::core::protocol::Request;
use crate::tui::input::textarea_input;

/// What the form makes.
#[derive(Debug, Clone)]
pub enum FormKind {
    /// A new incident: its level, and what it was declared from (kept as it was).
    Declare {
        level: Level,
        evidence: String,
        alert: Option<String>,
    },
    /// An action item on this incident, as the console last read it (checked against it).
    ActionItem { incident: Box<Incident> },
}

/// One row of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// The text field with this index.
    Text(usize),
    /// The incident's level.
    Level,
}

#[derive(Debug, Clone)]
pub struct Form {
    pub kind: FormKind,
    /// The text fields: title and affected systems, or what, owner and due date.
    pub fields: Vec<TextArea<'static>>,
    /// The row with the keys, an index into [`Form::rows`].
    pub focus: usize,
    /// Why the last Enter did not go through, shown in the form.
    pub refusal: Option<String>,
    /// The language of the level's labels.
    pub language: Language,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Still open (typing, moving, or refused in place).
    Open,
    Cancelled,
    /// Done: the request for the runner.
    Submitted(Request),
}

fn field(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut textarea = TextArea::new(vec![text.to_owned()]);
    textarea.set_placeholder_text(placeholder);
    textarea.move_cursor(CursorMove::End);
    textarea
}

impl Form {
    /// Declaring `opening`: prefilled from an alert, or blank when declared by hand.
    pub fn declare(opening: Opening, language: Language) -> Form {
        Form {
            fields: vec![
                field(&opening.title, "what is broken, as users see it"),
                field(
                    &opening.affects.join(", "),
                    "services, hosts, instances (comma separated)",
                ),
            ],
            kind: FormKind::Declare {
                level: opening.level,
                evidence: opening.evidence,
                alert: opening.alert,
            },
            focus: 0,
            refusal: None,
            language,
        }
    }

    /// A blank declaration: the middle level until someone says otherwise.
    pub fn declare_by_hand(language: Language) -> Form {
        Form::declare(
            Opening {
                title: String::new(),
                level: Level::P2,
                affects: Vec::new(),
                evidence: String::new(),
                alert: None,
            },
            language,
        )
    }

    /// An action item for `incident`.
    pub fn action_item(incident: &Incident, language: Language) -> Form {
        Form {
            fields: vec![
                field("", "what is to be done"),
                field("", "a person or team"),
                field("", "YYYY-MM-DD, today or later"),
            ],
            kind: FormKind::ActionItem {
                incident: Box::new(incident.clone()),
            },
            focus: 0,
            refusal: None,
            language,
        }
    }

    pub fn title(&self) -> String {
        match &self.kind {
            FormKind::Declare { alert: Some(_), .. } => "Declare an incident from the alert".into(),
            FormKind::Declare { .. } => "Declare an incident".into(),
            FormKind::ActionItem { incident } => format!(
                "Action item for {}",
                crate::tui::strings::printable(&incident.id)
            ),
        }
    }

    /// The rows, top to bottom.
    pub fn rows(&self) -> Vec<Row> {
        match self.kind {
            FormKind::Declare { .. } => vec![Row::Text(0), Row::Level, Row::Text(1)],
            FormKind::ActionItem { .. } => vec![Row::Text(0), Row::Text(1), Row::Text(2)],
        }
    }

    pub fn label(&self, row: Row) -> &'static str {
        match (&self.kind, row) {
            (_, Row::Level) => "Level",
            (FormKind::Declare { .. }, Row::Text(0)) => "Title",
            (FormKind::Declare { .. }, _) => "Affected",
            (FormKind::ActionItem { .. }, Row::Text(0)) => "What",
            (FormKind::ActionItem { .. }, Row::Text(1)) => "Owner",
            (FormKind::ActionItem { .. }, _) => "Due",
        }
    }

    /// What Enter does, for the form's key line.
    pub fn submit_word(&self) -> &'static str {
        match self.kind {
            FormKind::Declare { .. } => "declares",
            FormKind::ActionItem { .. } => "adds it",
        }
    }

    pub fn level(&self) -> Option<Level> {
        match self.kind {
            FormKind::Declare { level, .. } => Some(level),
            FormKind::ActionItem { .. } => None,
        }
    }

    /// The level's definition, response target and escalation in `language`, and the
    /// `[[escalation]]` contacts declaring it notifies.
    pub fn level_lines(level: Level, language: Language) -> [String; 3] {
        let target = i64::try_from(level.response_target().as_secs()).unwrap_or(i64::MAX);
        let contacts = policy::current().contacts(level);
        let notified = if contacts.is_empty() {
            policy::no_contact(level)
        } else {
            let names: Vec<String> = contacts.iter().map(|contact| contact.label()).collect();
            format!("notifies {}", names.join(", "))
        };
        [
            level.definition(language).to_owned(),
            format!(
                "acknowledge within {} · escalate to {}",
                crate::tui::strings::minutes(target),
                level.escalation(language)
            ),
            notified,
        ]
    }

    fn text(&self, index: usize) -> String {
        self.fields
            .get(index)
            .map(|field| field.lines().join(" ").trim().to_owned())
            .unwrap_or_default()
    }

    /// Handles one key; `by` and `today` are what the incident's own check is made with.
    pub fn key(&mut self, key: KeyChord, by: &str, today: NaiveDate) -> Outcome {
        let rows = self.rows();
        let row = rows.get(self.focus).copied().unwrap_or(Row::Text(0));
        match key.code {
            KeyCode::Esc => return Outcome::Cancelled,
            KeyCode::Enter => {
                return match self.submit(by, today) {
                    Ok(request) => Outcome::Submitted(request),
                    Err(refusal) => {
                        self.refusal = Some(refusal);
                        Outcome::Open
                    }
                };
            }
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % rows.len(),
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + rows.len() - 1) % rows.len();
            }
            _ => match row {
                Row::Level => self.change_level(key),
                Row::Text(index) => {
                    if let Some(field) = self.fields.get_mut(index) {
                        field.input(textarea_input(key));
                        // One line each: a key the editor reads as a new line is undone.
                        if field.lines().len() > 1 {
                            field.undo();
                        }
                    }
                }
            },
        }
        self.refusal = None;
        Outcome::Open
    }

    /// ← or `-` one level more severe, → or `+` less, `0`–`4` that level.
    fn change_level(&mut self, key: KeyChord) {
        let FormKind::Declare { level, .. } = &mut self.kind else {
            return;
        };
        let index = Level::ALL.iter().position(|l| l == level).unwrap_or(2);
        let chosen = match key.code {
            KeyCode::Left | KeyCode::Char('-') => index.checked_sub(1),
            KeyCode::Right | KeyCode::Char('+') => Some(index + 1),
            KeyCode::Char(digit @ '0'..='4') => digit.to_digit(10).map(|d| d as usize),
            _ => None,
        };
        if let Some(&new) = chosen.and_then(|i| Level::ALL.get(i)) {
            *level = new;
        }
    }

    /// The request, or why not, in the form's words.
    fn submit(&self, by: &str, today: NaiveDate) -> Result<Request, String> {
        match &self.kind {
            FormKind::Declare {
                level,
                evidence,
                alert,
            } => {
                let title = self.text(0);
                if title.is_empty() {
                    return Err(
                        "the title is empty: write what is broken, as users see it".to_owned()
                    );
                }
                let affects = self
                    .text(1)
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect();
                Ok(Request::OpenIncident(Opening {
                    title,
                    level: *level,
                    affects,
                    evidence: evidence.clone(),
                    alert: alert.clone(),
                }))
            }
            FormKind::ActionItem { incident } => {
                let due_text = self.text(2);
                let due = NaiveDate::parse_from_str(&due_text, "%Y-%m-%d").map_err(|_| {
                    format!(
                        "the due date `{}` is not a date: write it as YYYY-MM-DD, {today} or later",
                        crate::tui::strings::printable(&due_text)
                    )
                })?;
                let change = Change::ActionAdded {
                    text: self.text(0),
                    owner: self.text(1),
                    due,
                };
                // The check speaks to the command line (`fix: --due …`); the form keeps its
                // first line, which says what is wrong.
                check(incident, &change, by, today)
                    .map_err(|refusal| refusal.lines().next().unwrap_or_default().to_owned())?;
                Ok(Request::IncidentEntry {
                    id: incident.id.clone(),
                    change,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(form: &mut Form, keys: &str) -> Outcome {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let mut outcome = Outcome::Open;
        for name in keys.split(' ') {
            let key = KeyChord::parse(name).expect("key");
            outcome = form.key(key, "alice", today);
        }
        outcome
    }

    #[test]
    fn a_blank_declaration_needs_a_title_and_takes_the_level_and_affected_typed() {
        let mut form = Form::declare_by_hand(Language::En);
        assert_eq!(press(&mut form, "enter"), Outcome::Open);
        assert!(
            form.refusal
                .as_deref()
                .is_some_and(|r| r.contains("title is empty"))
        );
        let outcome = press(
            &mut form,
            "x space d o w n tab 0 right tab a , space , b enter",
        );
        assert_eq!(
            outcome,
            Outcome::Submitted(Request::OpenIncident(Opening {
                title: "x down".into(),
                level: Level::P1,
                affects: vec!["a".into(), "b".into()],
                evidence: String::new(),
                alert: None,
            }))
        );
        assert_eq!(press(&mut form, "esc"), Outcome::Cancelled);
    }

    #[test]
    fn an_action_item_needs_every_field_and_a_date_from_today_on() {
        use crate::core::incidents::{Event, fold};
        let opened = Event {
            incident: "INC-1".into(),
            change: Change::Opened {
                title: "checkout down".into(),
                level: Level::P1,
                affects: Vec::new(),
                evidence: String::new(),
            },
            user: "alice".into(),
            host: "web-1".into(),
            at: chrono::DateTime::UNIX_EPOCH,
        };
        let incident = fold("INC-1", &[opened]).expect("opened");
        let mut form = Form::action_item(&incident, Language::En);
        let refusal = |form: &Form| form.refusal.clone().unwrap_or_default();
        press(&mut form, "x tab tab 1 2 / 3 1 enter");
        assert!(
            refusal(&form).contains("the due date `12/31` is not a date: write it as YYYY-MM-DD"),
            "{}",
            refusal(&form)
        );
        for _ in 0..5 {
            press(&mut form, "backspace");
        }
        press(&mut form, "2 0 2 6 - 1 2 - 0 5 enter");
        assert_eq!(
            refusal(&form),
            "the action item has no owner",
            "today is allowed"
        );
        press(&mut form, "up o p s down backspace 4 enter");
        assert_eq!(
            refusal(&form),
            "the action item is due 2026-12-04, which is in the past"
        );
        press(&mut form, "backspace 6");
        assert_eq!(
            press(&mut form, "enter"),
            Outcome::Submitted(Request::IncidentEntry {
                id: "INC-1".into(),
                change: Change::ActionAdded {
                    text: "x".into(),
                    owner: "ops".into(),
                    due: NaiveDate::from_ymd_opt(2026, 12, 6).expect("date"),
                },
            })
        );
    }
}
