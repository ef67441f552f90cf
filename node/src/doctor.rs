//! `meshcc doctor`: checks, in words, what people otherwise debug by hand — is an agent
//! running, which peers it sees and why others may not, is the compiler wrapped right, can
//! this toolchain be packaged, can this machine run peers' jobs — each failure with what to do.
//!
//! The checks are in [`mesh`] (the agent and its peers), [`wrapping`] (PATH, masquerade
//! directories, ccache) and [`machine`] (packaging, the sandbox). Each check runs the real
//! thing where it can: it asks the agent, runs the wrapped compilers, packages the toolchain
//! and compiles a file in the sandbox.

mod machine;
mod mesh;
mod wrapping;

use std::process::ExitCode;

use serde::Serialize;

/// The file the wrapping and sandbox checks compile: tiny, valid C and C++, including nothing,
/// and new each run, so that a ccache in the chain misses and really runs what comes after it.
fn probe_source() -> String {
    format!(
        "int meshcc_doctor_probe_{:08x}(int x) {{ return x * 3 + 1; }}\n",
        rand::random::<u32>()
    )
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Worth knowing; nothing is wrong.
    Info,
    /// Works, but not as well as it could.
    Warn,
    /// Broken: something meshcc should do does not happen.
    Fail,
}

/// One finding: a sentence, and for anything not fine, a sentence saying what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was looked at: `agent`, `peers`, `discovery`, `connections`, `latency`,
    /// `wrapping`, `toolchain`, `sandbox`.
    pub area: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl Check {
    fn new(area: &'static str, status: Status, message: impl Into<String>) -> Self {
        Self {
            area,
            status,
            message: message.into(),
            fix: None,
        }
    }

    fn ok(area: &'static str, message: impl Into<String>) -> Self {
        Self::new(area, Status::Ok, message)
    }

    fn info(area: &'static str, message: impl Into<String>) -> Self {
        Self::new(area, Status::Info, message)
    }

    fn warn(area: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(area, Status::Warn, message).with_fix(fix)
    }

    fn fail(area: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(area, Status::Fail, message).with_fix(fix)
    }

    fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// `meshcc doctor --json`.
#[derive(Debug, Serialize)]
struct DoctorJson<'a> {
    schema: &'static str,
    ok: bool,
    checks: &'a [Check],
}

/// Runs every check and prints the findings; fails when a check failed.
pub fn run(json: bool) -> ExitCode {
    let mut checks = Vec::new();
    let agent = mesh::checks(&mut checks);
    wrapping::checks(&mut checks);
    machine::checks(&mut checks, agent.as_ref());
    let ok = !checks.iter().any(|c| c.status == Status::Fail);
    if json {
        let out = DoctorJson {
            schema: "meshcc.doctor/1",
            ok,
            checks: &checks,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("plain data serializes")
        );
    } else {
        print!("{}", text(&checks));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The findings for people: one line each, the fix indented under it.
fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let tag = match c.status {
            Status::Ok => " ok ",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!("[{tag}] {}: {}\n", c.area, c.message));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("       fix: {fix}\n"));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    out.push_str(&match (failed, warned) {
        (0, 0) => "All checks passed.\n".to_owned(),
        (0, w) => format!("No check failed; {w} could be better (see `warn` above).\n"),
        (f, _) => format!("{f} check(s) failed; each says what to do under `fix:`.\n"),
    });
    out
}

/// "1.5 s", "3 min", "2 h": how long ago, or how long, for a sentence.
fn duration_words(ms: u64) -> String {
    match ms {
        0..=9_999 => format!("{:.1} s", ms as f64 / 1000.0),
        10_000..=119_999 => format!("{} s", ms / 1000),
        120_000..=7_199_999 => format!("{} min", ms / 60_000),
        _ => format!("{} h", ms / 3_600_000),
    }
}
