//! Every example matrix under `examples/` is valid, as a user would run it: from the
//! repository root.

use std::path::PathBuf;

#[test]
fn every_example_matrix_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Paths inside the examples (config templates, Python servers) are relative to the root.
    std::env::set_current_dir(&root).expect("the repository root");
    let mut checked = 0;
    for entry in std::fs::read_dir("examples").expect("examples/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let source = stand_in_corpus(&std::fs::read_to_string(&path).expect("readable"));
        let shown = path.display().to_string();
        if let Err(err) = harness::matrix::parse(&shown, &source, 2) {
            panic!("{err}");
        }
        checked += 1;
    }
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("rm-example-corpus-{}", std::process::id())),
    );
    assert!(checked >= 8, "found only {checked} example matrices");
    // The CI gate's matrix, with the base build's harness filled in as its script does.
    let ci = std::fs::read_to_string("examples/ci/matrix.toml").expect("examples/ci/matrix.toml");
    assert!(ci.contains("@BASE_HARNESS@"), "the script fills in the base build");
    let ci = ci.replace("@BASE_HARNESS@", "/usr/local/bin/harness");
    let plan =
        harness::matrix::parse("examples/ci/matrix.toml", &ci, 2).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(plan.baseline, "reference", "the base build's server is the yardstick");
    let default = std::fs::read_to_string("matrix.toml").expect("matrix.toml");
    let plan = harness::matrix::parse("matrix.toml", &default, 2).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        plan.variants.len(),
        harness::registry::VARIANTS.len(),
        "the default matrix runs every built-in"
    );
}

/// `source` with each files scenario's corpus directory replaced by a stand-in holding the
/// files it names, sparse (`files make` would write gigabytes): the matrix checks names and
/// sizes, so every other mistake still shows.
fn stand_in_corpus(source: &str) -> String {
    let stand_in: PathBuf = std::env::temp_dir().join(format!("rm-example-corpus-{}", std::process::id()));
    let mut out = String::new();
    for line in source.lines() {
        let files = line.trim_start().strip_prefix("files = {").and_then(|rest| {
            let field = |key: &str| {
                let at = rest.find(&format!("{key} = "))? + key.len() + 3;
                let value = rest[at..].split([',', '}']).next()?.trim();
                Some(value.trim_matches('"').to_owned())
            };
            Some((field("dir")?, field("size")?, field("count")?.parse::<usize>().ok()?))
        });
        let Some((dir, size, count)) = files else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let bytes = harness::corpus::parse_size(&size).expect("an example's size");
        std::fs::create_dir_all(&stand_in).expect("the stand-in corpus");
        for index in 0..count {
            let file = std::fs::File::create(stand_in.join(harness::corpus::file_name(bytes, index)))
                .expect("a file");
            file.set_len(bytes).expect("sparse");
        }
        out.push_str(&line.replace(&dir, &stand_in.display().to_string()));
        out.push('\n');
    }
    out
}
