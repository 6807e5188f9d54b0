//! A scenario's `files = { dir, size, count }` and `cache = "warm" | "cold"`: the corpus is
//! read here, so a missing directory, a bad size or too few files is a mistake at its place
//! in the file, with the command that makes them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::document::{self, At, Mistakes};
use crate::corpus;
use crate::plan::{Cache, Placement, Scenario, VariantPlan};

const FILES_KEYS: [&str; 3] = ["dir", "size", "count"];

/// Most files one scenario spreads its requests over: the load generator numbers a run's
/// paths in 16 bits.
const MAX_COUNT: i64 = u16::MAX as i64;

/// `files` as written and checked: the directory and the names of its files of the size.
#[derive(Debug, Clone)]
pub(super) struct FilesSetting {
    pub dir: PathBuf,
    pub size: u64,
    pub names: Vec<String>,
}

/// `files = { dir = "corpus", size = "64KiB", count = 1024 }`.
pub(super) fn files(table: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Option<At<FilesSetting>> {
    let value = document::get(table, "files")?;
    let span = value.span();
    let DeValue::Table(inner) = value.get_ref() else {
        mistakes.at(
            span,
            "`files` must be a table, e.g. { dir = \"/var/tmp/corpus\", size = \"64KiB\", count = 1024 }",
        );
        return None;
    };
    mistakes.unknown_keys(inner, &FILES_KEYS, "files");
    let dir = mistakes.string(inner, "dir");
    if dir.is_none() && document::get(inner, "dir").is_none() {
        mistakes.at(span.clone(), "files needs a `dir`: the corpus directory (`harness files make DIR …`)");
    }
    let size = mistakes.string(inner, "size").and_then(|size| match corpus::parse_size(&size.value) {
        Ok(bytes) => Some(bytes),
        Err(err) => {
            mistakes.at(size.span, format!("files.size: {err}"));
            None
        }
    });
    if size.is_none() && document::get(inner, "size").is_none() {
        mistakes.at(
            span.clone(),
            "files needs a `size`, e.g. \"64KiB\": requests spread over the files of that size",
        );
    }
    let count = mistakes.integer(inner, "count").and_then(|n| {
        if (1..=MAX_COUNT).contains(&n.value) {
            Some(At { value: n.value as usize, span: n.span })
        } else {
            mistakes.at(n.span, format!("files.count must be from 1 to {MAX_COUNT}, not {}", n.value));
            None
        }
    });
    let dir = dir?;
    let path = PathBuf::from(&dir.value);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            mistakes.at(dir.span, format!("files.dir: {:?} is not a directory", dir.value));
            return None;
        }
        Err(err) => {
            mistakes.at(
                dir.span,
                format!("files.dir: cannot read {:?} ({err}); make a corpus with `harness files make {} --sizes 4KiB,64KiB,1MiB,16MiB --count N`", dir.value, dir.value),
            );
            return None;
        }
    }
    let size = size?;
    let names = match corpus::names(&path, size) {
        Ok(names) => names,
        Err(err) => {
            mistakes.at(dir.span, format!("files.dir: cannot list {:?}: {err}", dir.value));
            return None;
        }
    };
    let wanted = count.as_ref().map_or(names.len().clamp(1, MAX_COUNT as usize), |c| c.value);
    if names.len() < wanted {
        let label = corpus::size_label(size);
        let at = count.map_or(span, |c| c.span);
        mistakes.at(
            at,
            format!(
                "{:?} has {} files of {label}, {wanted} wanted: `harness files make {} --sizes {label} --count {wanted}`",
                dir.value,
                names.len(),
                dir.value
            ),
        );
        return None;
    }
    let names = names.into_iter().take(wanted).collect();
    Some(At { value: FilesSetting { dir: absolute(&path), size, names }, span: value.span() })
}

/// The directory as servers started elsewhere (another working directory, nginx) find it.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// `cache = "warm" | "cold"`.
pub(super) fn cache(table: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Option<At<Cache>> {
    let text = mistakes.string(table, "cache")?;
    match text.value.as_str() {
        "warm" => Some(At { value: Cache::Warm, span: text.span }),
        "cold" => Some(At { value: Cache::Cold, span: text.span }),
        other => {
            mistakes.at(
                text.span,
                format!("cache must be \"warm\" (read once before each run) or \"cold\" (dropped from the page cache before each run), not {other:?}"),
            );
            None
        }
    }
}

/// What holds for the files of the whole sweep: one directory (servers start once, for every
/// scenario), and only on this machine (its page cache is what `cache` controls). Gives every
/// variant the directory.
pub(super) fn check(
    scenarios: &[(Scenario, Range<usize>)],
    placement: &Placement,
    variants: &mut [VariantPlan],
    mistakes: &mut Mistakes<'_>,
) {
    let mut dir: Option<&Path> = None;
    for (scenario, span) in scenarios {
        let Some(files) = &scenario.files else { continue };
        match dir {
            Some(first) if first != files.dir => mistakes.at(
                span.clone(),
                format!(
                    "scenario `{}` takes its files from {}, another takes them from {}: servers start once for every scenario, so all files come from one directory",
                    scenario.name,
                    files.dir.display(),
                    first.display()
                ),
            ),
            _ => dir = Some(&files.dir),
        }
        if placement.server_host.is_some() || !placement.load_hosts.is_empty() {
            mistakes.at(
                span.clone(),
                format!("scenario `{}` serves files: it runs on this machine (the corpus and the page cache `cache` controls are this machine's), not through [[host]]s", scenario.name),
            );
        }
    }
    for variant in variants {
        variant.files = dir.map(Path::to_owned);
    }
}
