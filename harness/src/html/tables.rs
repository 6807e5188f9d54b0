//! The Markdown report's tables as HTML tables: the same rows, from the same functions
//! ([`crate::report`]), so the page and `report.md` never disagree on a figure or a mark.

use std::fmt::Write;

use super::document::{escape, inline};
use crate::report::matrices::{self, Matrices};

/// A table: `headers`, then `rows`; the first `text_columns` columns are text, the rest
/// figures (right-aligned). An entry ending in `~` (not significant) is greyed, with a
/// tooltip saying why.
pub fn table(class: &str, headers: &[&str], text_columns: usize, rows: &[Vec<String>]) -> String {
    let align = |i: usize| if i < text_columns { "" } else { " class=\"num\"" };
    // Wide tables scroll inside their box rather than widening the page.
    let mut out = format!("<div class=\"wide\"><table class=\"{}\">\n<thead><tr>", escape(class));
    for (i, header) in headers.iter().enumerate() {
        let _ = write!(out, "<th{}>{}</th>", align(i), escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, entry) in row.iter().enumerate() {
            if i >= text_columns && entry.ends_with('~') {
                let _ = write!(
                    out,
                    "<td class=\"num ns\" title=\"not significant: Mann–Whitney p ≥ 0.05\">{}</td>",
                    escape(entry)
                );
            } else {
                let _ = write!(out, "<td{}>{}</td>", align(i), escape(entry));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// A scenario's comparison matrices, their legend first (how to read them, then them).
pub fn matrices(matrices: &Matrices, baseline: &str) -> String {
    let headers: Vec<&str> = matrices.headers.iter().map(String::as_str).collect();
    let mut out = String::new();
    for line in matrices::legend(baseline, matrices).lines() {
        let _ = writeln!(out, "<p class=\"legend-text\">{}</p>", inline(line));
    }
    for (metric, rows) in &matrices.tables {
        let _ = writeln!(out, "<h4>{}</h4>", escape(metric.title()));
        out.push_str(&table("matrix", &headers, 1, rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::cell_with_runs;
    use crate::results::Cell;

    #[test]
    fn same_rows_as_markdown_and_escaped() {
        let cells = [cell_with_runs("<b>", 1, &[100.0, 110.0])];
        let refs: Vec<&Cell> = cells.iter().collect();
        let classic = crate::report::classic(&refs);
        let html = table(classic.kind, &classic.header_names(), 0, &classic.rows);
        assert_eq!(html.matches("</th>").count(), 9);
        assert!(html.contains("<td class=\"num\">1.000 seconds</td>"), "{html}");
        let rows = vec![vec!["<b>".to_owned(), "1000 ×1.02 ~".to_owned(), "900 ×0.80".to_owned()]];
        let html = table("matrix", &["variant", "c=1", "c=2"], 1, &rows);
        assert!(html.contains("<td>&lt;b&gt;</td>"), "{html}");
        assert!(html.contains("class=\"num ns\""), "{html}");
        assert!(html.contains("<td class=\"num\">900 ×0.80</td>"), "{html}");
    }
}
