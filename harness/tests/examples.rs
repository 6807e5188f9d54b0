//! Every example matrix under `examples/` is valid, as a user would run it: from the
//! repository root.

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
        let source = std::fs::read_to_string(&path).expect("readable");
        let shown = path.display().to_string();
        if let Err(err) = harness::matrix::parse(&shown, &source, 2) {
            panic!("{err}");
        }
        checked += 1;
    }
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
