//! A figure on the page: one plot's SVG with its title, a sentence on how to read it, and a
//! legend in HTML (so names are real text, escaped, and never cover a line). Each is a
//! `<figure class="plot" data-plot="KIND">` so readers and tests can find every plot of a kind.

use std::fmt::Write;

use super::document::escape;

/// How a legend entry's swatch looks: like the line, or like a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swatch {
    Solid,
    Dashed,
    Box,
}

/// One legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub label: String,
    /// A CSS colour, `#rrggbb`.
    pub colour: String,
    pub swatch: Swatch,
}

/// One plot with its caption.
#[derive(Debug)]
pub struct Figure {
    /// What it plots: `throughput`, `spectrum`, `cpu`, `rss`, `rss-per-connection`,
    /// `compare-throughput`, `compare-spectrum`.
    pub kind: &'static str,
    pub title: String,
    /// How to read it, in a sentence or two.
    pub how: String,
    /// More `data-` attributes: the scenario, the level.
    pub data: Vec<(&'static str, String)>,
    pub legend: Vec<Key>,
    /// The SVG, or why there is none (nothing recorded, or the plot could not be drawn).
    pub svg: Result<String, String>,
}

impl Figure {
    /// The figure as HTML.
    pub fn html(&self) -> String {
        let mut out = format!("<figure class=\"plot\" data-plot=\"{}\"", self.kind);
        for (name, value) in &self.data {
            let _ = write!(out, " data-{name}=\"{}\"", escape(value));
        }
        let _ = write!(
            out,
            ">\n<figcaption><span class=\"title\">{}</span><span class=\"how\">{}</span>",
            escape(&self.title),
            escape(&self.how)
        );
        if !self.legend.is_empty() {
            out.push_str("<span class=\"legend\">");
            for key in &self.legend {
                let class = match key.swatch {
                    Swatch::Solid => "swatch",
                    Swatch::Dashed => "swatch dashed",
                    Swatch::Box => "swatch box",
                };
                let colour = escape(&key.colour);
                let style = match key.swatch {
                    Swatch::Box => format!("background:{colour}"),
                    _ => format!("border-color:{colour}"),
                };
                let _ = write!(
                    out,
                    "<span><span class=\"{class}\" style=\"{style}\"></span>{}</span>",
                    escape(&key.label)
                );
            }
            out.push_str("</span>");
        }
        out.push_str("</figcaption>\n");
        match &self.svg {
            Ok(svg) => out.push_str(svg),
            Err(why) => {
                let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(why));
            }
        }
        out.push_str("</figure>\n");
        out
    }
}

/// A drawing's outcome as a figure's SVG: a failure to draw is said in the page, never
/// allowed to stop the results files from being written.
pub fn drawn(svg: anyhow::Result<String>) -> Result<String, String> {
    svg.map_err(|err| format!("This plot could not be drawn: {err:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caption_legend_and_plot() {
        let figure = Figure {
            kind: "spectrum",
            title: "Latency <at> c=5".into(),
            how: "x: percentile".into(),
            data: vec![("level", "c=5".into())],
            legend: vec![Key { label: "<script>".into(), colour: "#1f77b4".into(), swatch: Swatch::Dashed }],
            svg: Ok("<svg></svg>\n".into()),
        };
        let html = figure.html();
        assert!(
            html.starts_with("<figure class=\"plot\" data-plot=\"spectrum\" data-level=\"c=5\">"),
            "{html}"
        );
        assert!(html.contains("Latency &lt;at&gt; c=5") && html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("swatch dashed") && html.contains("<svg></svg>"), "{html}");
        let empty = Figure { svg: Err("nothing recorded".into()), legend: Vec::new(), ..figure };
        assert!(empty.html().contains("<p class=\"note\">nothing recorded</p>"));
    }
}
