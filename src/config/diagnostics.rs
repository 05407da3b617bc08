//! Turning configuration mistakes into messages that name the file, line and column, say what
//! was expected and, for a misspelt key, the nearest valid one.

use std::fmt;
use std::path::Path;

/// Separates a value parser's error message from its advice, so the advice lands on the
/// `fix:` line.
pub const FIX_SEPARATOR: &str = "; fix: ";

/// A problem with a configuration, theme or other input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn unreadable(path: &Path, error: &std::io::Error, fix: &str) -> ConfigError {
        ConfigError {
            file: path.display().to_string(),
            position: None,
            message: format!("cannot read the file: {error}"),
            fix: Some(fix.to_owned()),
        }
    }

    pub fn at(
        file: &str,
        source: &str,
        offset: usize,
        message: String,
        fix: Option<String>,
    ) -> Self {
        ConfigError {
            file: file.to_owned(),
            position: Some(line_and_column(source, offset)),
            message,
            fix,
        }
    }

    /// Wraps a TOML parse or type error, adding a suggestion for unknown names. Value parsers
    /// put their own advice after [`FIX_SEPARATOR`].
    pub fn from_toml(file: &str, source: &str, error: &toml::de::Error) -> ConfigError {
        let text = error.message().trim();
        let (message, fix) = match text.split_once(FIX_SEPARATOR) {
            Some((message, fix)) => (message.to_owned(), Some(fix.to_owned())),
            None => {
                let fix = suggestion(text).unwrap_or_else(|| {
                    "compare with `opsdeck config default`, which shows every key with its type and default".to_owned()
                });
                (text.to_owned(), Some(fix))
            }
        };
        ConfigError {
            file: file.to_owned(),
            position: error.span().map(|span| line_and_column(source, span.start)),
            message,
            fix,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and `unknown variant`), names the
/// closest valid choice.
fn suggestion(message: &str) -> Option<String> {
    let kind = ["unknown field `", "unknown variant `"]
        .into_iter()
        .find(|prefix| message.starts_with(prefix))?;
    let rest = &message[kind.len()..];
    let (given, expected) = rest.split_once('`')?;
    let choices: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    nearest(given, &choices).map(|best| format!("did you mean `{best}`?"))
}

/// The choice closest to `given` by edit distance, if it is plausibly a typo of it.
pub fn nearest<'a>(given: &str, choices: &[&'a str]) -> Option<&'a str> {
    choices
        .iter()
        .map(|choice| (strsim::damerau_levenshtein(given, choice), *choice))
        .filter(|(distance, choice)| *distance <= (choice.len().max(given.len()) / 2).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, choice)| choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_field() {
        assert_eq!(
            suggestion("unknown field `intervall`, expected one of `interval`, `filesystems`"),
            Some("did you mean `interval`?".into())
        );
        assert_eq!(
            suggestion("unknown field `zzzzzzzz`, expected `interval` or `filesystems`"),
            None
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(line_and_column("a = 1\n한글 = x", 13), (2, 4));
    }
}
