//! Checklist definitions: the four built-in files shipped in `assets/checklists/` and the
//! user's own `*.toml` files, parsed and checked against the metric and task names opsdeck
//! knows. Every mistake is reported with its file, line and what to write instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{CheckRef, Checklist, ChecklistError, Item, KnownNames, Period, Text};

/// The shipped checklists, in the order they are shown.
const BUILTIN: [(&str, &str); 4] = [
    (
        "daily.toml",
        include_str!("../../../assets/checklists/daily.toml"),
    ),
    (
        "weekly.toml",
        include_str!("../../../assets/checklists/weekly.toml"),
    ),
    (
        "monthly.toml",
        include_str!("../../../assets/checklists/monthly.toml"),
    ),
    (
        "quarterly.toml",
        include_str!("../../../assets/checklists/quarterly.toml"),
    ),
];

const TEXT_EXAMPLE: &str =
    "{ en = \"Disk usage below 75 %\", ko = \"디스크 사용률 75% 미만 확인\" }";
const ID_RULE: &str = "use letters, digits, `-`, `_` and `.`";

/// The built-in checklists, then every `*.toml` in `user_dir` (may not exist): a user file with
/// the id of a built-in one replaces it, a new id adds a checklist. Files are read in name
/// order. A file with any mistake is skipped and reported; the others still load.
pub fn load_all(
    user_dir: Option<&Path>,
    known: &KnownNames,
) -> (Vec<Checklist>, Vec<ChecklistError>) {
    let mut checklists = Vec::new();
    let mut errors = Vec::new();
    for (name, source) in BUILTIN {
        match parse_located(&format!("builtin:{name}"), source, known, Origin::Builtin) {
            Ok((checklist, _)) => checklists.push(checklist),
            Err(error) => errors.push(error),
        }
    }
    let Some(dir) = user_dir else {
        return (checklists, errors);
    };
    let files = match user_files(dir) {
        Ok(files) => files,
        Err(error) => {
            errors.push(error);
            return (checklists, errors);
        }
    };
    // id → the user file that defined it, so a second file with the same id is reported
    // instead of silently winning by its name.
    let mut from_user: HashMap<String, String> = HashMap::new();
    for path in files {
        let file = path.display().to_string();
        let source = match std::fs::read_to_string(&path) {
            Ok(source) => source,
            Err(error) => {
                errors.push(ChecklistError {
                    file,
                    line: 1,
                    message: format!("cannot read the file: {error}"),
                    fix: "make it a readable UTF-8 text file, or move it out of the checklists directory".into(),
                });
                continue;
            }
        };
        let (checklist, id_line) = match parse_located(&file, &source, known, Origin::User) {
            Ok(parsed) => parsed,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if let Some(earlier) = from_user.get(&checklist.id) {
            errors.push(ChecklistError {
                message: format!(
                    "checklist id `{}` is already defined in {earlier}",
                    checklist.id
                ),
                fix: "give this checklist another id, or delete one of the two files".into(),
                file,
                line: id_line,
            });
            continue;
        }
        from_user.insert(checklist.id.clone(), file);
        match checklists.iter_mut().find(|c| c.id == checklist.id) {
            Some(builtin) => *builtin = checklist,
            None => checklists.push(checklist),
        }
    }
    (checklists, errors)
}

/// The `*.toml` files in `dir`, sorted by name; none when the directory does not exist.
fn user_files(dir: &Path) -> Result<Vec<PathBuf>, ChecklistError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(ChecklistError {
                file: dir.display().to_string(),
                line: 1,
                message: format!("cannot list the checklists directory: {error}"),
                fix:
                    "make the directory readable, or remove it to use only the built-in checklists"
                        .into(),
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            // Editors leave hidden lock and swap files next to the one being edited (Emacs'
            // `.#daily.toml` even ends in `.toml`); they are never checklists.
            !name.starts_with('.')
                && path
                    .extension()
                    .is_some_and(|extension| extension == "toml")
                && path.is_file()
        })
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// One file's text (for tests and for [`load_all`]).
pub fn parse(file: &str, source: &str, known: &KnownNames) -> Result<Checklist, ChecklistError> {
    parse_located(file, source, known, Origin::User).map(|(checklist, _)| checklist)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Shipped with opsdeck, written without knowing the user's configuration: a task it links
    /// that is not configured here (the backup tasks exist only with `[[backup]]` sets) is left
    /// off the item instead of failing the checklist.
    Builtin,
    User,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    id: Spanned<String>,
    title: Spanned<TextDef>,
    period: Period,
    schedule: Spanned<String>,
    #[serde(default)]
    overdue_after: Option<Spanned<String>>,
    #[serde(default, rename = "item")]
    items: Vec<Spanned<ItemDef>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "text as { en = \"...\", ko = \"...\" }"
)]
struct TextDef {
    en: String,
    #[serde(default)]
    ko: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemDef {
    id: Spanned<String>,
    text: Spanned<TextDef>,
    #[serde(default)]
    check: Option<Spanned<String>>,
    #[serde(default)]
    task: Option<Spanned<String>>,
    #[serde(default)]
    note_required: bool,
}

/// Where errors in one file point.
struct Located<'a> {
    file: &'a str,
    source: &'a str,
}

impl Located<'_> {
    fn line(&self, offset: usize) -> usize {
        let before = &self.source.as_bytes()[..offset.min(self.source.len())];
        before.iter().filter(|byte| **byte == b'\n').count() + 1
    }

    fn error(&self, offset: usize, message: String, fix: String) -> ChecklistError {
        ChecklistError {
            file: self.file.to_owned(),
            line: self.line(offset),
            message,
            fix,
        }
    }

    fn toml_error(&self, error: &toml::de::Error) -> ChecklistError {
        let message = error.message().trim().to_owned();
        let offset = error.span().map_or(0, |span| span.start);
        let spanned = error
            .span()
            .and_then(|span| self.source.get(span))
            .unwrap_or("");
        let fix = toml_fix(&message, spanned);
        self.error(offset, message, fix)
    }
}

/// The checklist and the line of its `id`.
fn parse_located(
    file: &str,
    source: &str,
    known: &KnownNames,
    origin: Origin,
) -> Result<(Checklist, usize), ChecklistError> {
    let at = Located { file, source };
    let def: FileDef = toml::from_str(source).map_err(|error| at.toml_error(&error))?;

    let id = checked_id(&at, &def.id, "checklist", "\"daily-db\"")?;
    let title = checked_text(&at, def.title, "title")?;
    let schedule = checked_schedule(&at, &def.schedule)?;
    let overdue_after = match &def.overdue_after {
        Some(text) => checked_duration(&at, text)?,
        None => default_overdue_after(def.period),
    };
    if def.items.is_empty() {
        return Err(at.error(
            def.id.span().start,
            format!("checklist `{id}` has no items"),
            "add at least one item: [[item]] with id = \"...\" and text = { en = \"...\", ko = \"...\" }".into(),
        ));
    }
    let mut items: Vec<Item> = Vec::with_capacity(def.items.len());
    for item in def.items {
        let item = item.into_inner();
        let item_id = checked_id(&at, &item.id, "item", "\"disk-space\"")?;
        if items.iter().any(|earlier| earlier.id == item_id) {
            return Err(at.error(
                item.id.span().start,
                format!("item id `{item_id}` is used twice in checklist `{id}`"),
                format!("give this item another id, e.g. \"{item_id}-2\""),
            ));
        }
        let text = checked_text(&at, item.text, "text")?;
        let check = match &item.check {
            Some(check) => Some(checked_check(&at, check, known)?),
            None => None,
        };
        let task = match &item.task {
            Some(task) => checked_task(&at, task, known, origin)?,
            None => None,
        };
        items.push(Item {
            id: item_id,
            text,
            check,
            task,
            note_required: item.note_required,
        });
    }
    let id_line = at.line(def.id.span().start);
    Ok((
        Checklist {
            id,
            title,
            period: def.period,
            schedule,
            overdue_after,
            items,
            source: file.to_owned(),
        },
        id_line,
    ))
}

fn default_overdue_after(period: Period) -> Duration {
    let hours = match period {
        Period::Day => 6,
        Period::Week => 24,
        Period::Month => 3 * 24,
        Period::Quarter => 7 * 24,
    };
    Duration::from_secs(hours * 3600)
}

fn checked_id(
    at: &Located,
    id: &Spanned<String>,
    what: &str,
    example: &str,
) -> Result<String, ChecklistError> {
    let text = id.get_ref();
    if text.trim().is_empty() {
        return Err(at.error(
            id.span().start,
            format!("the {what} id is empty"),
            format!("write an id, e.g. id = {example}"),
        ));
    }
    // Ids are typed on the command line and stored in every run entry, so they stay plain.
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(at.error(
            id.span().start,
            format!("the {what} id `{text}` has characters ids may not use"),
            format!("{ID_RULE}, e.g. id = {example}"),
        ));
    }
    Ok(text.clone())
}

fn checked_text(at: &Located, text: Spanned<TextDef>, key: &str) -> Result<Text, ChecklistError> {
    let offset = text.span().start;
    let text = text.into_inner();
    if text.en.trim().is_empty() {
        return Err(at.error(
            offset,
            format!("`{key}` has no English text"),
            format!("write {key} = {TEXT_EXAMPLE}"),
        ));
    }
    // A blank translation is as good as none: the English text is shown instead.
    let ko = text.ko.filter(|ko| !ko.trim().is_empty());
    Ok(Text { en: text.en, ko })
}

fn checked_schedule(at: &Located, schedule: &Spanned<String>) -> Result<String, ChecklistError> {
    let text = schedule.get_ref().trim();
    let offset = schedule.span().start;
    let fix = "write five fields, minute hour day-of-month month day-of-week in local time, e.g. \"0 9 * * *\" (daily 09:00) or \"0 10 * * 1\" (Mondays 10:00)";
    let fields = text.split_whitespace().count();
    if fields != 5 {
        return Err(at.error(
            offset,
            format!("schedule `{text}` has {fields} fields, not 5"),
            fix.into(),
        ));
    }
    let cron = croner::Cron::from_str(text).map_err(|error| {
        at.error(
            offset,
            format!("schedule `{text}` is not a cron expression ({error})"),
            fix.into(),
        )
    })?;
    // A date that never comes (`30 2`, 30 February) would leave the checklist due at the start
    // of every period without saying why.
    let reference = chrono::DateTime::UNIX_EPOCH;
    if cron.find_next_occurrence(&reference, true).is_err() {
        return Err(at.error(
            offset,
            format!("schedule `{text}` never fires"),
            format!("use a day that exists in the month; {fix}"),
        ));
    }
    Ok(text.to_owned())
}

fn checked_duration(at: &Located, text: &Spanned<String>) -> Result<Duration, ChecklistError> {
    humantime::parse_duration(text.get_ref().trim()).map_err(|error| {
        at.error(
            text.span().start,
            format!(
                "overdue_after `{}` is not a duration ({error})",
                text.get_ref()
            ),
            "write a duration like \"6h\", \"1d\" or \"3d 12h\"".into(),
        )
    })
}

fn checked_check(
    at: &Located,
    check: &Spanned<String>,
    known: &KnownNames,
) -> Result<CheckRef, ChecklistError> {
    let text = check.get_ref();
    let offset = check.span().start;
    let (metric, instance) = match text.split_once(':') {
        Some((metric, instance)) => (metric, Some(instance)),
        None => (text.as_str(), None),
    };
    if metric.is_empty() {
        return Err(at.error(
            offset,
            "`check` names no metric".into(),
            "write a metric, e.g. check = \"cpu.used_pct\", or remove the line".into(),
        ));
    }
    if instance == Some("") {
        return Err(at.error(
            offset,
            format!("check `{text}` has nothing after the colon"),
            format!(
                "write the instance after the colon, e.g. \"{metric}:/var\", or drop the colon to watch every instance"
            ),
        ));
    }
    if !known.metrics.is_empty() && !known.metrics.iter().any(|name| name == metric) {
        let hint = nearest(metric, &known.metrics)
            .map(|best| format!("did you mean `{best}`? "))
            .unwrap_or_default();
        return Err(at.error(
            offset,
            match instance {
                Some(_) => format!("check `{text}` names unknown metric `{metric}`"),
                None => format!("unknown metric `{metric}` in check"),
            },
            format!("{hint}metrics are: {}", known.metrics.join(", ")),
        ));
    }
    Ok(CheckRef {
        metric: metric.to_owned(),
        instance: instance.map(str::to_owned),
    })
}

fn checked_task(
    at: &Located,
    task: &Spanned<String>,
    known: &KnownNames,
    origin: Origin,
) -> Result<Option<String>, ChecklistError> {
    let text = task.get_ref();
    let offset = task.span().start;
    if text.trim().is_empty() {
        return Err(at.error(
            offset,
            "`task` names no task".into(),
            "write a task id, e.g. task = \"log-rotation\", or remove the line".into(),
        ));
    }
    if known.tasks.is_empty() || known.tasks.iter().any(|name| name == text) {
        return Ok(Some(text.clone()));
    }
    if origin == Origin::Builtin {
        return Ok(None);
    }
    if crate::core::tasks::backups::TASK_IDS.contains(&text.as_str()) {
        return Err(at.error(
            offset,
            format!("task `{text}` is not available: backup tasks need a backup set"),
            "add a [[backup]] set to the configuration, or remove the task line".into(),
        ));
    }
    let hint = nearest(text, &known.tasks)
        .map(|best| format!("did you mean `{best}`? "))
        .unwrap_or_default();
    Err(at.error(
        offset,
        format!("task `{text}` does not exist"),
        format!("{hint}tasks are: {}", known.tasks.join(", ")),
    ))
}

/// The choice closest to `given` by edit distance, if it is plausibly a typo of it.
fn nearest<'a, S: AsRef<str>>(given: &str, choices: &'a [S]) -> Option<&'a str> {
    choices
        .iter()
        .map(|choice| {
            let choice = choice.as_ref();
            (strsim::damerau_levenshtein(given, choice), choice)
        })
        .filter(|(distance, choice)| *distance <= (choice.len().max(given.len()) / 2).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, choice)| choice)
}

/// What to write instead, for TOML's and serde's messages. `spanned` is the text the error
/// points at.
fn toml_fix(message: &str, spanned: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (given, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices = backticked(expected);
        return match nearest(given, &choices) {
            Some(best) => format!(
                "did you mean `{best}`? keys here are: {}",
                choices.join(", ")
            ),
            None => format!("remove `{given}`; keys here are: {}", choices.join(", ")),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (given, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices = backticked(expected);
        let hint = nearest(given, &choices)
            .map(|best| format!("did you mean \"{best}\"? "))
            .unwrap_or_default();
        return format!("{hint}write one of: {}", choices.join(", "));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let example = match field {
            "id" => "id = \"daily-db\"",
            "title" => {
                "title = { en = \"Daily database checks\", ko = \"일일 데이터베이스 점검\" }"
            }
            "period" => "period = \"day\" (or \"week\", \"month\", \"quarter\")",
            "schedule" => "schedule = \"0 9 * * *\"",
            "text" => "text = { en = \"...\", ko = \"...\" }",
            "en" => "en = \"...\" with the English text",
            _ => return format!("add `{field}`"),
        };
        return format!("add {example}");
    }
    if message == "duplicate key" {
        return format!("keep only one `{spanned}` here");
    }
    if message.contains("expected a sequence") || message.contains("expected an array") {
        return "write each item under its own [[item]] header (double brackets)".into();
    }
    if message.contains("expected text as") {
        return format!("write it as {TEXT_EXAMPLE}");
    }
    if message.contains("expected a string") {
        return "put the value in double quotes".into();
    }
    if message.contains("expected a boolean") {
        return "write true or false, without quotes".into();
    }
    "correct the TOML at this spot: strings in double quotes, `{ en = \"...\", ko = \"...\" }` for text, [[item]] before each item".into()
}

/// The names inside backticks in serde's "expected one of `a`, `b`".
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_known() -> KnownNames {
        let metrics = crate::core::collectors::resources::METRIC_NAMES
            .iter()
            .chain(crate::core::services::SERVICE_METRICS)
            .chain(crate::core::queries::QUERY_METRICS)
            .chain(crate::core::backups::status::BACKUP_METRICS)
            .chain(crate::core::capacity::job::CAPACITY_METRICS)
            .chain([&crate::core::incidents::OVERDUE_ACTIONS_CHECK]);
        let tasks = crate::config::tasks::BUILTIN_TASK_IDS
            .iter()
            .chain(crate::core::tasks::backups::TASK_IDS.iter());
        KnownNames {
            metrics: metrics.map(|name| (*name).to_owned()).collect(),
            tasks: tasks.map(|name| (*name).to_owned()).collect(),
        }
    }

    const MINIMAL: &str = r#"id = "db"
title = { en = "Database checks", ko = "데이터베이스 점검" }
period = "day"
schedule = "0 9 * * *"

[[item]]
id = "slow"
text = { en = "Slow queries", ko = "느린 쿼리" }
check = "db.slow_statements"
"#;

    fn parse_err(source: &str) -> ChecklistError {
        match parse("user.toml", source, &real_known()) {
            Ok(checklist) => panic!("expected an error, got {checklist:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn builtins_parse_against_the_real_names() {
        let known = real_known();
        let mut ids = Vec::new();
        for (name, source) in BUILTIN {
            let checklist = parse(&format!("builtin:{name}"), source, &known)
                .unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(checklist.source, format!("builtin:{name}"));
            assert_eq!(format!("{}.toml", checklist.id), name);
            for item in &checklist.items {
                let ko = item.text.ko.as_deref().unwrap_or("");
                assert!(
                    !ko.is_empty(),
                    "{name}: item {} has no Korean text",
                    item.id
                );
            }
            assert!(checklist.title.ko.is_some());
            ids.push((
                checklist.id,
                checklist.period,
                checklist.schedule,
                checklist.items.len(),
            ));
        }
        let shape: Vec<(&str, Period, &str)> = ids
            .iter()
            .map(|(id, period, schedule, _)| (id.as_str(), *period, schedule.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                ("daily", Period::Day, "0 9 * * *"),
                ("weekly", Period::Week, "0 10 * * 1"),
                ("monthly", Period::Month, "0 10 1 * *"),
                ("quarterly", Period::Quarter, "0 10 1 1,4,7,10 *"),
            ]
        );
        let counts: Vec<usize> = ids.iter().map(|(.., count)| *count).collect();
        assert!((8..=12).contains(&counts[0]), "daily has {}", counts[0]);
        assert!((8..=10).contains(&counts[1]), "weekly has {}", counts[1]);
        assert!((8..=10).contains(&counts[2]), "monthly has {}", counts[2]);
        assert!((5..=8).contains(&counts[3]), "quarterly has {}", counts[3]);
    }

    #[test]
    fn builtins_link_the_thresholds_and_the_handover() {
        let (checklists, errors) = load_all(None, &real_known());
        assert_eq!(errors, []);
        let daily = &checklists[0];
        let check_of = |id: &str| {
            daily
                .items
                .iter()
                .find(|item| item.id == id)
                .and_then(|item| item.check.as_ref())
                .map(|check| check.metric.as_str())
        };
        assert_eq!(check_of("cpu"), Some("cpu.used_pct"));
        assert_eq!(check_of("memory"), Some("memory.used_pct"));
        assert_eq!(check_of("disk"), Some("disk.used_pct"));
        assert_eq!(check_of("backups"), Some("backup.stale"));
        assert!(daily.items.iter().any(|item| item.note_required));
        assert_eq!(daily.overdue_after, Duration::from_secs(6 * 3600));
        let tasks: Vec<&str> = checklists
            .iter()
            .flat_map(|checklist| &checklist.items)
            .filter_map(|item| item.task.as_deref())
            .collect();
        for task in [
            "log-rotation",
            "db-vacuum-analyze",
            "backup-verify",
            "restore-test",
        ] {
            assert!(tasks.contains(&task), "no item offers {task}");
        }
    }

    #[test]
    fn a_minimal_file_gets_the_period_default() {
        let checklist =
            parse("user.toml", MINIMAL, &real_known()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checklist.id, "db");
        assert_eq!(checklist.overdue_after, Duration::from_secs(6 * 3600));
        assert_eq!(
            checklist.items[0].check,
            Some(CheckRef {
                metric: "db.slow_statements".into(),
                instance: None
            })
        );
        assert_eq!(checklist.items[0].task, None);
        assert!(!checklist.items[0].note_required);
        for (period, hours) in [("week", 24), ("month", 72), ("quarter", 168)] {
            let source = MINIMAL.replace("\"day\"", &format!("\"{period}\""));
            let checklist =
                parse("user.toml", &source, &real_known()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(checklist.overdue_after, Duration::from_secs(hours * 3600));
        }
    }

    #[test]
    fn check_with_an_instance() {
        let source = MINIMAL.replace("\"db.slow_statements\"", "\"disk.used_pct:/var\"");
        let checklist =
            parse("user.toml", &source, &real_known()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            checklist.items[0].check,
            Some(CheckRef {
                metric: "disk.used_pct".into(),
                instance: Some("/var".into())
            })
        );
        let error = parse_err(&MINIMAL.replace("\"db.slow_statements\"", "\"disk.used_pct:\""));
        assert_eq!(error.line, 9);
        assert!(error.fix.contains("disk.used_pct:/var"), "{error}");
    }

    #[test]
    fn syntax_error_names_its_line() {
        let error = parse_err(&MINIMAL.replace(
            "text = { en = \"Slow queries\",",
            "text = { en = \"Slow queries\"",
        ));
        assert_eq!(error.file, "user.toml");
        assert_eq!(error.line, 8, "{error}");
        assert!(!error.fix.is_empty());
        let error =
            parse_err(&MINIMAL.replace("schedule = \"0 9 * * *\"", "schedule = \"0 9 * * *"));
        assert_eq!(error.line, 4, "{error}");
    }

    #[test]
    fn unknown_field_suggests_the_key() {
        let error = parse_err(&MINIMAL.replace("check =", "chek ="));
        assert_eq!(error.line, 9);
        assert!(error.message.contains("chek"), "{error}");
        assert!(error.fix.contains("did you mean `check`"), "{error}");

        let error = parse_err(&MINIMAL.replace("ko = \"느린 쿼리\"", "kr = \"느린 쿼리\""));
        assert_eq!(error.line, 8);
        assert!(error.fix.contains("`ko`"), "{error}");

        let error = parse_err(&MINIMAL.replace("schedule =", "shedule ="));
        assert_eq!(error.line, 4);
        assert!(error.fix.contains("did you mean `schedule`"), "{error}");
    }

    #[test]
    fn wrong_period_and_types() {
        let error = parse_err(&MINIMAL.replace("\"day\"", "\"daily\""));
        assert_eq!(error.line, 3);
        assert!(error.fix.contains("did you mean \"day\""), "{error}");

        let error = parse_err(&MINIMAL.replace(
            "title = { en = \"Database checks\", ko = \"데이터베이스 점검\" }",
            "title = \"Database checks\"",
        ));
        assert_eq!(error.line, 2);
        assert!(error.fix.contains("en = "), "{error}");

        let error = parse_err(&format!("{MINIMAL}note_required = \"yes\"\n"));
        assert_eq!(error.line, 10);
        assert!(error.fix.contains("true or false"), "{error}");

        let error = parse_err(&MINIMAL.replace("schedule = \"0 9 * * *\"\n", ""));
        assert_eq!(error.line, 1);
        assert!(error.fix.contains("schedule = \"0 9 * * *\""), "{error}");
    }

    #[test]
    fn duplicate_item_id_points_at_the_second() {
        let source = format!(
            "{MINIMAL}\n[[item]]\nid = \"other\"\ntext = {{ en = \"Other\" }}\n\n[[item]]\nid = \"slow\"\ntext = {{ en = \"Again\" }}\n"
        );
        let error = parse_err(&source);
        assert_eq!(error.line, 16, "{error}");
        assert!(error.message.contains("`slow`"), "{error}");
        assert!(error.fix.contains("slow-2"), "{error}");
    }

    #[test]
    fn unknown_metric_suggests_the_nearest() {
        let error = parse_err(&MINIMAL.replace("db.slow_statements", "db.slow_statement"));
        assert_eq!(error.line, 9);
        assert!(
            error.fix.starts_with("did you mean `db.slow_statements`?"),
            "{error}"
        );
        assert!(error.fix.contains("cpu.used_pct"), "{error}");

        let error = parse_err(&MINIMAL.replace("db.slow_statements", "cpu.used_pct:"));
        assert_eq!(error.line, 9);
    }

    #[test]
    fn unknown_task() {
        let source = format!("{MINIMAL}task = \"log-rotate\"\n");
        let error = parse_err(&source);
        assert_eq!(error.line, 10);
        assert!(error.message.contains("log-rotate"), "{error}");
        assert!(
            error.fix.starts_with("did you mean `log-rotation`?"),
            "{error}"
        );
    }

    #[test]
    fn builtins_leave_off_tasks_that_are_not_configured() {
        // Without a [[backup]] set there are no backup tasks.
        let known = KnownNames {
            tasks: crate::config::tasks::BUILTIN_TASK_IDS
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            ..real_known()
        };
        let (checklists, errors) = load_all(None, &known);
        assert_eq!(errors, []);
        assert_eq!(checklists.len(), 4);
        let weekly = &checklists[1];
        let integrity = weekly
            .items
            .iter()
            .find(|item| item.id == "backup-integrity");
        assert_eq!(integrity.map(|item| item.task.as_deref()), Some(None));
        assert!(integrity.is_some_and(|item| item.check.is_some()));
        assert!(
            weekly
                .items
                .iter()
                .any(|item| item.task.as_deref() == Some("db-vacuum-analyze"))
        );

        // A user's own file is told what is missing.
        let source = format!("{MINIMAL}task = \"restore-test\"\n");
        let error = parse("user.toml", &source, &known).err();
        assert_eq!(error.as_ref().map(|error| error.line), Some(10));
        assert!(error.is_some_and(|error| error.fix.contains("[[backup]]")));
    }

    #[test]
    fn empty_known_lists_do_not_validate_names() {
        let source = format!(
            "{}task = \"my-own-task\"\n",
            MINIMAL.replace("db.slow_statements", "my.metric")
        );
        let checklist =
            parse("user.toml", &source, &KnownNames::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checklist.items[0].task.as_deref(), Some("my-own-task"));
        assert_eq!(
            checklist.items[0].check.as_ref().map(|c| c.metric.as_str()),
            Some("my.metric")
        );
    }

    #[test]
    fn bad_schedules() {
        for (schedule, needle) in [
            ("0 9 * *", "4 fields"),
            ("0 0 9 * * *", "6 fields"),
            ("61 9 * * *", "not a cron expression"),
            ("0 0 30 2 *", "never fires"),
            ("", "0 fields"),
        ] {
            let error = parse_err(&MINIMAL.replace("0 9 * * *", schedule));
            assert_eq!(error.line, 4, "{schedule}: {error}");
            assert!(error.message.contains(needle), "{schedule}: {error}");
            assert!(error.fix.contains("\"0 9 * * *\""), "{error}");
        }
    }

    #[test]
    fn bad_overdue_after() {
        let source = MINIMAL.replace(
            "period = \"day\"\n",
            "period = \"day\"\noverdue_after = \"six hours\"\n",
        );
        let error = parse_err(&source);
        assert_eq!(error.line, 4);
        assert!(error.fix.contains("\"6h\""), "{error}");

        let source = MINIMAL.replace(
            "period = \"day\"\n",
            "period = \"day\"\noverdue_after = \"90m\"\n",
        );
        let checklist =
            parse("user.toml", &source, &real_known()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checklist.overdue_after, Duration::from_secs(90 * 60));
    }

    #[test]
    fn empty_ids_and_text() {
        let error = parse_err(&MINIMAL.replace("id = \"db\"", "id = \"\""));
        assert_eq!(error.line, 1);
        assert!(error.message.contains("empty"), "{error}");

        let error = parse_err(&MINIMAL.replace("id = \"slow\"", "id = \" \""));
        assert_eq!(error.line, 7);
        assert!(error.fix.contains("id = "), "{error}");

        let error = parse_err(&MINIMAL.replace("id = \"slow\"", "id = \"slow queries\""));
        assert_eq!(error.line, 7);

        let error = parse_err(&MINIMAL.replace("en = \"Slow queries\"", "en = \"\""));
        assert_eq!(error.line, 8);

        let checklist = parse(
            "user.toml",
            &MINIMAL.replace("ko = \"느린 쿼리\"", "ko = \"\""),
            &real_known(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checklist.items[0].text.ko, None);
    }

    #[test]
    fn no_items() {
        let source = MINIMAL.split("[[item]]").next().unwrap_or("");
        let error = parse_err(source);
        assert_eq!(error.line, 1);
        assert!(error.message.contains("no items"), "{error}");
        assert!(error.fix.contains("[[item]]"), "{error}");

        let error = parse_err(&MINIMAL.replace("[[item]]", "[item]"));
        assert!(error.fix.contains("[[item]]"), "{error}");
    }

    #[test]
    fn error_display_names_file_line_and_fix() {
        let error = parse_err(&MINIMAL.replace("check =", "chek ="));
        let shown = error.to_string();
        assert!(shown.starts_with("user.toml:9: "), "{shown}");
        assert!(shown.contains("; fix: did you mean `check`"), "{shown}");
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn user_files_override_add_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path();
        write(path, "a-broken.toml", &MINIMAL.replace("check =", "chek ="));
        write(
            path,
            "b-daily.toml",
            &MINIMAL.replace("id = \"db\"", "id = \"daily\""),
        );
        write(path, "c-db.toml", MINIMAL);
        write(path, "d-db-again.toml", MINIMAL);
        write(path, "notes.txt", "not a checklist");
        write(path, ".#e.toml", "not a checklist either");
        std::fs::create_dir(path.join("f.toml")).unwrap_or_else(|e| panic!("{e}"));

        let (checklists, errors) = load_all(Some(path), &real_known());
        let ids: Vec<&str> = checklists.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["daily", "weekly", "monthly", "quarterly", "db"]);
        assert_eq!(
            checklists[0].items.len(),
            1,
            "the user's daily replaces the built-in"
        );
        assert!(checklists[0].source.ends_with("b-daily.toml"));
        assert!(checklists[1].source == "builtin:weekly.toml");
        assert!(checklists[4].source.ends_with("c-db.toml"));

        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].file.ends_with("a-broken.toml"));
        assert_eq!(errors[0].line, 9);
        assert!(errors[1].file.ends_with("d-db-again.toml"));
        assert_eq!(errors[1].line, 1);
        assert!(errors[1].message.contains("c-db.toml"), "{}", errors[1]);
    }

    #[test]
    fn a_missing_user_dir_is_fine() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (checklists, errors) = load_all(Some(&dir.path().join("nope")), &real_known());
        assert_eq!(checklists.len(), 4);
        assert_eq!(errors, []);
    }

    #[test]
    fn a_broken_override_keeps_the_builtin() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let broken = MINIMAL
            .replace("id = \"db\"", "id = \"daily\"")
            .replace("\"day\"", "\"dai\"");
        write(dir.path(), "daily.toml", &broken);
        let (checklists, errors) = load_all(Some(dir.path()), &real_known());
        assert_eq!(checklists[0].source, "builtin:daily.toml");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
    }
}
