//! A Markdown table whose columns are padded, so it reads well in a terminal too.

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Renders a table with a header row and `rows`.
pub fn render(headers: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|c| c.chars().count())
                .chain([header.chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| match align.get(i) {
                Some(Align::Right) => format!("{cell:>width$}", width = widths[i]),
                _ => format!("{cell:<width$}", width = widths[i]),
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    // Each segment spans the cell and its two padding spaces.
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, width)| match align.get(i) {
            Some(Align::Right) => format!("{}:", "-".repeat(width + 1)),
            _ => "-".repeat(width + 2),
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_aligns() {
        let table = render(&["a", "bb"], &[Align::Left, Align::Right], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(table, "| a   |  bb |\n|-----|----:|\n| xyz |   1 |\n");
        // Every line has the same width.
        assert!(table.lines().all(|line| line.len() == 13), "{table}");
    }
}
