//! The HTML report: one self-contained page per results directory (`report.html`), with
//! inline SVG plots, an inline stylesheet, no scripts and nothing loaded from anywhere, so it
//! opens in a browser offline, years later, and answers "which runtime, at what load, at what
//! cost" at a glance. It is rendered from the results model alone: written with the other
//! files after every cell, and redrawn from `results.json` by `harness report DIR`.
//!
//! # Layout
//! - [`page`]: the report: header facts, per scenario its plots and tables, problems.
//! - [`compare`]: `harness compare --html`: old and new (or baseline and variant) overlaid.
//! - [`plots`]: what each plot shows, from a scenario's cells.
//! - [`figure`]: a plot with its caption and legend, as a `<figure data-plot="…">`.
//! - [`chart`]: drawing lines, bands and bars to SVG with plotters.
//! - [`axis`]: axes with the ticks we choose (percentiles as nines, 1-2-5 log steps, levels).
//! - [`spectrum`]: a stored histogram's latency percentile spectrum.
//! - [`tables`]: the Markdown report's tables as HTML.
//! - [`palette`]: a variant's colour, the same in every plot.
//! - [`document`]: the page skeleton, its stylesheet, escaping.

pub mod axis;
pub mod chart;
pub mod compare;
pub mod document;
pub mod figure;
pub mod page;
pub mod palette;
pub mod plots;
pub mod spectrum;
pub mod tables;

pub use compare::page_of as comparison;
pub use page::report;
