//! The `meshcc` command line: a compiler wrapper when the first argument is a compiler (or
//! when called through a masquerade link), and the subcommands otherwise.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use meshcc_wire::control::{ControlRequest, ControlResponse};

use crate::agent::AgentArgs;
use crate::client::Client;
use crate::logging::{self, Role};
use crate::{doctor, locate, masquerade, report, wrapper};

/// meshcc: a peer-to-peer distributed C/C++ compiler.
///
/// Every machine runs `meshcc agent`; agents find each other (mDNS, or `--peer`), and a compile
/// started on one machine runs on whichever has room, with byte-identical results.
#[derive(Debug, Parser)]
#[command(
    name = "meshcc",
    version,
    about,
    long_about,
    after_help = "`meshcc --help` also says how to compile through meshcc, the masquerade \
                  directory, the config file and every MESHCC_* environment variable.",
    after_long_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

/// What `--help` says after the options: everything the README says about using meshcc.
const AFTER_HELP: &str = "\
Compiling through meshcc:
  meshcc gcc -c x.c -o x.o                  wrap one command
  CC=\"meshcc gcc\" CXX=\"meshcc g++\" make -j\"$(meshcc jobs)\"
  CMAKE_C_COMPILER_LAUNCHER=meshcc          for CMake
  CCACHE_PREFIX=meshcc CC=\"ccache gcc\"      behind ccache (ccache stays the entry point)

Masquerade directory: a directory of links to meshcc named gcc, g++, cc, c++, clang, clang++
and version-suffixed names (gcc-12, clang++-14), first in PATH. Called as `gcc`, meshcc runs
the next real `gcc` in PATH, skipping itself and other wrappers' loops:
  meshcc setup-masquerade ~/.local/lib/meshcc && export PATH=~/.local/lib/meshcc:$PATH

Config file (`meshcc agent --config FILE`, or MESHCC_CONFIG): TOML with the agent's long
options as keys, `_` for `-`: state_dir, listen = [...], peer = [...], slots, no_remote,
mesh_key, no_mdns, store_limit_mb, allow_peer = [...], verify, monitor, no_monitor,
job_memory_mb. Options on the command line win over the file.

Environment:
  MESHCC_LOG=FILE        meshcc's own messages go to FILE (never into a compile's output)
  MESHCC_LOG_LEVEL=LVL   error, warn, info (default), debug, trace, or a tracing filter
  MESHCC_SOCKET=PATH     the agent to talk to (default: agent.sock in the state directory)
  MESHCC_STATE_DIR=DIR   the state directory (default /var/lib/meshcc for root, else
                         $XDG_STATE_HOME/meshcc or ~/.local/state/meshcc)
  MESHCC_CONFIG=FILE     the agent's config file
  MESHCC_DISABLE=1       always compile locally, without asking the agent
  MESHCC_VERIFY=FRACTION compile this share (0 to 1) of remote results again locally and
                         compare; a worker whose result differs gets no more jobs (in a
                         build's environment it overrides the agent's --verify)
  MESHCC_FOUND_DIR, MESHCC_DEPTH
                         set by meshcc for the compilers it runs, so that chains of
                         wrappers (meshcc, ccache) do not loop; do not set them yourself

With no agent reachable, compiles run locally and succeed. `meshcc doctor` checks the setup
and says what to fix.";

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
    /// Check this machine's setup (agent, peers, compiler wrapping, toolchains, sandbox) and
    /// say what to fix. Exits 1 when a check failed.
    Doctor {
        /// Print JSON (schema `meshcc.doctor/1`).
        #[arg(long)]
        json: bool,
    },
    /// Make DIR a masquerade directory: links to meshcc named gcc, g++, cc, c++, clang,
    /// clang++ and every version-suffixed compiler name found in PATH. Put DIR first in PATH.
    SetupMasquerade {
        /// The directory (created if missing).
        dir: PathBuf,
        /// What the links point to (default: this meshcc), e.g. when installing into a staging
        /// directory.
        #[arg(long)]
        meshcc: Option<PathBuf>,
    },
    /// Print a shell completion script: `meshcc completions bash > /etc/bash_completion.d/meshcc`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write meshcc.1 and meshcc-SUBCOMMAND.1 here instead of printing meshcc.1.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

const SUBCOMMANDS: &[&str] = &[
    "agent",
    "peers",
    "stats",
    "jobs",
    "doctor",
    "setup-masquerade",
    "completions",
    "man",
    "help",
];

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
        Sub::Doctor { json } => return doctor::run(json),
        Sub::SetupMasquerade { dir, meshcc } => setup_masquerade(&dir, meshcc),
        Sub::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "meshcc", &mut std::io::stdout());
            Ok(())
        }
        Sub::Man { out_dir } => man(out_dir.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshcc: {}", report::error_sentence(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn ask(request: ControlRequest) -> anyhow::Result<ControlResponse> {
    let mut client = Client::connect(&crate::paths::socket(), Duration::from_secs(5))?;
    Ok(client.ask(&request)?)
}

fn unexpected(response: ControlResponse) {
    eprintln!(
        "meshcc: the agent answered with a {} message where another was expected; it may be \
         another meshcc release than this command: install the same release of both",
        report::response_name(&response)
    );
}

fn setup_masquerade(dir: &Path, meshcc: Option<PathBuf>) -> anyhow::Result<()> {
    let me = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| {
            anyhow::anyhow!("cannot tell where this meshcc is ({e}); give --meshcc PATH")
        })?;
    let target = meshcc.unwrap_or_else(|| me.clone());
    let names = masquerade::names_to_link(&std::env::var_os("PATH").unwrap_or_default(), &me);
    let dir = std::path::absolute(dir)?;
    let linked = masquerade::setup(&dir, &target, &names)?;
    println!(
        "{} now holds links to {} named {}.\nPut it first in PATH: export PATH={}:$PATH",
        dir.display(),
        target.display(),
        linked.join(", "),
        dir.display()
    );
    Ok(())
}

fn man(out_dir: Option<&Path>) -> anyhow::Result<()> {
    let command = Cli::command();
    let Some(dir) = out_dir else {
        clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let write = |name: String, cmd: clap::Command| -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).title(&name).render(&mut out)?;
        std::fs::write(&path, out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    };
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write(format!("meshcc-{}", sub.get_name()), sub.clone())?;
    }
    write("meshcc".into(), command)
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
