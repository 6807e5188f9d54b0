//! The progress bar: one factory, hidden when stdout is not a terminal or `NO_COLOR` is set.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `runs` measured runs.
pub fn bar(runs: u64) -> ProgressBar {
    let visible = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let bar = ProgressBar::with_draw_target(
        Some(runs),
        if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
