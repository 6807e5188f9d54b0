//! Where a server's time goes, on request (`profile = true`, `harness run --profile`): one extra
//! run of a cell with `perf record -g` on every process of the server's group (the `perf`
//! binary, Debian's `linux-perf`), its stacks folded and drawn as a flame graph (the `inferno`
//! crate, as `inferno-flamegraph` draws them), and the symbols the samples ended in, kernel and
//! user, as a short list for the report.

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use inferno::collapse::Collapse;
use serde::{Deserialize, Serialize};

/// How often each CPU is sampled, per second: prime, so it does not beat with periodic work.
const FREQUENCY: &str = "4999";

/// Symbols listed per profile.
pub const TOP: usize = 10;

/// A profiled run's result, as `results.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The flame graph, relative to the results directory (`profiles/…svg`).
    pub flame_graph: String,
    /// CPU time the samples stand for, ms: each `cpu-clock` sample weighs its period.
    pub cpu_ms_sampled: f64,
    /// The symbols the most samples ended in ("self" time), most first.
    pub top: Vec<Symbol>,
}

/// One symbol of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    /// Share of all samples, 0..1.
    pub share: f64,
    /// In the kernel (else in user space).
    pub kernel: bool,
}

impl Profile {
    /// The top symbols in words: `_raw_spin_unlock_irqrestore [k] 9.2%, …`.
    pub fn top_in_words(&self, count: usize) -> String {
        self.top
            .iter()
            .take(count)
            .map(|s| format!("{}{} {:.1}%", s.name, if s.kernel { " [k]" } else { "" }, s.share * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether `perf` can be run here, or why not.
pub fn available() -> Result<(), String> {
    match Command::new("perf").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`perf --version` failed ({status})")),
        Err(err) => Err(format!("perf is not installed ({err}): apt-get install linux-perf")),
    }
}

/// `perf record` of processes, running until [`Recorder::finish`].
#[derive(Debug)]
pub struct Recorder {
    /// `perf record`, until it is stopped.
    child: Option<Child>,
    data: std::path::PathBuf,
}

impl Recorder {
    /// Starts sampling `pids` (and every thread they start) into `data`.
    pub fn start(pids: &[i32], data: &Path) -> Result<Recorder, String> {
        available()?;
        let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
        if pids.is_empty() {
            return Err("no process to profile".into());
        }
        let child = Command::new("perf")
            // cpu-clock: hardware counters are often missing in a VM guest; this always works.
            .args(["record", "-e", "cpu-clock", "-F", FREQUENCY, "-g", "--quiet", "-o"])
            .arg(data)
            .args(["-p", &pids.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start perf record: {err}"))?;
        // Samples before perf has opened its events are simply not taken, and on a busy machine
        // perf can take a second to get there: wait (bounded) until its events are open.
        wait_attached(child.id(), std::time::Duration::from_secs(5));
        Ok(Recorder { child: Some(child), data: data.to_path_buf() })
    }

    /// Stops sampling, folds the stacks, writes the flame graph to `svg` (named `shown` in the
    /// results) and lists the top symbols.
    pub fn finish(mut self, svg: &Path, shown: &str, title: &str) -> Result<Profile, String> {
        let child = self.child.take().ok_or("perf record already stopped")?;
        // SAFETY: kill(2) on perf, our child: SIGINT makes it write its data and exit.
        unsafe {
            libc::kill(i32::try_from(child.id()).unwrap_or(i32::MAX), libc::SIGINT);
        }
        let output = child.wait_with_output().map_err(|err| format!("perf record: {err}"))?;
        if !self.data.exists() {
            return Err(format!(
                "perf record wrote nothing: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let script = Command::new("perf")
            .args(["script", "--no-inline", "-i"])
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
            .map_err(|err| format!("perf script: {err}"))?;
        let _ = std::fs::remove_file(&self.data);
        let folded = fold(&script.stdout)?;
        let profile = summarize(&folded, shown);
        draw(&folded, svg, title)?;
        Ok(profile)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `perf script` output as folded stacks (`frame;frame;… count`), kernel frames marked `_[k]`.
pub fn fold(script: &[u8]) -> Result<Vec<String>, String> {
    let mut options = inferno::collapse::perf::Options::default();
    options.annotate_kernel = true;
    let mut folder = inferno::collapse::perf::Folder::from(options);
    let mut out = Vec::new();
    folder.collapse(BufReader::new(script), &mut out).map_err(|err| format!("folding stacks: {err}"))?;
    Ok(String::from_utf8_lossy(&out).lines().map(str::to_owned).collect())
}

/// The samples and the top symbols (each stack's last frame) of folded stacks.
pub fn summarize(folded: &[String], flame_graph: &str) -> Profile {
    // Each folded count is the samples' weight: their `cpu-clock` period, nanoseconds.
    let mut by_symbol: Vec<(String, u64)> = Vec::new();
    let mut samples = 0u64;
    for line in folded {
        let Some((stack, count)) = line.rsplit_once(' ') else { continue };
        let Ok(count) = count.parse::<u64>() else { continue };
        samples += count;
        let leaf = stack.rsplit(';').next().unwrap_or(stack).to_owned();
        match by_symbol.iter_mut().find(|(name, _)| *name == leaf) {
            Some((_, n)) => *n += count,
            None => by_symbol.push((leaf, count)),
        }
    }
    by_symbol.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = by_symbol
        .into_iter()
        .take(TOP)
        .map(|(name, count)| {
            let kernel = name.ends_with("_[k]");
            Symbol {
                name: name.trim_end_matches("_[k]").to_owned(),
                share: count as f64 / samples.max(1) as f64,
                kernel,
            }
        })
        .collect();
    Profile { flame_graph: flame_graph.to_owned(), cpu_ms_sampled: samples as f64 / 1e6, top }
}

/// Writes the flame graph of `folded` to `svg`.
fn draw(folded: &[String], svg: &Path, title: &str) -> Result<(), String> {
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = "ns of CPU".to_owned();
    let file = std::fs::File::create(svg).map_err(|err| format!("{}: {err}", svg.display()))?;
    inferno::flamegraph::from_lines(
        &mut options,
        folded.iter().map(String::as_str),
        std::io::BufWriter::new(file),
    )
    .map_err(|err| format!("drawing the flame graph: {err}"))
}

/// Waits until process `pid` holds a perf event descriptor, or `limit` passes, or it exits.
fn wait_attached(pid: u32, limit: std::time::Duration) {
    let started = std::time::Instant::now();
    let fds = format!("/proc/{pid}/fd");
    while started.elapsed() < limit {
        let Ok(entries) = std::fs::read_dir(&fds) else { return };
        let attached = entries.flatten().any(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().contains("perf_event"))
        });
        if attached {
            // The first descriptor opens before the last of its siblings; give them a moment.
            std::thread::sleep(std::time::Duration::from_millis(20));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_symbols_are_the_leaves() {
        let folded: Vec<String> = [
            "srv;main;loop;recvfrom_[k];tcp_recvmsg_[k] 30",
            "srv;main;loop;parse 50",
            "srv;main;loop;recvfrom_[k];tcp_recvmsg_[k] 20",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let profile = summarize(&folded, "profiles/x.svg");
        assert_eq!(profile.cpu_ms_sampled, 100.0 / 1e6);
        assert_eq!(profile.top.len(), 2);
        assert_eq!((profile.top[0].name.as_str(), profile.top[0].kernel), ("parse", false));
        assert_eq!((profile.top[1].name.as_str(), profile.top[1].kernel), ("tcp_recvmsg", true));
        assert_eq!(profile.top_in_words(2), "parse 50.0%, tcp_recvmsg [k] 50.0%");
    }

    /// A real `perf record` of a busy child, folded and drawn, when perf is installed.
    #[test]
    fn records_folds_and_draws() {
        if let Err(why) = available() {
            return eprintln!("skipped: {why}");
        }
        let mut busy = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done"])
            .spawn()
            .expect("sh");
        let dir = tempfile_dir();
        let pid = i32::try_from(busy.id()).expect("a pid");
        let recorder = Recorder::start(&[pid], &dir.join("perf.data")).expect("recording");
        std::thread::sleep(std::time::Duration::from_millis(400));
        let profile = recorder.finish(&dir.join("flame.svg"), "flame.svg", "busy sh").expect("a profile");
        let _ = busy.kill();
        let _ = busy.wait();
        // However busy the machine, the shell ran some of those 400 ms, and its frames are named.
        assert!(profile.cpu_ms_sampled > 0.0 && !profile.top.is_empty(), "{profile:?}");
        let svg = std::fs::read_to_string(dir.join("flame.svg")).expect("the svg");
        assert!(svg.contains("<svg") && svg.contains("busy sh"), "{}", &svg[..svg.len().min(400)]);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("runtime-matrix-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        dir
    }
}
