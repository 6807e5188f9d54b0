//! Other hosts, reached through each one's launcher: the command prefix that runs a program
//! there (`ssh … bench@10.0.0.2`, `ip netns exec srv`). No agent: the other host runs the same
//! `harness`, and the two talk through the launcher's pipes in the lines of [`protocol`].
//!
//! A program started so is tied to its launcher by a lifeline: its standard input. When the
//! launcher goes (the harness stopped or was killed, the SSH session dropped), the pipe closes
//! and the program stops as on SIGTERM, so nothing is ever left running on a host.
//!
//! # Layout
//! - [`protocol`]: every line and JSON message that crosses, as types both ends use.
//! - [`load`]: a load split over the load hosts, run at once, and merged exactly.
//! - Servers on another host are [`crate::target::remote`].

pub mod load;
pub mod protocol;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::load::Job;
use crate::plan::Host;
use crate::process::tied::TiedChild;
use crate::process::watchdog::Watchdog;

impl Host {
    /// A command that runs `harness ARGS` on this host. Through a launcher that hands its
    /// command to a shell (`ssh`: see [`Host::shell`]) every word is quoted with
    /// [`shell_quote`], so each arrives as the one argument it is, whatever it holds.
    pub fn harness(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.launcher[0]);
        command.args(&self.launcher[1..]);
        for word in std::iter::once(&self.harness).chain(args) {
            if self.shell {
                command.arg(shell_quote(word));
            } else {
                command.arg(word);
            }
        }
        command
    }
}

/// `word` as a POSIX shell (sh, dash, bash, zsh) reads it back as exactly one word: as it is
/// when it holds only characters no shell treats specially, otherwise in single quotes, inside
/// which nothing is special but the single quote itself, written as `'\''` (end the quotes, an
/// escaped quote, quote again). Spaces, double quotes, `;`, `$(…)`, backquotes, globs and
/// newlines all stay data. `ssh` joins its arguments with spaces into one command line for
/// the remote shell, so this is how a name crosses it as one argument.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=./:,@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Starts a launcher (`command`) tied to the harness (see [`TiedChild`]), its standard input
/// a pipe: the lifeline.
pub fn spawn_tied(mut command: Command, watchdog: &Arc<Watchdog>) -> std::io::Result<TiedChild> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    TiedChild::spawn(command, watchdog, || {})
}

/// The other end of a lifeline: runs `then` on a thread of its own once standard input reaches
/// its end, because the launcher that started this process through a pipe has gone.
pub fn lifeline(then: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name("lifeline".into()).spawn(move || {
        let mut sink = [0u8; 512];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        then();
    });
}

/// CPUs as `--cpus` takes them: `0,2,3` (never a range, which `--cpus` does not read).
pub fn cpu_args(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// The URL of `job`'s target, as `harness load` and `harness verify` take it.
pub fn url(job: &Job) -> String {
    format!("http://{}{}", job.addr, job.path)
}

/// `--declared-host` arguments for the hosts `job` may send to.
pub fn declared(job: &Job) -> Vec<String> {
    job.allowed.iter().flat_map(|ip| ["--declared-host".to_owned(), ip.to_string()]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words that a shell would split, expand or run.
    const NASTY: [&str; 12] = [
        "plain-name_1.0",
        "two words",
        "",
        "it's",
        "\"double\" quotes",
        "a; touch /tmp/runtime-matrix-never",
        "$(touch /tmp/runtime-matrix-never)",
        "`id`",
        "new\nline",
        "back\\slash and $HOME and *",
        "'; exit 3; '",
        "--name=x y",
    ];

    #[test]
    fn quoting_leaves_plain_words_alone_and_quotes_the_rest() {
        assert_eq!(shell_quote("tokio"), "tokio");
        assert_eq!(shell_quote("/usr/local/bin/harness"), "/usr/local/bin/harness");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }

    /// The real thing: the quoted words joined with spaces, as ssh joins them, and read by
    /// `sh -c`, as the remote side does, come back as exactly the words.
    #[test]
    fn a_shell_reads_the_words_back_exactly() {
        let line: Vec<String> = NASTY.iter().map(|w| shell_quote(w)).collect();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {}", line.join(" ")))
            .output()
            .expect("sh runs");
        assert!(output.status.success(), "{output:?}");
        let words: Vec<&[u8]> = output.stdout.split(|b| *b == 0).collect();
        let back: Vec<String> =
            words[..words.len() - 1].iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect();
        assert_eq!(back, NASTY);
        assert!(!std::path::Path::new("/tmp/runtime-matrix-never").exists(), "nothing ran");
    }

    /// Only a launcher through a shell quotes: `ip netns exec` passes words as they are.
    #[test]
    fn only_a_shell_launcher_quotes() {
        let host = |launcher: &[&str], shell: bool| Host {
            name: "h".into(),
            launcher: launcher.iter().map(|w| (*w).to_owned()).collect(),
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            harness: "/opt/the harness".into(),
            shell,
        };
        let args = vec!["serve".to_owned(), "a b".to_owned()];
        let words = |command: Command| -> Vec<String> {
            command.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
        };
        let ssh = host(&["ssh", "bench@10.0.0.2"], true);
        assert_eq!(words(ssh.harness(&args)), ["bench@10.0.0.2", "'/opt/the harness'", "serve", "'a b'"]);
        let netns = host(&["ip", "netns", "exec", "srv"], false);
        assert_eq!(words(netns.harness(&args)), ["netns", "exec", "srv", "/opt/the harness", "serve", "a b"]);
    }
}
