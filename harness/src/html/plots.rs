//! The plots of one scenario, from its cells: requests per second against the level (with
//! the min–max band over repeats), a latency percentile spectrum per level (corrected and
//! uncorrected together for open-loop cells), and the server's CPU per request, memory and
//! (scale cells) memory per connection as bars. With workers as an axis, first the scaling
//! plots — requests per second and server CPU per request against workers, a line per variant,
//! one of each per load level — and a level is (workers, load). Every variant keeps its colour
//! throughout.

use hdrhistogram::Histogram;
use plotters::style::RGBColor;

use super::axis::{compact, duration_us, quantity, Axis};
use super::chart::{self, Bar, Frame, Line};
use super::figure::{drawn, Figure, Key, Swatch};
use super::palette::Palette;
use super::spectrum;
use crate::compare::Metric;
use crate::report::matrices;
use crate::results::{Cell, Interval, Mode, Results};

/// A scenario's cells, arranged for plotting.
#[derive(Debug)]
pub struct Scenario<'a> {
    pub name: &'a str,
    /// The variants with cells here, in the matrix's order.
    pub variants: Vec<&'a str>,
    /// One cell of each level (of each workers and load, with workers as an axis), in order.
    pub levels: Vec<&'a Cell>,
    pub cells: Vec<&'a Cell>,
    /// Levels are offered rates (open loop), not concurrency.
    pub open: bool,
    /// The workers axis, ascending; empty: none.
    pub workers: Vec<usize>,
    /// The workers values at which a server's CPUs included the load generator's (on one
    /// machine): the scaling plots say so, as the efficiency table marks them `§`.
    pub shared_at: Vec<usize>,
    pub palette: &'a Palette,
}

impl<'a> Scenario<'a> {
    /// The cells of scenario `name` in `results`.
    pub fn of(results: &'a Results, name: &'a str, palette: &'a Palette) -> Scenario<'a> {
        let cells: Vec<&Cell> = results.scenario_cells(name).collect();
        Scenario {
            name,
            variants: matrices::variants(results, &cells),
            levels: matrices::levels(&cells),
            open: cells.iter().any(|c| c.mode == Mode::Open),
            workers: crate::report::scaling::workers_axis(results, name),
            shared_at: {
                let mut at: Vec<usize> = cells
                    .iter()
                    .filter(|c| c.workers_axis && crate::report::scaling::shared_cpus(results, c))
                    .map(|c| c.workers)
                    .collect();
                at.sort_unstable();
                at.dedup();
                at
            },
            cells,
            palette,
        }
    }

    /// `variant`'s cell at the level of `level`.
    pub fn cell(&self, variant: &str, level: &Cell) -> Option<&'a Cell> {
        self.cells.iter().copied().find(|c| c.variant == variant && c.same_level(level))
    }

    /// One cell of each load level whatever the workers, in order of load.
    fn loads(&self) -> Vec<&'a Cell> {
        let mut loads: Vec<&Cell> = Vec::new();
        for cell in &self.levels {
            if !loads.iter().any(|l| l.level() == cell.level()) {
                loads.push(cell);
            }
        }
        loads.sort_by(|a, b| a.level().total_cmp(&b.level()));
        loads
    }

    /// What the load axis measures.
    fn load_desc(&self) -> &'static str {
        if self.open {
            "offered rate (requests/s)"
        } else {
            "concurrency (connections)"
        }
    }

    /// What a level is: the load, or with workers as an axis the workers and the load.
    fn level_desc(&self) -> String {
        if self.workers.is_empty() {
            self.load_desc().to_owned()
        } else {
            format!("workers, then {}", self.load_desc())
        }
    }

    /// Solid legend entries for the variants.
    fn keys(&self, swatch: Swatch) -> Vec<Key> {
        self.variants.iter().map(|v| key(self.palette, v, (*v).to_owned(), swatch)).collect()
    }

    fn data(&self) -> Vec<(&'static str, String)> {
        vec![("scenario", self.name.to_owned())]
    }
}

/// A legend entry in `variant`'s colour (its tint for a dashed line, as drawn).
pub fn key(palette: &Palette, variant: &str, label: String, swatch: Swatch) -> Key {
    let colour = palette.colour(variant);
    let colour = if swatch == Swatch::Dashed { super::palette::tint(colour) } else { colour };
    Key { label, colour: super::palette::css(colour), swatch }
}

/// An open-loop cell's latency from when each request was sent (uncorrected), nanoseconds.
fn uncorrected(cell: &Cell) -> Option<&Histogram<u64>> {
    cell.histograms.uncorrected.as_ref().map(|encoded| &encoded.0)
}

/// A scale cell's server memory per idle connection, KiB.
fn rss_per_connection_kib(cell: &Cell) -> Option<f64> {
    cell.server.and_then(|server| server.rss_per_connection_kib)
}

/// Every plot of a scenario, in page order: with workers as an axis the scaling plots first
/// (what the scenario is for), and requests per second against the load at each workers value
/// only where there is more than one load level to draw a line through.
pub fn all(scenario: &Scenario<'_>) -> Vec<Figure> {
    let mut figures = Vec::new();
    if scenario.workers.is_empty() {
        figures.push(throughput(scenario, None));
    } else {
        let loads = scenario.loads();
        for load in &loads {
            figures.push(scaling(scenario, load, Metric::RequestsPerSecond));
            figures.push(scaling(scenario, load, Metric::ServerCpu));
        }
        if loads.len() > 1 {
            figures.extend(scenario.workers.iter().map(|n| throughput(scenario, Some(*n))));
        }
    }
    figures.extend(scenario.levels.iter().map(|level| spectra(scenario, level, &uncorrected)));
    figures.push(cpu(scenario));
    figures.push(rss(scenario));
    figures.extend(rss_per_connection(scenario, &rss_per_connection_kib));
    for level in &scenario.levels {
        figures.extend(over_time(scenario, level));
    }
    figures
}

/// A long run over time at one level (its cells' runs with two intervals or more): p99
/// latency, and the server's resident memory, at each interval's end. None without intervals.
fn over_time(scenario: &Scenario<'_>, level: &Cell) -> Vec<Figure> {
    let cells: Vec<(&str, &Cell)> = scenario
        .variants
        .iter()
        .filter_map(|variant| scenario.cell(variant, level).map(|cell| (*variant, cell)))
        .filter(|(_, cell)| cell.runs.iter().any(|run| run.intervals.len() >= 2))
        .collect();
    if cells.is_empty() {
        return Vec::new();
    }
    let label = level.level_label();
    let every =
        cells.iter().flat_map(|(_, c)| &c.runs).find_map(|r| r.intervals.first()).map_or(0.0, |i| i.seconds);
    let p99 = time_figure(
        scenario,
        &cells,
        "p99-over-time",
        format!("p99 latency over time at {label}"),
        format!(
            "x: seconds into the measured window; y: the p99 latency of the requests that ended in each {every:.0} s \
             interval (log scale), one line per run. A line that climbs is a server getting slower as it runs."
        ),
        &label,
        |interval| Some(interval.latency_us.p99).filter(|p99| *p99 > 0.0),
        true,
    );
    let rss = time_figure(
        scenario,
        &cells,
        "rss-over-time",
        format!("Server resident memory over time at {label}"),
        format!(
            "x: seconds into the measured window; y: the server's resident memory at the end of each {every:.0} s \
             interval (its whole process group), one line per run. Flat is healthy; a steady climb is a leak."
        ),
        &label,
        |interval| interval.server_rss_kib.map(|kib| kib as f64 / 1024.0),
        false,
    );
    vec![p99, rss]
}

/// One figure over time: a line per run of each cell, through `value` at each interval's end.
#[allow(clippy::too_many_arguments)]
fn time_figure(
    scenario: &Scenario<'_>,
    cells: &[(&str, &Cell)],
    kind: &'static str,
    title: String,
    how: String,
    level: &str,
    value: impl Fn(&Interval) -> Option<f64>,
    log: bool,
) -> Figure {
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    let (mut right, mut top) = (0.0f64, 0.0f64);
    for (variant, cell) in cells {
        let colour = scenario.palette.colour(variant);
        let mut drawn_any = false;
        for run in cell.runs.iter().filter(|run| run.intervals.len() >= 2) {
            let points: Vec<(f64, f64)> =
                run.intervals.iter().filter_map(|i| Some((i.end_s, value(i)?))).collect();
            if points.is_empty() {
                continue;
            }
            right = points.iter().map(|p| p.0).fold(right, f64::max);
            top = points.iter().map(|p| p.1).fold(top, f64::max);
            let markers = points.len() <= 30;
            lines.push(Line { colour, points, dashed: false, markers, band: Vec::new(), hollow: Vec::new() });
            drawn_any = true;
        }
        if drawn_any {
            legend.push(key(scenario.palette, variant, (*variant).to_owned(), Swatch::Solid));
        }
    }
    let svg = if lines.is_empty() {
        Err("Not recorded for any run at this level.".to_owned())
    } else {
        let frame = Frame {
            x: Axis::linear(0.0, right.max(1.0) * 1.02, 6, quantity),
            y: if log { latency_axis(&lines) } else { zero_to(top) },
            x_desc: "time into the run (s)".into(),
            y_desc: if log { "p99 latency (log scale)".into() } else { "server RSS (MiB)".into() },
        };
        drawn(chart::lines(frame, &lines))
    };
    let mut data = scenario.data();
    data.push(("level", level.to_owned()));
    Figure { kind, title, how, data, legend, svg }
}

/// An axis with a tick at each level: log when the levels span more than a factor of 16
/// (1, 10, 100, 1000 connections), linear otherwise.
pub fn level_axis(levels: &[f64]) -> Axis {
    let lo = levels.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let labels = levels.iter().map(|l| compact(*l)).collect();
    if lo > 0.0 && hi / lo > 16.0 {
        Axis::at(lo / 1.3, hi * 1.3, true, levels, labels)
    } else {
        let pad = if hi > lo { (hi - lo) * 0.06 } else { hi.abs().max(1.0) * 0.5 };
        Axis::at(lo - pad, hi + pad, false, levels, labels)
    }
}

/// A y axis from zero to a little above `top`.
pub fn zero_to(top: f64) -> Axis {
    let top = if top.is_finite() && top > 0.0 { top * 1.08 } else { 1.0 };
    Axis::linear(0.0, top, 5, quantity)
}

/// A log latency axis over every point of `lines`.
pub fn latency_axis(lines: &[Line]) -> Axis {
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|y| *y > 0.0);
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo.is_finite() { (lo / 1.25, hi * 1.25) } else { (1.0, 1000.0) };
    Axis::log(lo, hi, duration_us)
}

/// A percentile axis out to the furthest point of `lines` (at least 99%).
pub fn percentile_axis(lines: &[Line]) -> Axis {
    let furthest = lines.iter().flat_map(|l| l.points.last()).map(|p| p.0).fold(2.0, f64::max);
    Axis::percentiles(furthest.ceil().min(spectrum::MAX_X))
}

/// Latency-by-percentile lines on a log latency axis, or `empty` when there are none.
pub fn spectrum_plot(lines: &[Line], empty: &str) -> Result<String, String> {
    if lines.is_empty() {
        return Err(empty.to_owned());
    }
    let frame = Frame {
        x: percentile_axis(lines),
        y: latency_axis(lines),
        x_desc: "percentile".into(),
        y_desc: "latency (log scale)".into(),
    };
    drawn(chart::lines(frame, lines))
}

/// The spectrum of `histogram` as a line, if anything was recorded.
pub fn spectrum_line(histogram: &Histogram<u64>, colour: RGBColor, dashed: bool) -> Option<Line> {
    let points = spectrum::points(histogram)?;
    Some(Line { colour, points, dashed, markers: false, band: Vec::new(), hollow: Vec::new() })
}

/// Requests per second against the load level, a line per variant through each cell's median
/// run, with the band between its slowest and fastest run; with workers as an axis, the cells
/// at `workers`.
fn throughput(scenario: &Scenario<'_>, workers: Option<usize>) -> Figure {
    let levels: Vec<&Cell> =
        scenario.levels.iter().copied().filter(|l| l.workers_on_axis() == workers).collect();
    let mut lines = Vec::new();
    let mut top = 0.0f64;
    for variant in &scenario.variants {
        let mut line = Line::measured(scenario.palette.colour(variant), false);
        for level in &levels {
            let Some(cell) = scenario.cell(variant, level) else { continue };
            let Some(median) = Metric::RequestsPerSecond.figure(cell) else { continue };
            line.points.push((cell.level(), median));
            if cell.client_bound() {
                line.hollow.push((cell.level(), median));
            }
            top = top.max(median);
            if let Some(spread) = cell.requests_per_second_spread {
                line.band.push((cell.level(), spread.min, spread.max));
                top = top.max(spread.max);
            }
        }
        lines.push(line);
    }
    let loads: Vec<f64> = levels.iter().map(|l| l.level()).collect();
    let frame = Frame {
        x: level_axis(&loads),
        y: zero_to(top),
        x_desc: scenario.load_desc().into(),
        y_desc: "requests per second".into(),
    };
    let against = if scenario.open { "offered rate" } else { "concurrency" };
    let at = workers.map_or_else(String::new, |n| format!(", workers = {n}"));
    let mut data = scenario.data();
    data.extend(workers.map(|n| ("workers", n.to_string())));
    let repeats = scenario.cells.iter().map(|c| c.runs.len()).max().unwrap_or(0);
    let mut how = format!(
        "Line and dots: each cell's median run; shaded band and whiskers: its slowest and fastest of {repeats} runs."
    );
    if scenario.cells.iter().any(|c| c.client_bound()) {
        how.push_str(
            " A hollow ring: a client-bound cell (‡, the load generator's CPU ≥ 90%): its rate measures the \
             generator, not the server.",
        );
    }
    Figure {
        kind: "throughput",
        title: format!("Requests per second against {against}{at}"),
        how,
        data,
        legend: scenario.keys(Swatch::Solid),
        svg: drawn(chart::lines(frame, &lines)),
    }
}

/// `metric` (requests per second, or server CPU per request) against workers at the load of
/// `load`: a line per variant through each cell's figure, a band over its runs. How a variant
/// scales with cores, side by side with the others.
fn scaling(scenario: &Scenario<'_>, load: &Cell, metric: Metric) -> Figure {
    let mut lines = Vec::new();
    let mut top = 0.0f64;
    let mut client_bound = false;
    for variant in &scenario.variants {
        let mut line = Line::measured(scenario.palette.colour(variant), false);
        for cell in scenario
            .cells
            .iter()
            .filter(|c| c.variant == *variant && c.workers_axis && c.level() == load.level())
        {
            let Some(figure) = metric.figure(cell) else { continue };
            let x = cell.workers as f64;
            line.points.push((x, figure));
            top = top.max(figure);
            if metric == Metric::RequestsPerSecond && cell.client_bound() {
                line.hollow.push((x, figure));
                client_bound = true;
            }
            let runs = metric.runs(cell);
            if runs.len() > 1 {
                let low = runs.iter().copied().fold(f64::INFINITY, f64::min);
                let high = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                line.band.push((x, low, high));
                top = top.max(high);
            }
        }
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        line.band.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.push(line);
    }
    let workers: Vec<f64> = scenario.workers.iter().map(|n| *n as f64).collect();
    let (kind, what, y_desc) = match metric {
        Metric::RequestsPerSecond => ("scaling", "Requests per second", "requests per second"),
        _ => ("scaling-cpu", "Server CPU per request", "server CPU per request (µs)"),
    };
    let frame = Frame {
        x: level_axis(&workers),
        y: zero_to(top),
        x_desc: "workers (--workers N on the first N server CPUs)".into(),
        y_desc: y_desc.into(),
    };
    let label = load.load_label();
    let mut how = match metric {
        Metric::RequestsPerSecond => format!(
            "At {label}: a line per variant through each cell's median run, the band from its slowest to its \
             fastest run. Linear scaling doubles the rate with the workers; a line that flattens has stopped \
             gaining from cores (the scaling efficiency table gives the ratio)."
        ),
        _ => format!(
            "At {label}: the server's CPU per complete request, the median of the runs, the band from the lowest \
             to the highest. A flat line: each request costs the same on more cores; a rising one: the cores \
             cost each other (stealing, locks, wake-ups)."
        ),
    };
    if client_bound {
        how.push_str(
            " A hollow ring: a client-bound cell (the load generator's CPU ≥ 90%): its rate measures the \
             generator, not the server.",
        );
    }
    if !scenario.shared_at.is_empty() {
        let at = scenario.shared_at.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        how.push_str(&format!(
            " At workers = {at} the server's CPUs included the load generator's: those points are the pair's, \
             not the server's alone (see each cell's notes)."
        ));
    }
    let mut data = scenario.data();
    data.push(("level", label.clone()));
    data.push(("axis", "workers".into()));
    Figure {
        kind,
        title: format!("{what} against workers at {label}"),
        how,
        data,
        legend: scenario.keys(Swatch::Solid),
        svg: drawn(chart::lines(frame, &lines)),
    }
}

/// The latency percentile spectrum at one level, a line per variant; open-loop cells add
/// their `uncorrected` latency, dashed.
fn spectra(
    scenario: &Scenario<'_>,
    level: &Cell,
    uncorrected: &dyn Fn(&Cell) -> Option<&Histogram<u64>>,
) -> Figure {
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    let mut samples = 0;
    let mut any_uncorrected = false;
    for variant in &scenario.variants {
        let Some(cell) = scenario.cell(variant, level) else { continue };
        let colour = scenario.palette.colour(variant);
        let histogram = &cell.histograms.latency.0;
        samples = samples.max(histogram.len());
        if let Some(line) = spectrum_line(histogram, colour, false) {
            lines.push(line);
            legend.push(key(scenario.palette, variant, (*variant).to_owned(), Swatch::Solid));
        }
        if let Some(line) = uncorrected(cell).and_then(|h| spectrum_line(h, colour, true)) {
            lines.push(line);
            legend.push(key(scenario.palette, variant, format!("{variant} uncorrected"), Swatch::Dashed));
            any_uncorrected = true;
        }
    }
    let label = level.level_label();
    let mut how = format!(
        "x: percentile on HdrHistogram's scale (each step right is one more nine); y: latency, log scale. From \
         the merged histograms of all runs (up to {samples} requests a variant); the line ends at the slowest request."
    );
    if any_uncorrected {
        how.push_str(
            " Solid: latency from when each request was due (corrected for coordinated omission); dashed: from \
             when it was sent (uncorrected).",
        );
    }
    let mut data = scenario.data();
    data.push(("level", label.clone()));
    data.extend(level.workers_on_axis().map(|n| ("workers", n.to_string())));
    if level.mode == Mode::Open {
        data.push(("mode", "open".into()));
    }
    let svg = spectrum_plot(&lines, "No latency was recorded at this level.");
    Figure {
        kind: "spectrum",
        title: format!("Latency percentile spectrum at {label}"),
        how,
        data,
        legend,
        svg,
    }
}

/// Bars grouped by level, one per variant, from `value` (with `whisker`); `None` when no
/// cell has a value.
fn bar_plot(
    scenario: &Scenario<'_>,
    y_desc: &str,
    value: impl Fn(&Cell) -> Option<f64>,
    whisker: impl Fn(&Cell) -> Option<(f64, f64)>,
) -> Result<String, String> {
    let slot = 0.8 / scenario.variants.len().max(1) as f64;
    let mut bars = Vec::new();
    let mut top = 0.0f64;
    for (i, level) in scenario.levels.iter().enumerate() {
        for (j, variant) in scenario.variants.iter().enumerate() {
            let Some(cell) = scenario.cell(variant, level) else { continue };
            let Some(y) = value(cell) else { continue };
            let x0 = i as f64 + 0.1 + j as f64 * slot;
            let whisker = whisker(cell);
            top = top.max(y).max(whisker.map_or(0.0, |w| w.1));
            bars.push(Bar { colour: scenario.palette.colour(variant), x: (x0, x0 + slot * 0.9), y, whisker });
        }
    }
    if bars.is_empty() {
        return Err("Not recorded for any cell of this scenario.".to_owned());
    }
    let centres: Vec<f64> = (0..scenario.levels.len()).map(|i| i as f64 + 0.5).collect();
    let labels = scenario.levels.iter().map(|l| l.level_label()).collect();
    let frame = Frame {
        x: Axis::at(0.0, scenario.levels.len() as f64, false, &centres, labels),
        y: zero_to(top),
        x_desc: scenario.level_desc(),
        y_desc: y_desc.into(),
    };
    drawn(chart::bars(frame, &bars))
}

/// A bar figure of `kind`.
fn bar_figure(
    scenario: &Scenario<'_>,
    kind: &'static str,
    title: &str,
    how: &str,
    svg: Result<String, String>,
) -> Figure {
    Figure {
        kind,
        title: title.into(),
        how: how.into(),
        data: scenario.data(),
        legend: scenario.keys(Swatch::Box),
        svg,
    }
}

/// Server CPU time per request: the median of the runs, with whiskers over them.
fn cpu(scenario: &Scenario<'_>) -> Figure {
    let svg = bar_plot(
        scenario,
        "server CPU per request (µs)",
        |cell| Metric::ServerCpu.figure(cell),
        |cell| {
            let runs = Metric::ServerCpu.runs(cell);
            let low = runs.iter().copied().fold(f64::INFINITY, f64::min);
            let high = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (runs.len() > 1).then_some((low, high))
        },
    );
    bar_figure(
        scenario,
        "cpu",
        "Server CPU per request",
        "User + system CPU of the server's whole process group over the measured window, per complete request: \
         the median of the runs; whiskers: lowest and highest run.",
        svg,
    )
}

/// Server resident memory: the most of any run.
fn rss(scenario: &Scenario<'_>) -> Figure {
    let svg = bar_plot(
        scenario,
        "server RSS (MiB)",
        |cell| cell.server.map(|s| s.rss_kib as f64 / 1024.0),
        |_| None,
    );
    bar_figure(
        scenario,
        "rss",
        "Server resident memory",
        "Resident memory of the server's processes at the end of the window: the most of any run.",
        svg,
    )
}

/// Server memory per connection (`per_connection`), for scale cells only.
fn rss_per_connection(
    scenario: &Scenario<'_>,
    per_connection: &dyn Fn(&Cell) -> Option<f64>,
) -> Option<Figure> {
    scenario.cells.iter().any(|c| per_connection(c).is_some()).then(|| {
        let svg = bar_plot(scenario, "server RSS per connection (KiB)", per_connection, |_| None);
        bar_figure(
            scenario,
            "rss-per-connection",
            "Server memory per connection",
            "What each open connection added to the server's resident memory.",
            svg,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    fn scenario<'a>(results: &'a Results, palette: &'a Palette) -> Scenario<'a> {
        Scenario::of(results, crate::plan::CLASSIC, palette)
    }

    #[test]
    fn one_plot_per_kind_and_level() {
        let results = sample::results(&["tokio", "smol"], &[1, 5, 50], 5, 2000);
        let palette = Palette::of(&results);
        let kinds: Vec<&str> = all(&scenario(&results, &palette)).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["throughput", "spectrum", "spectrum", "spectrum", "cpu", "rss"]);
        // 1 to 50 connections: a log level axis, a tick at each level.
        let axis = level_axis(&[1.0, 5.0, 50.0]);
        let ticks: Vec<&str> = axis.ticks().iter().map(|t| t.1.as_str()).collect();
        assert_eq!(ticks, ["1", "5", "50"]);
    }

    /// Open-loop cells draw the uncorrected spectrum beside the corrected one, dashed, in the
    /// same colour.
    #[test]
    fn open_loop_cells_show_both_spectra() {
        let mut results = sample::results(&["tokio", "smol"], &[1000], 5, 2000);
        for cell in &mut results.cells {
            cell.mode = Mode::Open;
            cell.rate = Some(1000.0);
        }
        let palette = Palette::of(&results);
        let scenario = scenario(&results, &palette);
        assert!(scenario.open);
        let level = scenario.levels[0];
        let plain = spectra(&scenario, level, &|_| None);
        let both = spectra(&scenario, level, &|cell| Some(&cell.histograms.latency.0));
        let svg = |figure: &Figure| figure.svg.clone().expect("drawn");
        assert!(svg(&both).matches("<polyline").count() > svg(&plain).matches("<polyline").count() + 10);
        let labels: Vec<&str> = both.legend.iter().map(|k| k.label.as_str()).collect();
        assert_eq!(labels, ["tokio", "tokio uncorrected", "smol", "smol uncorrected"]);
        assert_eq!(
            both.legend[1].colour,
            crate::html::palette::css(crate::html::palette::tint(palette.colour("tokio")))
        );
        assert_eq!(both.legend[1].swatch, Swatch::Dashed);
        assert!(both.how.contains("coordinated omission"), "{}", both.how);
        assert!(both.data.contains(&("mode", "open".to_owned())));
        assert!(both.data.contains(&("level", "1000/s".to_owned())));
        assert_eq!(throughput(&scenario, None).title, "Requests per second against offered rate");
    }

    /// With workers as an axis: the scaling plots first, one of each per load, a line per
    /// variant with a point per workers value; rate against concurrency per workers value only
    /// with more than one load; a spectrum and bars per (workers, load).
    #[test]
    fn a_workers_axis_draws_scaling_plots() {
        let results = sample::scaling(&["tokio", "monoio"], &[1, 2, 4], &[16], 4);
        let palette = Palette::of(&results);
        let scenario = scenario(&results, &palette);
        assert_eq!(scenario.workers, [1, 2, 4]);
        let figures = all(&scenario);
        let kinds: Vec<&str> = figures.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["scaling", "scaling-cpu", "spectrum", "spectrum", "spectrum", "cpu", "rss"]);
        let rate = &figures[0];
        assert_eq!(rate.title, "Requests per second against workers at c=16");
        assert!(rate.data.contains(&("axis", "workers".to_owned())));
        let svg = rate.svg.clone().expect("drawn");
        assert!(svg.contains("workers (--workers N on the first N server CPUs)"), "the x axis");
        // Every text of the SVG, trimmed: a tick label at each workers value.
        let texts: Vec<&str> =
            svg.split('<').filter_map(|part| part.split_once('>')).map(|(_, text)| text.trim()).collect();
        for tick in ["1", "2", "4"] {
            assert!(texts.contains(&tick), "a tick at each workers value: {tick} in {texts:?}");
        }
        // Three points a line, a dot each: two variants.
        assert_eq!(svg.matches("<circle").count(), 6, "{svg}");
        assert_eq!(figures[1].title, "Server CPU per request against workers at c=16");
        let spectrum_levels: Vec<String> = figures[2..5]
            .iter()
            .filter_map(|f| f.data.iter().find(|d| d.0 == "level").map(|d| d.1.clone()))
            .collect();
        assert_eq!(spectrum_levels, ["w=1 c=16", "w=2 c=16", "w=4 c=16"]);
        let two_loads = sample::scaling(&["tokio"], &[1, 2], &[4, 16], 1);
        let kinds: Vec<&str> = all(&scenario_of(&two_loads, &palette)).iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                "scaling",
                "scaling-cpu",
                "scaling",
                "scaling-cpu",
                "throughput",
                "throughput",
                "spectrum",
                "spectrum",
                "spectrum",
                "spectrum",
                "cpu",
                "rss"
            ]
        );
    }

    fn scenario_of<'a>(results: &'a Results, palette: &'a Palette) -> Scenario<'a> {
        scenario(results, palette)
    }

    #[test]
    fn scale_cells_add_memory_per_connection() {
        let results = sample::results(&["tokio"], &[100, 1000], 1, 100);
        let palette = Palette::of(&results);
        let scenario = scenario(&results, &palette);
        assert!(rss_per_connection(&scenario, &|_| None).is_none());
        let figure =
            rss_per_connection(&scenario, &|cell| Some(cell.concurrency as f64 / 10.0)).expect("a plot");
        assert_eq!(figure.kind, "rss-per-connection");
        assert!(figure.svg.expect("drawn").contains("RSS per connection (KiB)"));
    }
}
