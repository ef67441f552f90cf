//! The one seam through which the lab runs external tools (`ip`, `tc`, `vde_switch`, …), so that
//! every failure names the exact command line and what the tool printed on stderr.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use super::LabError;

/// Quotes a command line for error messages, so it can be pasted into a shell to reproduce.
pub(crate) fn display(cmd: &Command) -> String {
    let mut words = vec![quote(cmd.get_program())];
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs `program args…` to completion; returns its stdout, or an error holding the command line,
/// its exit status and its stderr.
pub(crate) fn run<I, S>(program: &str, args: I) -> Result<String, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    run_command(&mut cmd)
}

/// Like [`run`], for a command built by the caller (e.g. one with a `pre_exec` hook).
pub(crate) fn run_command(cmd: &mut Command) -> Result<String, LabError> {
    cmd.stdin(Stdio::null());
    let out = cmd.output().map_err(|source| LabError::Spawn {
        cmd: display(cmd),
        source,
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            cmd: display(cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// `ip -n NETNS args…`.
pub(crate) fn ip_in(netns: &str, args: &[&str]) -> Result<String, LabError> {
    run("ip", ["-n", netns].iter().chain(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", "ml0h1", "addr", "add", "10.199.0.2/24", "it's here"]);
        assert_eq!(
            display(&cmd),
            r"ip -n ml0h1 addr add 10.199.0.2/24 'it'\''s here'"
        );
    }

    #[test]
    fn failure_reports_command_and_stderr() {
        let err = run("sh", ["-c", "echo oops >&2; exit 3"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sh -c 'echo oops >&2; exit 3'"), "{text}");
        assert!(text.contains("oops"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
    }
}
