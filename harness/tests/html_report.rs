//! The HTML report of a small real sweep: parsed by a real HTML parser (html5ever, which
//! reports every parse error), one SVG per plot, nothing loaded from anywhere, the same tables
//! as `report.md`; `harness report` redrawing it from `results.json` alone; `harness compare
//! --html`; and a results file from another schema refused clearly.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use scraper::{ElementRef, Html, Selector};
use support::{results_dir, text, Scratch, HARNESS};

/// Two variants × concurrency 1 and 2, 4 runs a cell (enough for significance marks).
const MATRIX: &str = "[sweep]\nrequests = 300\nconcurrency = [1, 2]\nkeep_alive = true\nrepeat = 4\n\n\
                      [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n";

fn sweep(scratch: &Scratch) -> PathBuf {
    let (output, out) = scratch.run(MATRIX, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    results_dir(&out)
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("a valid selector")
}

/// The page, parsed; panics on any parse error html5ever reports.
fn parse(path: &Path) -> (String, Html) {
    let page = std::fs::read_to_string(path).expect("read the page");
    let document = Html::parse_document(&page);
    assert!(document.errors.is_empty(), "{} is not valid HTML: {:?}", path.display(), document.errors);
    assert_eq!(format!("{:?}", document.quirks_mode), "NoQuirks", "a standards-mode page");
    (page, document)
}

fn figures<'a>(document: &'a Html, plot: &str) -> Vec<ElementRef<'a>> {
    document.select(&selector(&format!("figure.plot[data-plot=\"{plot}\"]"))).collect()
}

/// Nothing on the page makes the browser fetch anything.
fn loads_nothing(page: &str, document: &Html) {
    for tag in
        ["script", "link", "img", "iframe", "object", "embed", "image", "use", "audio", "video", "source"]
    {
        assert_eq!(document.select(&selector(tag)).count(), 0, "a <{tag}> element");
    }
    for element in document.select(&selector("*")) {
        for (name, value) in element.value().attrs() {
            if matches!(name, "src" | "href" | "xlink:href" | "data" | "action" | "poster" | "srcset") {
                assert!(value.starts_with('#'), "{name}=\"{value}\" loads something");
            }
        }
    }
    assert!(!page.contains("http://") && !page.contains("https://"), "an URL on the page");
    assert!(!page.contains("url("), "a CSS url()");
}

#[test]
fn the_report_of_a_real_sweep() {
    let scratch = Scratch::new();
    let dir = sweep(&scratch);
    let (page, document) = parse(&dir.join("report.html"));
    loads_nothing(&page, &document);
    // The parser does report errors, so an empty list means something.
    assert!(!Html::parse_document("<!DOCTYPE html><title>x</title><p></div>").errors.is_empty());

    // One SVG per plot: throughput, a spectrum per level, CPU and RSS bars.
    let levels = ["c=1", "c=2"];
    for (plot, count) in [("throughput", 1), ("spectrum", levels.len()), ("cpu", 1), ("rss", 1)] {
        let found = figures(&document, plot);
        assert_eq!(found.len(), count, "{plot} figures");
        for figure in found {
            assert_eq!(figure.select(&selector("svg")).count(), 1, "one SVG in each {plot} figure");
        }
    }
    assert_eq!(document.select(&selector("svg")).count(), 1 + levels.len() + 2, "no other SVG");
    let spectrum_levels: Vec<&str> =
        figures(&document, "spectrum").iter().filter_map(|f| f.value().attr("data-level")).collect();
    assert_eq!(spectrum_levels, levels);

    // Axes labelled with units; the percentile axis in nines.
    let svg_text =
        |figure: &ElementRef<'_>| figure.select(&selector("text")).flat_map(|t| t.text()).collect::<String>();
    let spectrum = svg_text(&figures(&document, "spectrum")[0]);
    for label in ["percentile", "latency", "50%", "90%", "99%", "µs"] {
        assert!(spectrum.contains(label), "the spectrum's axes say {label:?}: {spectrum}");
    }
    let throughput = svg_text(&figures(&document, "throughput")[0]);
    assert!(throughput.contains("requests per second") && throughput.contains("concurrency (connections)"));
    assert!(svg_text(&figures(&document, "cpu")[0]).contains("server CPU per request (µs)"));
    assert!(svg_text(&figures(&document, "rss")[0]).contains("server RSS (MiB)"));

    // A variant has one colour in every legend.
    let swatch = selector(".legend > span");
    let mut colours: Vec<(String, String)> = Vec::new();
    for figure in document.select(&selector("figure.plot")) {
        for key in figure.select(&swatch) {
            let label: String = key.text().collect();
            let style = key.select(&selector(".swatch")).next().and_then(|s| s.value().attr("style"));
            let colour = style.unwrap_or_default().rsplit(':').next().unwrap_or_default().to_owned();
            colours.push((label, colour));
        }
    }
    for variant in ["tokio", "smol"] {
        let mut of: Vec<&str> = colours.iter().filter(|c| c.0 == variant).map(|c| c.1.as_str()).collect();
        assert_eq!(of.len(), 5, "{variant} in every legend: {colours:?}");
        of.dedup();
        assert_eq!(of.len(), 1, "{variant} keeps its colour: {colours:?}");
    }

    // The classic nine columns and the percentile tables, per variant; three matrices with
    // significance marks as in report.md.
    let classic: Vec<ElementRef<'_>> = document.select(&selector("table.classic")).collect();
    assert_eq!(classic.len(), 2);
    let columns: Vec<String> = classic[0].select(&selector("th")).map(|th| th.text().collect()).collect();
    assert_eq!(columns, harness::report::CLASSIC_COLUMNS);
    assert_eq!(classic[0].select(&selector("tbody tr")).count(), levels.len());
    assert_eq!(document.select(&selector("table.percentiles")).count(), 2);
    // Rate, p99 and CPU, and system calls and switches (counted in an extra run by default).
    assert_eq!(document.select(&selector("table.matrix")).count(), 5);
    let markdown = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    let entries: Vec<String> = document
        .select(&selector("table.matrix td"))
        .map(|td| td.text().collect::<String>())
        .filter(|t| t.contains('×'))
        .collect();
    assert!(!entries.is_empty());
    for entry in &entries {
        assert!(markdown.contains(entry.as_str()), "{entry:?} is in report.md too");
    }
}

fn harness(args: &[&Path]) -> (Option<i32>, String, String) {
    let output = Command::new(HARNESS).args(args).output().expect("run the harness");
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn harness_report_redraws_from_results_json_alone() {
    let scratch = Scratch::new();
    let dir = sweep(&scratch);
    let written = std::fs::read(dir.join("report.html")).expect("report.html");
    let markdown = std::fs::read(dir.join("report.md")).expect("report.md");

    // From the results file alone, in another directory: the same pages.
    let copy = scratch.path().join("copy");
    std::fs::create_dir(&copy).expect("mkdir");
    std::fs::copy(dir.join("results.json"), copy.join("results.json")).expect("copy");
    let (code, stdout, stderr) = harness(&[Path::new("report"), &copy]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("report.html") && stdout.contains("report.md"), "{stdout}");
    assert_eq!(std::fs::read(copy.join("report.html")).expect("redrawn"), written);
    assert_eq!(std::fs::read(copy.join("report.md")).expect("redrawn"), markdown);

    // A selection edited by hand: only smol's cells.
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("results.json")).expect("read")).expect("json");
    json["cells"].as_array_mut().expect("cells").retain(|cell| cell["variant"] == "smol");
    let edited = copy.join("results.json");
    std::fs::write(&edited, serde_json::to_vec(&json).expect("json")).expect("write");
    let (code, _, stderr) = harness(&[Path::new("report"), &edited]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, document) = parse(&copy.join("report.html"));
    assert_eq!(document.select(&selector("table.classic")).count(), 1);
    assert_eq!(figures(&document, "spectrum").len(), 2);

    // Compare, as the same kind of page: old and new overlaid per cell.
    let page = scratch.path().join("compare.html");
    let (code, stdout, stderr) = harness(&[Path::new("compare"), &dir, &copy, Path::new("--html"), &page]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("# Comparison"), "the text is still printed: {stdout}");
    let (page, document) = parse(&page);
    loads_nothing(&page, &document);
    assert_eq!(figures(&document, "compare-spectrum").len(), 2, "smol at c=1 and c=2");
    assert_eq!(figures(&document, "compare-throughput").len(), 1);
    assert!(page.contains("only in the old results"), "tokio's cells are unmatched");
}

#[test]
fn harness_report_says_which_schema_it_needs() {
    let scratch = Scratch::new();
    let old = scratch.path().join("old");
    std::fs::create_dir(&old).expect("mkdir");
    std::fs::write(old.join("results.json"), r#"{"meta": {}, "cells": [], "problems": []}"#).expect("write");
    let (code, _, stderr) = harness(&[Path::new("report"), &old]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("schema 1") && stderr.contains("reads schema 2"), "{stderr}");
    assert!(!old.join("report.html").exists(), "nothing is drawn from a file it cannot read");

    std::fs::write(old.join("results.json"), r#"{"schema_version": 3}"#).expect("write");
    let (code, _, stderr) = harness(&[Path::new("report"), &old]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("schema 3") && stderr.contains("reads schema 2"), "{stderr}");

    let (code, _, stderr) = harness(&[Path::new("report"), &scratch.path().join("nowhere")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nowhere") && stderr.contains("cannot read"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
