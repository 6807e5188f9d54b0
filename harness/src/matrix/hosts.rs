//! `[[host]]` tables and where `[placement]` puts the servers and the load among them.

use toml::de::DeTable;

use super::document::{self, At, Mistakes};
use crate::plan::{Host, Launch, Load, Scenario, VariantPlan};

const HOST_KEYS: [&str; 5] = ["name", "launcher", "address", "harness", "shell"];

/// Whether a launcher goes through a remote shell when `shell` is not given: when any of its
/// words is the `ssh` program (`["ssh", …]`, or `["ip", "netns", "exec", "cli", "ssh", …]`).
pub fn launcher_uses_a_shell(launcher: &[String]) -> bool {
    launcher.iter().any(|word| std::path::Path::new(word).file_name().is_some_and(|name| name == "ssh"))
}

/// The `[[host]]` tables, each checked.
pub(super) fn hosts(root: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Vec<Host> {
    let mut hosts: Vec<Host> = Vec::new();
    for (table, span) in mistakes.tables(root, "host") {
        mistakes.unknown_keys(table, &HOST_KEYS, "[[host]]");
        let name = mistakes.string(table, "name");
        if name.is_none() && document::get(table, "name").is_none() {
            mistakes.at(span.clone(), "a [[host]] needs a `name`");
        }
        let launcher = mistakes.strings(table, "launcher");
        match &launcher {
            None if document::get(table, "launcher").is_none() => mistakes.at(
                span.clone(),
                "a [[host]] needs a `launcher`: the command prefix that runs a program there, e.g. \
                 [\"ssh\", \"-o\", \"BatchMode=yes\", \"bench@10.0.0.2\"] or [\"ip\", \"netns\", \"exec\", \"srv\"]",
            ),
            Some(list) if list.value.is_empty() => mistakes.at(list.span.clone(), "launcher needs at least the program"),
            _ => {}
        }
        let address = mistakes.string(table, "address").and_then(|address| match address.value.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                mistakes.at(
                    address.span,
                    format!("address must be an IP address clients connect to, not {:?}", address.value),
                );
                None
            }
        });
        if address.is_none() && document::get(table, "address").is_none() {
            mistakes.at(span.clone(), "a [[host]] needs an `address`: the IP address clients connect to");
        }
        let harness = mistakes.string(table, "harness").map_or_else(|| "harness".to_owned(), |h| h.value);
        let shell = mistakes.boolean(table, "shell").map(|s| s.value);
        let (Some(name), Some(launcher), Some(address)) = (name, launcher, address) else { continue };
        if hosts.iter().any(|h| h.name == name.value) {
            mistakes.at(name.span.clone(), format!("host `{}` is listed twice", name.value));
            continue;
        }
        let launcher: Vec<String> = launcher.value.into_iter().map(|arg| arg.value).collect();
        if !launcher.is_empty() {
            let shell = shell.unwrap_or_else(|| launcher_uses_a_shell(&launcher));
            hosts.push(Host { name: name.value, launcher, address, harness, shell });
        }
    }
    hosts
}

/// `server_host` and `load_hosts` of `[placement]`, as indices into `hosts`.
pub(super) fn placed(
    table: &DeTable<'_>,
    hosts: &[Host],
    mistakes: &mut Mistakes<'_>,
) -> (Option<usize>, Vec<usize>) {
    let find = |name: &At<String>, mistakes: &mut Mistakes<'_>| -> Option<usize> {
        let found = hosts.iter().position(|h| h.name == name.value);
        if found.is_none() {
            let known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            let known =
                if known.is_empty() { "none: add a [[host]] table".to_owned() } else { known.join(", ") };
            mistakes.at(name.span.clone(), format!("no host `{}` (hosts: {known})", name.value));
        }
        found
    };
    let server = mistakes.string(table, "server_host").and_then(|name| find(&name, mistakes));
    let mut load = Vec::new();
    if let Some(names) = mistakes.strings(table, "load_hosts") {
        for name in &names.value {
            if let Some(index) = find(name, mistakes) {
                if load.contains(&index) {
                    mistakes.at(
                        name.span.clone(),
                        format!("host `{}` is listed twice in load_hosts", name.value),
                    );
                }
                load.push(index);
            }
        }
    }
    (server, load)
}

/// What a remote server host or remote load cannot do.
pub(super) fn check_remote(
    hosts: &[Host],
    server_host: Option<usize>,
    load_hosts: &[usize],
    variants: &[(VariantPlan, std::ops::Range<usize>)],
    scenarios: &[(Scenario, std::ops::Range<usize>)],
    mistakes: &mut Mistakes<'_>,
) {
    if let Some(host) = server_host.and_then(|i| hosts.get(i)) {
        for (variant, span) in variants {
            if matches!(variant.launch, Launch::Command(_)) {
                mistakes.at(
                    span.clone(),
                    format!(
                        "variant `{}` runs a command, but the servers run on host `{}`, where only built-ins \
                         start (as `harness serve`, which exits when its launcher goes away)",
                        variant.name, host.name
                    ),
                );
            }
        }
    }
    if !load_hosts.is_empty() {
        for (scenario, span) in scenarios {
            if matches!(scenario.load, Load::Scale { .. }) {
                mistakes.at(
                    span.clone(),
                    format!(
                        "scenario `{}` holds many connections open while the server's memory is read, which \
                         needs the load on this machine: remove load_hosts, or move it to another matrix",
                        scenario.name
                    ),
                );
            }
        }
    }
}
