//! Module boundaries, read from the source: `src/core` never imports terminal code (so the
//! headless CLI and later front ends can use it), and no two parts of the crate import each other
//! in a circle (a circle means neither can change or be tested without the other).
//!
//! A part is a top-level module (`config`, `headless`, `cli`, ...) or, inside `core` and `tui`,
//! one of their modules (`core::tasks`, `core::backups`, `tui::panes`, ...): those are the rooms
//! the panes and collectors of the next waves are added to, so their imports must point one way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The lines of a file that are compiled into the program: comments and the unit tests at the
/// bottom (`#[cfg(test)]`) left out, since a test may reach anywhere.
fn program_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line))
        .collect()
}

/// The module path of a file under `src`: `src/core/tasks/backups/mod.rs` -> `core::tasks::backups`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        parts.pop();
    }
    parts
}

/// The part a module belongs to: the first two segments under `core` and `tui`, else the first.
fn part_of(module: &[String]) -> Option<String> {
    match module {
        [] => None,
        [top, child, ..] if top == "core" || top == "tui" => Some(format!("{top}::{child}")),
        [top, ..] => Some(top.clone()),
    }
}

/// Every `crate::…` and `super::…` path a line names, as module paths.
fn named_paths(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let words = |rest: &str| -> Vec<String> {
        rest.split("::")
            .map(|word| {
                word.chars()
                    .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
                    .collect::<String>()
            })
            .take_while(|word| !word.is_empty())
            .collect()
    };
    for (index, _) in line.match_indices("crate::") {
        let before = line[..index].chars().last();
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
            continue;
        }
        found.push(words(&line[index + "crate::".len()..]));
    }
    for (index, _) in line.match_indices("super::") {
        let before = line[..index].chars().last();
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == ':') {
            continue;
        }
        // `a/b.rs` and `a/b/mod.rs` are both module a::b, whose `super` is a.
        let mut base = module.to_vec();
        base.pop();
        let mut rest = &line[index + "super::".len()..];
        while let Some(stripped) = rest.strip_prefix("super::") {
            base.pop();
            rest = stripped;
        }
        base.extend(words(rest));
        found.push(base);
    }
    found
}

struct Imports {
    /// part -> part -> one line that shows the import.
    edges: BTreeMap<String, BTreeMap<String, String>>,
    files: usize,
}

fn imports() -> Imports {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(from) = part_of(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read");
        for (number, line) in program_lines(&text) {
            for path in named_paths(line, &module) {
                let Some(to) = part_of(&path) else { continue };
                if to != from {
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| {
                            format!(
                                "{}:{number}: {}",
                                file.strip_prefix(&src).expect("under src").display(),
                                line.trim()
                            )
                        });
                }
            }
        }
    }
    Imports {
        edges,
        files: files.len(),
    }
}

/// A path from `from` to `to` through the import graph, if any.
fn path_between(
    edges: &BTreeMap<String, BTreeMap<String, String>>,
    from: &str,
    to: &str,
) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut queue = std::collections::VecDeque::from([vec![from.to_owned()]]);
    while let Some(route) = queue.pop_front() {
        let last = route.last().expect("non-empty").clone();
        if last == to && route.len() > 1 {
            return Some(route);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in edges.get(&last).into_iter().flat_map(BTreeMap::keys) {
            let mut longer = route.clone();
            longer.push(next.clone());
            queue.push_back(longer);
        }
    }
    None
}

#[test]
fn core_never_imports_terminal_crates() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(
        files.len() >= 5,
        "expected the core modules under {}",
        core.display()
    );
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if ["ratatui", "crossterm", "crate::tui"]
                .iter()
                .any(|word| line.contains(word))
            {
                offenders.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "core imports terminal code:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_part_imports_another_in_a_circle() {
    let imports = imports();
    assert!(imports.files >= 50, "expected the whole crate under src");
    let mut circles = Vec::new();
    for (from, targets) in &imports.edges {
        for (to, example) in targets {
            if from.as_str() > to.as_str() {
                // Each circle once: from the part that sorts first.
                continue;
            }
            if let Some(route) = path_between(&imports.edges, to, from) {
                let back = &imports.edges[&route[0]][&route[1]];
                circles.push(format!(
                    "{from} -> {to}\n    {example}\n  and back {}\n    {back}",
                    route.join(" -> ")
                ));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles between parts:\n{}",
        circles.join("\n")
    );
}

/// The directions the architecture relies on, each checked on its own so a break names itself.
#[test]
fn layers_point_one_way() {
    let imports = imports();
    let imports_from = |from: &str, to_prefix: &str| -> Vec<String> {
        imports
            .edges
            .iter()
            .filter(|(part, _)| part.as_str() == from || part.starts_with(&format!("{from}::")))
            .flat_map(|(_, targets)| targets.iter())
            .filter(|(to, _)| to.as_str() == to_prefix || to.starts_with(&format!("{to_prefix}::")))
            .map(|(_, example)| example.clone())
            .collect()
    };
    for (from, to) in [
        ("config", "tui"),
        ("core", "tui"),
        ("core", "headless"),
        ("core", "cli"),
        ("headless", "tui"),
        ("core::protocol", "core::runner"),
        ("core::tasks", "core::runner"),
        ("core::backups", "core::tasks"),
    ] {
        let found = imports_from(from, to);
        assert!(
            found.is_empty(),
            "{from} must not import {to}:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_reader_follows_super_and_crate_paths() {
    let module: Vec<String> = ["core", "tasks", "backups", "create"]
        .map(str::to_owned)
        .to_vec();
    let paths = named_paths(
        "use super::restore::x; let y = crate::core::store::mask(z); use super::super::super::model::A;",
        &module,
    );
    let parts: Vec<Option<String>> = paths.iter().map(|path| part_of(path)).collect();
    assert_eq!(
        parts,
        vec![
            Some("core::store".to_owned()),
            Some("core::tasks".to_owned()),
            Some("core::model".to_owned()),
        ]
    );
}
