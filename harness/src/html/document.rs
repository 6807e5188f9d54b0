//! The page around the content: doctype, head with an inline stylesheet, body; and escaping
//! for every text taken from results (variant names, commands, notes are user input).
//!
//! The page loads nothing: no scripts, fonts, images or stylesheets from anywhere, and its
//! Content-Security-Policy says so to the browser too, so it renders the same offline and
//! years later.

/// The stylesheet: system fonts only (no font files), plots in a grid that fits a laptop
/// screen two to a row, tables with right-aligned figures.
const STYLE: &str = "\
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  color: #222; background: #fff; line-height: 1.45; margin: 0 auto; max-width: 1400px; padding: 1rem 2rem 3rem; }
h1 { font-size: 1.7rem; margin-bottom: .3rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
h4 { font-size: 1rem; margin: 1rem 0 .3rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .8rem 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1rem; margin: 1rem 0; }
figure.plot { margin: 0; border: 1px solid #e2e2e2; border-radius: 6px; padding: .6rem; background: #fff; }
figure.plot svg { width: 100%; height: auto; display: block; }
figcaption { font-size: .88rem; margin-bottom: .3rem; }
figcaption .title { font-weight: 600; display: block; }
figcaption .how { color: #555; }
.legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; margin: .3rem 0 0; font-size: .88rem; }
.swatch { display: inline-block; width: 1.8em; height: 0; border-top: 3px solid; vertical-align: middle;
  margin-right: .35em; }
.swatch.dashed { border-top-style: dashed; }
.swatch.box { height: .9em; border: none; width: .9em; }
table { border-collapse: collapse; font-size: .84rem; margin: .4rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .18rem .5rem; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
.wide { max-width: 100%; overflow-x: auto; }
td.ns { color: #888; }
.note, .legend-text { color: #555; font-size: .88rem; max-width: 70rem; }
.alert { background: #fff4d6; border-left: 4px solid #e0a800; padding: .4rem .8rem; }
.error { background: #fde8e8; border-left: 4px solid #c62828; padding: .4rem .8rem; }
nav ul { display: flex; flex-wrap: wrap; gap: .2rem 1.2rem; list-style: none; padding: 0; }
footer { margin-top: 3rem; color: #666; font-size: .85rem; }
@media print { .plots { grid-template-columns: 1fr 1fr; } figure.plot { break-inside: avoid; } }
";

/// The whole page: `title` (plain text) and `body` (HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"generator\" content=\"runtime-matrix harness {}\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    )
}

/// `text` made safe as HTML text or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown-ish text from the report (`code` in backticks, **strong** outside them) as HTML,
/// escaped.
pub fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        // Odd parts were between backticks (an unpaired one just stays code to the end).
        if i % 2 == 1 {
            out.push_str(&format!("<code>{}</code>", escape(part)));
        } else {
            for (j, run) in escape(part).split("**").enumerate() {
                if j % 2 == 1 {
                    out.push_str(&format!("<strong>{run}</strong>"));
                } else {
                    out.push_str(run);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x & \"y\"')</script>"),
            "&lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;"
        );
        assert_eq!(inline("path `/<x>` here"), "path <code>/&lt;x&gt;</code> here");
        assert_eq!(inline("**best** `a**b`"), "<strong>best</strong> <code>a**b</code>");
    }

    #[test]
    fn loads_nothing() {
        let html = page("a <b>", "<p>x</p>\n");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>a &lt;b&gt;</title>"));
        assert!(html.contains("default-src 'none'"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("url("));
    }
}
