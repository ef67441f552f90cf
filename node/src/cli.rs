//! The `meshcc` command line: a compiler wrapper when the first argument is a compiler (or
//! when called through a masquerade link), and the subcommands otherwise.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meshcc_wire::control::{ControlRequest, ControlResponse};

use crate::agent::AgentArgs;
use crate::client::Client;
use crate::logging::{self, Role};
use crate::{locate, report, wrapper};

/// meshcc: a peer-to-peer distributed C/C++ compiler.
///
/// As a compiler wrapper: `meshcc gcc -c x.c -o x.o`, or `CC="meshcc clang"`, or a masquerade
/// directory of links named `gcc`, `clang++`, … put first in PATH. Environment: MESHCC_LOG
/// (log file), MESHCC_LOG_LEVEL, MESHCC_SOCKET (agent to use), MESHCC_DISABLE=1 (always local).
#[derive(Debug, Parser)]
#[command(name = "meshcc", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Run the agent: join the mesh, serve jobs, answer the local `meshcc` command.
    Agent(AgentArgs),
    /// Show the mesh as the local agent sees it.
    Peers {
        /// Print JSON (schema `meshcc.peers/1`, see docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Show the local agent's counters.
    Stats {
        /// Print JSON (schema `meshcc.stats/1`).
        #[arg(long)]
        json: bool,
    },
    /// Print the number of parallel jobs the mesh can take now, for `make -j"$(meshcc jobs)"`.
    Jobs {
        /// Print JSON (schema `meshcc.jobs/1`).
        #[arg(long)]
        json: bool,
    },
}

const SUBCOMMANDS: &[&str] = &["agent", "peers", "stats", "jobs", "help"];

/// The hidden subcommand the agent starts to run one job in the sandbox (a fresh,
/// single-threaded process: namespaces cannot be entered from the agent's threads).
pub const SANDBOX_SUBCOMMAND: &str = "__sandbox";

/// Entry point of the `meshcc` binary.
pub fn main() -> ExitCode {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    let argv0 = argv.first().cloned().unwrap_or_else(|| "meshcc".into());
    if !locate::is_meshcc_name(&argv0) {
        // Masquerade: called as `gcc`, `clang++-14`, ….
        logging::init(Role::Client);
        let name = std::path::Path::new(&argv0)
            .file_name()
            .unwrap_or(&argv0)
            .to_owned();
        return wrapper::run(name, argv.split_off(1));
    }
    match argv.get(1).and_then(|a| a.to_str()) {
        Some(SANDBOX_SUBCOMMAND) => return meshcc_sandbox::helper_main(),
        Some(first) if SUBCOMMANDS.contains(&first) || first.starts_with('-') => {}
        Some(_) => {
            logging::init(Role::Client);
            let mut rest = argv.split_off(1);
            let compiler = rest.remove(0);
            return wrapper::run(compiler, rest);
        }
        None => {}
    }
    let cli = Cli::parse_from(argv);
    let result = match cli.command {
        Sub::Agent(args) => {
            logging::init(Role::Agent);
            args.resolve().and_then(crate::agent::run)
        }
        Sub::Peers { json } => ask(ControlRequest::Peers).map(|r| match r {
            ControlResponse::Peers(p) if json => println!("{}", report::peers_json(&p)),
            ControlResponse::Peers(p) => print!("{}", report::peers_table(&p)),
            other => unexpected(other),
        }),
        Sub::Stats { json } => ask(ControlRequest::Stats).map(|r| match r {
            ControlResponse::Stats(s) if json => println!("{}", report::stats_json(&s)),
            ControlResponse::Stats(s) => print!("{}", report::stats_text(&s)),
            other => unexpected(other),
        }),
        Sub::Jobs { json } => {
            jobs(json);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshcc: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn ask(request: ControlRequest) -> anyhow::Result<ControlResponse> {
    let mut client = Client::connect(&crate::paths::socket(), Duration::from_secs(5))?;
    Ok(client.ask(&request)?)
}

fn unexpected(response: ControlResponse) {
    eprintln!("meshcc: the agent gave an unexpected answer: {response:?}");
}

/// `meshcc jobs` always prints a number, so that `make -j"$(meshcc jobs)"` works even with no
/// agent running: then it is this machine's core count.
fn jobs(json: bool) {
    let jobs = match ask(ControlRequest::Jobs) {
        Ok(ControlResponse::Jobs(j)) => j,
        _ => meshcc_wire::control::JobsReport {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        },
    };
    if json {
        println!("{}", report::jobs_json(&jobs));
    } else {
        println!("{}", jobs.jobs);
    }
}
