//! The harness's modules form layers: no two top-level modules import each other, directly or
//! through others, and the lower layers — the load generator, the results model, the plan,
//! the statistics — never reach up into a command, the sweep or a renderer. Read from the
//! source: every `crate::NAME` path outside comments is an import of module NAME.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules under `src/` and, for each, the top-level modules its code names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|name| name.trim_end_matches(".rs").to_owned())
            .expect("a module name");
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let used = graph.entry(module.clone()).or_default();
        for line in text.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module {
                    used.insert(name);
                }
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src is readable").map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// A cycle through `start`, if there is one: the modules in order.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then(|| {
        path.push(start.to_owned());
        path
    })
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = imports();
    assert!(graph.len() > 15, "found the modules: {graph:?}");
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_from(&graph, m)).map(|cycle| cycle.join(" → ")).collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn lower_layers_never_reach_up() {
    let graph = imports();
    let lower = ["load", "results", "plan", "stats", "cost", "affinity", "meta", "registry", "matrix"];
    let upper = ["cli", "commands", "sweep", "report", "html", "export", "target", "hosts", "compare"];
    let mut wrong = Vec::new();
    for module in lower {
        let used = graph.get(module).unwrap_or_else(|| panic!("no module {module}"));
        for up in upper.iter().filter(|up| used.contains(**up)) {
            wrong.push(format!("{module} uses {up}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
