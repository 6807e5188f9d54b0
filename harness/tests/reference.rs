//! nginx as a reference variant: its port and worker count go into a config template, it is
//! verified by body, and where it is not installed it is reported as not runnable here while
//! the rest goes on.

mod support;

use server_conformance::test_name;
use server_conformance::tools::{require, NGINX};
use support::{cells_of, free_port, results_json, text, Scratch};

/// The repository's `examples/nginx.conf`.
fn nginx_conf() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/nginx.conf").display().to_string()
}

#[test]
fn nginx_runs_from_a_config_template_and_is_verified_by_body() {
    if !require(test_name!(nginx_runs_from_a_config_template_and_is_verified_by_body), &[NGINX]) {
        return;
    }
    let scratch = Scratch::new();
    let matrix = format!(
        "[sweep]\nrequests = 2000\nconcurrency = [2]\nkeep_alive = true\n\n\
         [[variant]]\nname = \"nginx\"\ncommand = [\"nginx\", \"-c\", \"{{config}}\", \"-e\", \"stderr\"]\n\
         config = \"{}\"\nport = {}\nworkers = 1\nverify = \"body\"\n\n[[variant]]\nname = \"tokio\"\n",
        nginx_conf(),
        free_port()
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    let nginx = cells_of(&json, "nginx")[0];
    assert_eq!((nginx["complete"].as_u64(), nginx["failed"].as_u64()), (Some(2000), Some(0)), "{nginx}");
    // Its master and worker are one process group: both count.
    assert!(nginx["server"]["cpu_us_per_request"].as_f64().expect("cost") > 0.0);
    let command = json["meta"]["variants"][0]["command"].to_string();
    assert!(
        !command.contains("{config}") && command.contains("runtime-matrix-"),
        "the filled-in copy: {command}"
    );
}

/// As in `examples/reference.toml`: nginx with no `port` gets one the harness picks below the
/// ephemeral range, in its command line and in its config's `listen`.
#[test]
fn a_command_without_a_port_gets_one_below_the_ephemeral_range() {
    if !require(test_name!(a_command_without_a_port_gets_one_below_the_ephemeral_range), &[NGINX]) {
        return;
    }
    let scratch = Scratch::new();
    let matrix = format!(
        "[sweep]\nrequests = 500\nconcurrency = [2]\nkeep_alive = true\n\n\
         [[variant]]\nname = \"nginx\"\ncommand = [\"nginx\", \"-c\", \"{{config}}\", \"-e\", \"stderr\", \"-g\", \"env RUNTIME_MATRIX_PORT={{port}};\"]\n\
         config = \"{}\"\nworkers = 1\nverify = \"body\"\n",
        nginx_conf()
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    let nginx = cells_of(&json, "nginx")[0];
    assert_eq!((nginx["complete"].as_u64(), nginx["failed"].as_u64()), (Some(500), Some(0)), "{nginx}");
    let command: Vec<String> =
        serde_json::from_value(json["meta"]["variants"][0]["command"].clone()).expect("the command line");
    let picked: u16 = command
        .last()
        .and_then(|arg| arg.strip_prefix("env RUNTIME_MATRIX_PORT=")?.strip_suffix(';'))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("{{port}} filled in: {command:?}"));
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("the range");
    let low: u16 = range.split_whitespace().next().and_then(|p| p.parse().ok()).expect("its low end");
    assert!((1024..low).contains(&picked), "{picked} is below the ephemeral range from {low}");
}

#[test]
fn a_missing_program_is_not_runnable_here_and_the_rest_goes_on() {
    let scratch = Scratch::new();
    let matrix = format!(
        "[sweep]\nrequests = 20\nconcurrency = [1]\n\n\
         [[variant]]\nname = \"ghost\"\ncommand = [\"nginx-that-is-not-installed\", \"-c\", \"x\"]\nport = {}\n\n\
         [[variant]]\nname = \"tokio\"\n",
        free_port()
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("**ghost:** not runnable here: `nginx-that-is-not-installed` is not installed"),
        "{stdout}"
    );
    let json = results_json(&out);
    assert_eq!(json["problems"][0]["kind"], "not_runnable");
    assert_eq!(cells_of(&json, "tokio").len(), 1);
}

#[test]
fn a_config_template_needs_a_command_and_must_exist() {
    let scratch = Scratch::new();
    let matrix = "[[variant]]\nname = \"tokio\"\nconfig = \"x.conf\"\n\n[[variant]]\nname = \"n\"\ncommand = [\"n\"]\nport = 1\nconfig = \"/nowhere/n.conf\"\n";
    let (output, _) = scratch.run(matrix, &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(":3:10: config is a template for a `command`"), "{stderr}");
    assert!(stderr.contains(":9:10: config: cannot read \"/nowhere/n.conf\""), "{stderr}");
}
