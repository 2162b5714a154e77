//! `apitap`: the command line. Parses arguments, wires the sensor and analyzer libraries
//! together, prints summaries, and turns errors into one clear line and an exit code.

mod alerts_cmd;
mod analyze;
mod blocklist_cmd;
mod capture;
mod cli;
mod config;
mod inventory_cmd;
mod metrics;
mod output;
mod privs;
mod replay;
mod serve;
mod summary;
mod timefmt;

use clap::Parser;
use std::process::ExitCode;

// mimalloc: see sensor::alloc for why.
#[global_allocator]
static GLOBAL: sensor::alloc::Allocator = sensor::alloc::Allocator;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    let cfg_path = cli.config.clone();
    let config = || config::load(cfg_path.as_deref());
    let result = match cli.command {
        cli::Command::Replay(args) => config().and_then(|c| replay::run(args, &c)),
        cli::Command::Capture(args) => config().and_then(|c| capture::run(args, std::sync::Arc::new(c))),
        cli::Command::Analyze(args) => config().and_then(|c| analyze::run(args, &c)),
        cli::Command::Inventory(args) => inventory_cmd::run(args),
        cli::Command::Alerts(args) => alerts_cmd::alerts(args),
        cli::Command::Eval(args) => alerts_cmd::eval(args),
        cli::Command::Blocklist(args) => config().and_then(|c| blocklist_cmd::run(args, &c)),
        cli::Command::Serve(args) => config().and_then(|c| serve_cmd(args, c)),
        cli::Command::Config(cli::ConfigArgs { command: cli::ConfigCommand::Check { file, print } }) => {
            config::check(file.as_deref().or(cfg_path.as_deref()), print)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // One line with the whole cause chain, as ripgrep prints it.
            eprintln!("apitap: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn serve_cmd(args: cli::ServeArgs, cfg: config::Resolved) -> anyhow::Result<ExitCode> {
    serve::check_dir(&args.out)?;
    let listen = args.listen.unwrap_or_else(|| cfg.serve_listen.clone());
    let hash_key = output::hash_key(args.hash_key_file.as_deref(), &args.out)?;
    serve::run(serve::ServeOptions { dir: args.out, listen, hash_key, cfg: std::sync::Arc::new(cfg) }, true)?;
    Ok(ExitCode::SUCCESS)
}

/// Output piped into `head` that stopped reading is not an error (ripgrep exits quietly
/// the same way).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>().is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("APITAP_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).with_target(false).try_init();
}
