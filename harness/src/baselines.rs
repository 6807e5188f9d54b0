//! The baseline store: a sweep's `results.json` kept under a name, so later sweeps can be
//! compared with it (`harness run --save-baseline NAME`, then `harness compare --baseline NAME
//! NEW`). Baselines live beside the stamped results directories, in `<out>/baselines/NAME.json`
//! (`results/baselines/` by default), where a CI cache can keep them between jobs. A name is
//! data, never a path: letters, digits, `.`, `_` and `-`, not starting with `.`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;

/// The directory under the results parent (`--out`) that holds the baselines.
pub const DIR: &str = "baselines";

/// The longest name accepted: a file name with room to spare.
const LONGEST: usize = 100;

/// A baseline's name, checked: safe as a file name in [`DIR`] and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl FromStr for Name {
    type Err = String;

    fn from_str(text: &str) -> Result<Name, String> {
        let rule = "a baseline name is letters, digits, `.`, `_` and `-`, not starting with `.` (e.g. main, v1.2, pr-42)";
        if text.is_empty() {
            return Err(format!("an empty baseline name: {rule}"));
        }
        if text.len() > LONGEST {
            return Err(format!("a baseline name of {} characters: at most {LONGEST}", text.len()));
        }
        if text.starts_with('.')
            || !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!("`{text}` is not a baseline name: {rule}"));
        }
        Ok(Name(text.to_owned()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where baseline `name` is kept under the results parent `out`.
pub fn file(out: &Path, name: &Name) -> PathBuf {
    out.join(DIR).join(format!("{name}.json"))
}

/// Copies `results_json` to baseline `name` under `out` (through a temporary file and a
/// rename, so a reader never sees half of it); an older baseline of that name is replaced.
pub fn save(out: &Path, name: &Name, results_json: &Path) -> anyhow::Result<PathBuf> {
    let target = file(out, name);
    let dir = out.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = dir.join(format!(".{name}.json.{}", std::process::id()));
    std::fs::copy(results_json, &temporary)
        .with_context(|| format!("cannot copy {} to {}", results_json.display(), temporary.display()))?;
    std::fs::rename(&temporary, &target).with_context(|| format!("cannot write {}", target.display()))?;
    Ok(target)
}

/// The names of the baselines kept under `out`, sorted.
pub fn saved(out: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(out.join(DIR)) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
        .filter(|name| name.parse::<Name>().is_ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_data_not_paths() {
        for good in ["main", "v1.2", "pr-42", "release_2026", "a"] {
            assert_eq!(good.parse::<Name>().map(|n| n.to_string()), Ok(good.to_owned()));
        }
        for bad in ["", "..", ".", ".hidden", "a/b", "../etc", "x\\y", "with space", "naïve", "a\0b"] {
            assert!(bad.parse::<Name>().is_err(), "{bad:?}");
        }
        assert!("x".repeat(101).parse::<Name>().unwrap_err().contains("at most 100"));
        assert!("a/b".parse::<Name>().unwrap_err().contains("letters, digits"));
    }

    #[test]
    fn saved_replaced_and_listed() {
        let out = tempfile::tempdir().unwrap();
        let source = out.path().join("results.json");
        std::fs::write(&source, "{\"first\": 1}").unwrap();
        let main: Name = "main".parse().unwrap();
        let path = save(out.path(), &main, &source).unwrap();
        assert_eq!(path, out.path().join("baselines/main.json"));
        std::fs::write(&source, "{\"second\": 2}").unwrap();
        save(out.path(), &main, &source).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"second\": 2}");
        save(out.path(), &"v1".parse().unwrap(), &source).unwrap();
        assert_eq!(saved(out.path()), ["main", "v1"]);
        assert_eq!(saved(&out.path().join("nowhere")), Vec::<String>::new());
    }
}
