//! Drawing one plot to an SVG string with plotters' SVG backend: lines (solid or dashed,
//! with markers, a min–max band and whiskers) or bars (with whiskers), on two [`Axis`]es
//! with their descriptions. What to draw is decided elsewhere ([`super::plots`]); this module
//! only knows shapes and colours.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Axis;
use super::palette::tint;

/// Every plot's size in SVG units; the page scales it to its column.
pub const SIZE: (u32, u32) = (640, 400);

/// A plot's axes and what they measure (with units).
#[derive(Debug, Clone)]
pub struct Frame {
    pub x: Axis,
    pub y: Axis,
    pub x_desc: String,
    pub y_desc: String,
}

/// One series of a line plot.
#[derive(Debug, Clone)]
pub struct Line {
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Dashed: the other side of a pair (old, baseline, uncorrected).
    pub dashed: bool,
    /// A dot at each point: for a few measured points, not for dense curves.
    pub markers: bool,
    /// Points whose dot is hollow (flagged: a client-bound cell), of `points`.
    pub hollow: Vec<(f64, f64)>,
    /// A range around the line: (x, low, high) at some points; a shaded band between
    /// them, and a whisker at each.
    pub band: Vec<(f64, f64, f64)>,
}

impl Line {
    /// A line of measured points in `colour`, with a dot at each, to be filled in: solid, or
    /// `dashed` for the other side of a pair.
    pub fn measured(colour: RGBColor, dashed: bool) -> Line {
        Line { colour, points: Vec::new(), dashed, markers: true, band: Vec::new(), hollow: Vec::new() }
    }
}

/// One bar from zero to `y`, between `x.0` and `x.1`, with an optional whisker (low, high).
#[derive(Debug, Clone)]
pub struct Bar {
    pub colour: RGBColor,
    pub x: (f64, f64),
    pub y: f64,
    pub whisker: Option<(f64, f64)>,
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// A line plot. Dashed lines are drawn last, in a lighter shade of their colour, so that
/// where old and new (or corrected and uncorrected) coincide both still show.
pub fn lines(frame: Frame, lines: &[Line]) -> anyhow::Result<String> {
    draw(frame, |chart| {
        let (dashed, solid): (Vec<&Line>, Vec<&Line>) = lines.iter().partition(|l| l.dashed);
        for line in solid.into_iter().chain(dashed) {
            let colour = if line.dashed { tint(line.colour) } else { line.colour };
            let points = finite(&line.points);
            if line.band.len() > 1 {
                let mut outline: Vec<(f64, f64)> = line.band.iter().map(|b| (b.0, b.2)).collect();
                outline.extend(line.band.iter().rev().map(|b| (b.0, b.1)));
                chart.draw_series(std::iter::once(Polygon::new(finite(&outline), colour.mix(0.15))))?;
            }
            let whisker = colour.stroke_width(1);
            chart.draw_series(
                line.band.iter().map(|b| PathElement::new(finite(&[(b.0, b.1), (b.0, b.2)]), whisker)),
            )?;
            let style = colour.stroke_width(2);
            if line.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 7, 5, style))?;
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))?;
            }
            if line.markers {
                let filled = points.iter().filter(|p| !line.hollow.contains(p));
                chart.draw_series(filled.map(|p| Circle::new(*p, 3, colour.filled())))?;
                let hollow = finite(&line.hollow);
                chart.draw_series(hollow.iter().map(|p| Circle::new(*p, 5, WHITE.filled())))?;
                chart.draw_series(hollow.iter().map(|p| Circle::new(*p, 5, colour.stroke_width(2))))?;
            }
        }
        Ok(())
    })
}

/// A bar plot.
pub fn bars(frame: Frame, bars: &[Bar]) -> anyhow::Result<String> {
    draw(frame, |chart| {
        chart.draw_series(
            bars.iter()
                .filter(|b| b.y.is_finite())
                .map(|bar| Rectangle::new([(bar.x.0, 0.0), (bar.x.1, bar.y)], bar.colour.mix(0.85).filled())),
        )?;
        let whiskers = bars.iter().filter_map(|bar| {
            let (low, high) = bar.whisker?;
            let middle = (bar.x.0 + bar.x.1) / 2.0;
            Some(PathElement::new(finite(&[(middle, low), (middle, high)]), BLACK.stroke_width(1)))
        });
        chart.draw_series(whiskers)?;
        Ok(())
    })
}

/// The frame (background, grid, ticks, axis descriptions), then `plot`, as an SVG element
/// for inline use in HTML.
fn draw(frame: Frame, plot: impl FnOnce(&mut Chart<'_, '_>) -> anyhow::Result<()>) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root: DrawingArea<SVGBackend<'_>, Shift> =
            SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            // Room for the last x label ("99.99%"), centred on the right edge.
            .margin_right(34)
            .x_label_area_size(46)
            .y_label_area_size(74)
            .build_cartesian_2d(frame.x, frame.y)?;
        chart
            .configure_mesh()
            .x_desc(frame.x_desc)
            .y_desc(frame.y_desc)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .bold_line_style(BLACK.mix(0.14))
            .light_line_style(BLACK.mix(0.05))
            .draw()?;
        plot(&mut chart)?;
        root.present()?;
    }
    // Inline SVG in HTML is in the SVG namespace without saying so; dropping the namespace
    // URL leaves the page without a single `http://`, which is easy to check.
    Ok(svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", " role=\"img\"", 1))
}

/// Only points plotters can place (a NaN or infinity would land anywhere).
fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::axis::quantity;

    fn frame() -> Frame {
        Frame {
            x: Axis::linear(0.0, 10.0, 5, quantity),
            y: Axis::linear(0.0, 100.0, 5, quantity),
            x_desc: "x (units)".into(),
            y_desc: "y (units)".into(),
        }
    }

    #[test]
    fn draws_lines_bands_and_dashes() {
        let line = Line {
            colour: RGBColor(0x1f, 0x77, 0xb4),
            points: vec![(1.0, 10.0), (5.0, 50.0), (9.0, f64::NAN)],
            dashed: false,
            markers: true,
            band: vec![(1.0, 5.0, 15.0), (5.0, 40.0, 60.0)],
            hollow: vec![(5.0, 50.0)],
        };
        let dashed =
            Line { dashed: true, markers: false, band: Vec::new(), hollow: Vec::new(), ..line.clone() };
        let svg = lines(frame(), &[line, dashed]).expect("drawn");
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("http"), "{svg}");
        assert!(svg.contains("<polygon"), "the band");
        assert!(svg.contains("#1F77B4") || svg.contains("#1f77b4"), "the colour: {svg}");
        assert!(svg.contains("x (units)") && svg.contains("y (units)"));
        // Markers at the finite points: a dot, and for the hollow one a white disc and a ring.
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
    }

    #[test]
    fn draws_bars_with_whiskers() {
        let bar = Bar { colour: RGBColor(1, 2, 3), x: (1.0, 2.0), y: 50.0, whisker: Some((40.0, 60.0)) };
        let svg = bars(frame(), &[bar]).expect("drawn");
        assert!(svg.contains("<rect"), "{svg}");
    }
}
