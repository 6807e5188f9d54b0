//! The last lines a child process wrote to stderr, kept for messages about why it failed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many lines are kept; messages show the last few non-blank ones.
const KEPT: usize = 20;
/// How many lines a message shows.
const SHOWN: usize = 3;

/// Follows a child's stderr on a thread of its own (so the child never blocks on a full pipe)
/// and keeps its last lines.
#[derive(Debug, Clone, Default)]
pub struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl StderrTail {
    /// Takes the child's stderr pipe (if it has one) and starts following it.
    pub fn follow(child: &mut Child) -> Self {
        let tail = StderrTail::default();
        if let Some(pipe) = child.stderr.take() {
            let lines = tail.lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = lines.lock() {
                        if lines.len() == KEPT {
                            lines.pop_front();
                        }
                        lines.push_back(line);
                    }
                }
            });
        }
        tail
    }

    /// The last non-blank lines, joined into one line with ` | `.
    pub fn last_words(&self) -> String {
        // Give the reader a moment to catch the last lines of a process that just died.
        std::thread::sleep(Duration::from_millis(20));
        let lines: Vec<String> = self
            .lines
            .lock()
            .map(|lines| lines.iter().filter(|l| !l.trim().is_empty()).cloned().collect())
            .unwrap_or_default();
        lines[lines.len().saturating_sub(SHOWN)..].join(" | ")
    }
}
