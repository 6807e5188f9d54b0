//! The command line: `harness list`, `harness serve VARIANT [server options]`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server_spec::cli::ServerArgs;

use crate::registry;

#[derive(Debug, Parser)]
#[command(name = "harness", version, about = "What does the concurrency model cost? Measure it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the built-in server variants.
    List,
    /// Run one server variant in the foreground.
    Serve {
        /// A name from `harness list`.
        variant: String,
        #[command(flatten)]
        args: ServerArgs,
    },
}

/// Parses the command line and runs it; returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List => {
            list();
            Ok(())
        }
        Command::Serve { variant, args } => serve(&variant, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn list() {
    println!("{:<22} {:<13} {:<9} {:<52} --workers", "variant", "runtime", "I/O", "threading");
    for variant in registry::VARIANTS {
        println!(
            "{:<22} {:<13} {:<9} {:<52} {}",
            variant.name,
            variant.runtime,
            variant.io.name(),
            variant.threading,
            variant.workers
        );
    }
}

fn serve(name: &str, args: &ServerArgs) -> anyhow::Result<()> {
    let variant = registry::find(name)
        .ok_or_else(|| anyhow::anyhow!("no variant `{name}`; known: {}", registry::names()))?;
    server_common::start(variant, args)
}
