//! How far the sweep is and how long it will take: a progress bar with the time left on a
//! terminal, and plain lines on standard error at least every [`PLAIN_EVERY`] when the output
//! is not one (a CI log, a pipe), so a long interleaved sweep is never silent. The bar is one
//! factory, hidden when stdout is not a terminal or `NO_COLOR` is set.
//!
//! The time left is estimated from the plan: an open-loop run takes its warm-up and duration,
//! known in advance; a closed-loop (or scale) run takes however long its requests take, learned
//! from the runs of the same scenario already made — so after the first round the estimate
//! covers the whole sweep.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Longest the sweep stays silent on a non-terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// What one planned run is expected to take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cost {
    /// Known from the plan (an open loop's warm-up plus its duration).
    Known(Duration),
    /// Learned from the runs of this scenario already made (closed loops, scale runs).
    Learned { scenario: usize },
}

/// What the estimate and the plain lines read, shared with the ticker thread.
#[derive(Debug)]
struct State {
    costs: Vec<Cost>,
    /// Runs done so far.
    done: usize,
    /// Wall time of the learned runs made, per scenario: (runs, total).
    learned: Vec<(usize, Duration)>,
    /// The run under way and when it started.
    current: Option<(usize, Instant)>,
    message: String,
    started: Instant,
    finished: bool,
}

impl State {
    /// Time left for the runs not yet done, or `None` while some have nothing to go by.
    fn left(&self) -> Option<Duration> {
        let mean_of = |scenario: usize| {
            let (runs, total) = self.learned.get(scenario).copied().unwrap_or_default();
            if runs > 0 {
                return Some(total / runs as u32);
            }
            // A scenario not started yet: the mean of any learned run is the best guess.
            let (runs, total) =
                self.learned.iter().fold((0, Duration::ZERO), |(n, t), (m, u)| (n + m, t + *u));
            (runs > 0).then(|| total / runs as u32)
        };
        let mut left = Duration::ZERO;
        for (index, cost) in self.costs.iter().enumerate().skip(self.done) {
            let whole = match cost {
                Cost::Known(d) => *d,
                Cost::Learned { scenario } => mean_of(*scenario)?,
            };
            // The run under way has spent part of its time already.
            let spent = match self.current {
                Some((current, since)) if current == index => since.elapsed(),
                _ => Duration::ZERO,
            };
            left += whole.saturating_sub(spent);
        }
        Some(left)
    }

    fn line(&self) -> String {
        let total = self.costs.len();
        let left = self.left().map_or_else(
            || "time left known after the first round".to_owned(),
            |left| format!("about {} left", short(left)),
        );
        format!(
            "progress: {}/{total} runs ({:.0}%), {} elapsed, {left}{}",
            self.done,
            self.done as f64 * 100.0 / total.max(1) as f64,
            short(self.started.elapsed()),
            if self.message.is_empty() { String::new() } else { format!("; now {}", self.message) }
        )
    }
}

/// A duration as the progress lines write it: `14m 3s`, `52s`.
pub fn short(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// The sweep's progress: a bar on a terminal, plain lines elsewhere.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    state: Arc<Mutex<State>>,
}

impl Progress {
    /// Progress over runs that cost `costs`, in the order they will run.
    pub fn new(costs: Vec<Cost>) -> Progress {
        let scenarios = costs
            .iter()
            .map(|c| match c {
                Cost::Learned { scenario } => scenario + 1,
                Cost::Known(_) => 0,
            })
            .max()
            .unwrap_or(0);
        let visible = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let bar = ProgressBar::with_draw_target(
            Some(costs.len() as u64),
            if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
        );
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs, {prefix}  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        let state = Arc::new(Mutex::new(State {
            costs,
            done: 0,
            learned: vec![(0, Duration::ZERO); scenarios],
            current: None,
            message: String::new(),
            started: Instant::now(),
            finished: false,
        }));
        if !visible {
            let state = state.clone();
            let _ = std::thread::Builder::new().name("progress".into()).spawn(move || plain(&state));
        }
        let progress = Progress { bar, state };
        progress.refresh();
        progress
    }

    /// What the plan says before anything runs, in one line.
    pub fn plan_line(&self) -> String {
        let Ok(state) = self.state.lock() else { return String::new() };
        let known: Duration =
            state.costs.iter().filter_map(|c| if let Cost::Known(d) = c { Some(*d) } else { None }).sum();
        let learned = state.costs.iter().filter(|c| matches!(c, Cost::Learned { .. })).count();
        let open = state.costs.len() - learned;
        let mut line = format!("plan: {} measured runs", state.costs.len());
        if open > 0 {
            line.push_str(&format!("; {open} open-loop runs take {} (warm-ups and durations)", short(known)));
        }
        if learned > 0 {
            line.push_str(&format!(
                "; {learned} closed-loop runs take as long as their requests do: the whole estimate follows the first round"
            ));
        }
        line
    }

    /// The estimate of the whole sweep, once it can be made: elapsed plus left.
    pub fn estimate_line(&self) -> Option<String> {
        let state = self.state.lock().ok()?;
        let left = state.left()?;
        let elapsed = state.started.elapsed();
        Some(format!(
            "estimate: about {} in all, {} left ({} of {} runs done in {})",
            short(elapsed + left),
            short(left),
            state.done,
            state.costs.len(),
            short(elapsed)
        ))
    }

    /// Run `index` starts; `message` says what it measures.
    pub fn start_run(&self, index: usize, message: String) {
        if let Ok(mut state) = self.state.lock() {
            state.current = Some((index, Instant::now()));
            state.message.clone_from(&message);
        }
        self.bar.set_position(index as u64);
        self.bar.set_message(message);
    }

    /// Something other than a run is under way (starting a server).
    pub fn set_message(&self, message: String) {
        if let Ok(mut state) = self.state.lock() {
            state.message.clone_from(&message);
        }
        self.bar.set_message(message);
    }

    /// The run under way is over (made or skipped); a made run teaches the estimate its time.
    pub fn end_run(&self, made: bool) {
        if let Ok(mut state) = self.state.lock() {
            if let Some((index, since)) = state.current.take() {
                if let (true, Some(Cost::Learned { scenario })) = (made, state.costs.get(index).copied()) {
                    if let Some(learned) = state.learned.get_mut(scenario) {
                        learned.0 += 1;
                        learned.1 += since.elapsed();
                    }
                }
                state.done = index + 1;
            }
        }
        self.bar.set_position(self.state.lock().map_or(0, |s| s.done as u64));
        self.refresh();
    }

    /// Prints `line` to stdout without tearing the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    /// Prints `line` to stderr without tearing the bar.
    pub fn eprintln(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar and stops the plain lines.
    pub fn finish(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.finished = true;
        }
        self.bar.finish_and_clear();
    }

    fn refresh(&self) {
        let left = self.state.lock().ok().and_then(|s| s.left());
        self.bar.set_prefix(left.map_or_else(
            || "time left: after the first round".to_owned(),
            |l| format!("~{} left", short(l)),
        ));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.lock() {
            state.finished = true;
        }
    }
}

/// The plain lines: one every [`PLAIN_EVERY`] until the sweep finishes.
fn plain(state: &Mutex<State>) {
    let mut last = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(state) = state.lock() else { return };
        if state.finished {
            return;
        }
        if last.elapsed() >= PLAIN_EVERY {
            last = Instant::now();
            eprintln!("{}", state.line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_from_the_plan_and_the_runs_made() {
        let costs = vec![
            Cost::Learned { scenario: 0 },
            Cost::Learned { scenario: 0 },
            Cost::Known(Duration::from_secs(6)),
            Cost::Learned { scenario: 1 },
        ];
        let mut state = State {
            costs,
            done: 0,
            learned: vec![(0, Duration::ZERO); 2],
            current: None,
            message: String::new(),
            started: Instant::now(),
            finished: false,
        };
        assert_eq!(state.left(), None, "nothing to go by for the closed loops yet");
        state.learned[0] = (1, Duration::from_secs(2));
        state.done = 1;
        // One more closed run of scenario 0 (2 s), the open one (6 s), one of scenario 1
        // (guessed from scenario 0's: 2 s).
        assert_eq!(state.left(), Some(Duration::from_secs(10)));
        assert!(
            state.line().contains("1/4 runs (25%)") && state.line().contains("about 10s left"),
            "{}",
            state.line()
        );
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short(Duration::from_secs(52)), "52s");
        assert_eq!(short(Duration::from_secs(843)), "14m 3s");
        assert_eq!(short(Duration::from_secs(7300)), "2h 1m");
    }
}
