//! Scaling across cores: workers as an axis, in real sweeps of the real binary. Workers 1 and 2
//! here, where at 2 the server shares the load generator's CPU and every such cell says so; a
//! server restarted with each workers value and pinned to the first N server CPUs; the cells
//! keyed by workers in `results.json` (read back whole), the CSV and the `.hgrm` names; the
//! scaling plots and the efficiency table in `report.html`; `compare` across two scaling runs;
//! a bad workers list refused with every mistake at once; and `examples/scaling.toml` edited for
//! a bigger server host as its comments say, still a valid plan.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use scraper::{ElementRef, Html, Selector};
use support::{results_dir, results_json, text, Scratch, HARNESS};

/// The warning a cell at workers = 2 carries on this machine's placement.
const OVERLAP: &str =
    "at workers = 2 the server is pinned to CPUs 0-1, which include the load generator's CPU 1";

/// A scaling sweep of `variants` at workers 1 and 2, the load on CPU 1, `repeat` runs a cell.
fn matrix(variants: &[&str], repeat: usize) -> String {
    let mut matrix = format!(
        "[sweep]\nrequests = 400\nconcurrency = [4]\nkeep_alive = true\nrepeat = {repeat}\n\n\
         [[scenario]]\nname = \"scaling\"\nworkers = [1, 2]\n\n\
         [placement]\nserver_cpus = [0, 1]\nload_cpus = [1]\n"
    );
    for variant in variants {
        matrix.push_str(&format!("\n[[variant]]\nname = \"{variant}\"\n"));
    }
    matrix
}

/// Whether this machine has the two CPUs the sweeps pin to; says SKIPPED when not.
fn two_cpus(test: &str) -> bool {
    let cpus = support::available_cpus();
    if cpus < 2 {
        eprintln!("SKIPPED {test}: needs 2 CPUs to pin workers 1 and 2 to, this machine has {cpus}");
    }
    cpus >= 2
}

/// Runs `harness run` on `matrix` with results under `out`; its results directory.
fn sweep(scratch: &Scratch, name: &str, matrix: &str) -> (PathBuf, String) {
    let file = scratch.path().join(format!("{name}.toml"));
    std::fs::write(&file, matrix).expect("write the matrix");
    let out = scratch.path().join(name);
    let output = Command::new(HARNESS)
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the harness");
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    (results_dir(&out), stderr)
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("a valid selector")
}

/// The page, parsed; panics on any parse error html5ever reports.
fn parse(path: &Path) -> Html {
    let page = std::fs::read_to_string(path).expect("read the page");
    let document = Html::parse_document(&page);
    assert!(document.errors.is_empty(), "{} is not valid HTML: {:?}", path.display(), document.errors);
    document
}

fn figures<'a>(document: &'a Html, plot: &str) -> Vec<ElementRef<'a>> {
    document.select(&selector(&format!("figure.plot[data-plot=\"{plot}\"]"))).collect()
}

/// Every text of an element, trimmed, one entry each.
fn texts(element: &ElementRef<'_>) -> Vec<String> {
    element.text().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

#[test]
fn workers_one_and_two_here_with_the_overlap_in_the_cell() {
    if !two_cpus("workers_one_and_two_here_with_the_overlap_in_the_cell") {
        return;
    }
    let scratch = Scratch::new();
    let (dir, stderr) = sweep(&scratch, "here", &matrix(&["tokio", "thread-per-connection"], 2));
    let json = results_json(dir.parent().expect("the out directory"));
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 4, "2 variants × 2 workers");
    for cell in cells {
        let workers = cell["workers"].as_u64().expect("workers");
        assert_eq!(cell["workers_axis"], true, "{cell}");
        let notes = cell["notes"].to_string();
        // Pinned to the first N server CPUs, as asked and as read back.
        let first: Vec<u64> = (0..workers).collect();
        assert_eq!(cell["meta"]["server_cpus"], serde_json::json!(first), "{cell}");
        assert_eq!(cell["meta"]["server_cpus_in_force"], serde_json::json!(first), "{cell}");
        assert_eq!(notes.contains(OVERLAP), workers == 2, "the overlap is in the w=2 cells only: {notes}");
    }
    let warnings = json["meta"]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.iter().filter(|w| w.as_str().is_some_and(|w| w.starts_with(OVERLAP))).count(), 1);
    assert!(stderr.contains(&format!("warning: {OVERLAP}")), "said as it happened: {stderr}");
    // Each server was started with --workers N: tokio's runtime has a thread per worker.
    let threads = |variant: &str, workers: u64| {
        cells
            .iter()
            .find(|c| c["variant"] == variant && c["workers"] == workers)
            .and_then(|c| c["server"]["threads"].as_u64())
            .unwrap_or_else(|| panic!("{variant} at workers {workers}"))
    };
    assert!(threads("tokio", 2) > threads("tokio", 1), "more runtime workers at workers = 2");
    // thread-per-connection ignores --workers and says so once, among its facts.
    let variants = json["meta"]["variants"].as_array().expect("variants");
    let notes = |name: &str| variants.iter().find(|v| v["name"] == name).expect(name)["notes"].to_string();
    assert!(
        notes("thread-per-connection").contains("it ignores `--workers`"),
        "{}",
        notes("thread-per-connection")
    );
    assert!(!notes("tokio").contains("ignores"), "{}", notes("tokio"));
    assert_eq!(json["meta"]["scenarios"][0]["workers"], serde_json::json!([1, 2]));

    // results.json reads back into the harness's own types and writes out the same, key and all.
    let read = harness::results::Results::read(&dir).expect("results.json reads back");
    assert!(read.cells.iter().all(|c| c.workers_axis));
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).expect("read"))
            .expect("json");
    assert_eq!(serde_json::to_value(&read).expect("json"), on_disk, "a round trip changes nothing");

    // The CSV's workers column, and a histogram file per (variant, workers, level).
    let csv = std::fs::read_to_string(dir.join("results.csv")).expect("results.csv");
    let workers: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(2).unwrap_or_default()).collect();
    assert_eq!(workers.iter().filter(|w| **w == "1").count(), 2, "{csv}");
    assert_eq!(workers.iter().filter(|w| **w == "2").count(), 2, "{csv}");
    for file in [
        "scaling-tokio-w1-c4-k.hgrm",
        "scaling-tokio-w2-c4-k.hgrm",
        "scaling-thread-per-connection-w2-c4-k.hgrm",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }

    // The page: the scaling plots with a workers axis, the efficiency table, the matrices by
    // (workers, load), a section per variant and workers value.
    let document = parse(&dir.join("report.html"));
    for plot in ["scaling", "scaling-cpu"] {
        let found = figures(&document, plot);
        assert_eq!(found.len(), 1, "one {plot} plot for the one load level");
        let figure = found[0];
        assert_eq!(figure.value().attr("data-scenario"), Some("scaling"));
        assert_eq!(figure.value().attr("data-axis"), Some("workers"));
        assert_eq!(figure.value().attr("data-level"), Some("c=4"));
        let svg = figure.select(&selector("svg")).next().expect("an SVG");
        let labels = texts(&svg);
        assert!(labels.iter().any(|l| l.starts_with("workers")), "the x axis names the workers: {labels:?}");
        assert!(labels.contains(&"1".to_owned()) && labels.contains(&"2".to_owned()), "{labels:?}");
        let legend: Vec<String> =
            figure.select(&selector(".legend > span")).map(|k| k.text().collect()).collect();
        assert_eq!(legend, ["tokio", "thread-per-connection"], "a line per variant");
        let caption: String = figure.text().collect();
        assert!(
            caption.contains("At workers = 2 the server's CPUs included the load generator's"),
            "the overlap is said beside the plot: {caption}"
        );
    }
    assert!(figures(&document, "throughput").is_empty(), "one load level: no line against it to draw");
    let levels: Vec<&str> =
        figures(&document, "spectrum").iter().filter_map(|f| f.value().attr("data-level")).collect();
    assert_eq!(levels, ["w=1 c=4", "w=2 c=4"]);
    let table = document.select(&selector("table.scaling")).next().expect("the efficiency table");
    let headers: Vec<String> = table.select(&selector("th")).map(|th| th.text().collect()).collect();
    assert_eq!(headers, ["variant", "level", "w=1", "w=2"]);
    let rows: Vec<Vec<String>> = table
        .select(&selector("tbody tr"))
        .map(|tr| tr.select(&selector("td")).map(|td| td.text().collect()).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row[2].starts_with("1.00 (")), "w=1 is the base: {rows:?}");
    assert!(rows.iter().all(|row| row[3].ends_with('§')), "the overlap marks w=2: {rows:?}");
    let matrix_headers: Vec<String> = document
        .select(&selector("table.matrix"))
        .next()
        .expect("a matrix")
        .select(&selector("th"))
        .map(|th| th.text().collect())
        .collect();
    assert_eq!(matrix_headers, ["variant", "w=1 c=4", "w=2 c=4"]);
    let sections: Vec<String> =
        document.select(&selector("section.scenario h3")).map(|h| h.text().collect()).collect();
    for heading in ["tokio (workers 1)", "tokio (workers 2)", "thread-per-connection (workers 2)"] {
        assert!(sections.iter().any(|s| s == heading), "{heading} in {sections:?}");
    }
    let markdown = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(markdown.contains("### Scaling efficiency (scaling)"), "{markdown}");
    assert!(markdown.contains(&format!("**w=2 c=4:** {OVERLAP}")), "the note under its level: {markdown}");
}

#[test]
fn compare_across_two_scaling_runs() {
    if !two_cpus("compare_across_two_scaling_runs") {
        return;
    }
    let scratch = Scratch::new();
    let matrix = matrix(&["tokio", "smol"], 4);
    let (first, _) = sweep(&scratch, "first", &matrix);
    let (second, _) = sweep(&scratch, "second", &matrix);
    let output = Command::new(HARNESS)
        .arg("compare")
        .arg(&first)
        .arg(&second)
        .arg("--json")
        .output()
        .expect("compare");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let comparison: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(comparison["unmatched"], serde_json::json!([]), "every cell matched on its workers");
    let rows = comparison["rows"].as_array().expect("rows");
    let points: Vec<(String, String, u64)> = rows
        .iter()
        .filter(|r| r["metric"] == "requests_per_second")
        .map(|r| {
            let name = |key: &str| r[key].as_str().expect(key).to_owned();
            (name("variant"), name("level"), r["workers"].as_u64().expect("workers"))
        })
        .collect();
    let expect = |variant: &str, w: u64| (variant.to_owned(), format!("w={w} c=4"), w);
    assert_eq!(points, [expect("tokio", 1), expect("tokio", 2), expect("smol", 1), expect("smol", 2)]);
    let counted_once = |r: &&serde_json::Value| {
        r["metric"] == "server_syscalls_per_request" || r["metric"] == "server_switches_per_request"
    };
    assert!(
        rows.iter().filter(|r| !counted_once(r)).all(|r| r["runs"] == serde_json::json!([4, 4])),
        "each side's own runs"
    );
    // System calls and switches: one extra, counted run per cell, no runs to test.
    assert!(rows.iter().filter(counted_once).all(|r| r["runs"] == serde_json::json!([0, 0])), "{rows:?}");

    // The tables, a column per (workers, load); the page, rates against workers.
    let output = Command::new(HARNESS).arg("compare").arg(&first).arg(&second).output().expect("compare");
    let stdout = text(&output.stdout);
    let header =
        stdout.lines().find(|l| l.starts_with("| variant")).unwrap_or_else(|| panic!("a grid: {stdout}"));
    let columns: Vec<&str> = header.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(columns, ["variant", "w=1 c=4", "w=2 c=4"], "{stdout}");
    let page = scratch.path().join("compare.html");
    let output = Command::new(HARNESS)
        .arg("compare")
        .arg(&first)
        .arg(&second)
        .arg("--html")
        .arg(&page)
        .output()
        .expect("compare");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let document = parse(&page);
    let rates = figures(&document, "compare-throughput");
    assert_eq!(rates.len(), 1, "one load level");
    assert_eq!(rates[0].value().attr("data-axis"), Some("workers"));
    assert_eq!(figures(&document, "compare-spectrum").len(), 4, "a cell per variant and workers");
}

#[test]
fn a_bad_workers_list_is_refused_with_every_mistake_at_once() {
    let scratch = Scratch::new();
    let file = scratch.matrix(
        "[sweep]\nworkers = [0, 1, 1]\n\n[[scenario]]\nname = \"wide\"\nworkers = [1, 3]\n\n\
         [placement]\nserver_cpus = [0]\nload_cpus = [0]\n\n[[variant]]\nname = \"tokio\"\n",
    );
    let output = Command::new(HARNESS).arg(&file).arg("--out").arg(scratch.out()).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let shown = file.display().to_string();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&shown)).collect();
    let expect = [
        ":2:12: a workers value must be from 1 to 1024, not 0",
        ":2:18: workers 1 is listed twice",
        ":6:15: workers 3 needs 3 server CPUs, but server_cpus = [0] names 1",
    ];
    assert_eq!(lines.len(), expect.len(), "{stderr}");
    for (line, want) in lines.iter().zip(expect) {
        assert!(line.starts_with(&format!("{shown}{want}")), "want {want:?}\nall: {stderr}");
    }
    assert!(!scratch.out().exists(), "nothing started");
}

/// `examples/scaling.toml` as a user with a bigger server machine would edit it, following its
/// own comments: the commented [placement] and [[host]] tables in, the one-machine placement
/// out, workers widened to 16. The plan places the servers on their host, its workers 1 to 16
/// on the first N of its 16 CPUs, and warns of no overlap (the load is on other machines).
#[test]
fn the_scaling_example_across_hosts_is_a_valid_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("examples/scaling.toml")).expect("the example");
    let here = "[placement]\nserver_cpus = [0, 1]";
    assert!(example.contains(here), "the one-machine placement this test takes out");
    let mut edited = Vec::new();
    let mut in_hosts = false;
    let mut skipping = false;
    for line in example.lines() {
        if line.starts_with("[placement]") {
            skipping = true;
            continue;
        }
        if skipping {
            skipping = !line.trim().is_empty();
            continue;
        }
        if line.starts_with("# [placement]") {
            in_hosts = true;
        }
        if in_hosts && line.starts_with("# Work stealing") {
            in_hosts = false;
        }
        match (in_hosts, line.strip_prefix("# ")) {
            (true, Some(code)) => edited.push(code.to_owned()),
            (true, None) if line == "#" => edited.push(String::new()),
            _ if line.starts_with("workers = [1, 2]") => edited.push("workers = [1, 2, 4, 8, 16]".to_owned()),
            _ => edited.push(line.to_owned()),
        }
    }
    let edited = edited.join("\n");
    let plan =
        harness::matrix::parse("scaling.toml", &edited, 2).unwrap_or_else(|err| panic!("{err}\n{edited}"));
    assert_eq!(plan.scenarios[0].workers, [1, 2, 4, 8, 16]);
    assert_eq!(plan.hosts.len(), 3, "{edited}");
    assert!(plan.placement.server_host.is_some() && plan.placement.load_hosts.len() == 2);
    assert_eq!(plan.server_setup(0, Some(4)).cpus, [0, 1, 2, 3]);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert_eq!(plan.placement.overlap(Some(16)), None, "server and load on other machines");
}
