//! The exact local path: with no agent, or for local-only commands, `meshcc CC …` and a
//! masquerade link behave exactly like the compiler itself — exit code, stdout, stderr and
//! output files, byte for byte.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MESHCC: &str = env!("CARGO_BIN_EXE_meshcc");

const GOOD: &str = r#"
#include <stdio.h>
#define SQUARE(x) ((x) * (x))
static int unused_warning(void) { return 1; }
int main(void) { printf("%d %s\n", SQUARE(7), __FILE__); return 0; }
"#;
const BAD: &str = "int main(void) { return undefined_thing + ; }\n";

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// A command with no agent reachable and no log unless the test sets one.
fn cmd(dir: &Dir, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir.path())
        .env("MESHCC_SOCKET", dir.path().join("no-agent.sock"))
        .env_remove("MESHCC_LOG")
        .env_remove("MESHCC_DISABLE");
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn assert_same(direct: &Output, wrapped: &Output) {
    assert_eq!(direct.status.code(), wrapped.status.code(), "exit code");
    assert_eq!(
        String::from_utf8_lossy(&direct.stdout),
        String::from_utf8_lossy(&wrapped.stdout),
        "stdout"
    );
    assert_eq!(
        String::from_utf8_lossy(&direct.stderr),
        String::from_utf8_lossy(&wrapped.stderr),
        "stderr"
    );
}

/// Compiles `args` directly and through `wrapper_args`, comparing output and `out` files.
fn compare(compiler: &str, args: &[&str], outputs: &[&str], wrap: impl Fn(&Dir) -> Command) {
    let dir = Dir::new();
    dir.write("good.c", GOOD);
    dir.write("bad.c", BAD);
    let mut direct = cmd(&dir, compiler);
    direct.args(args);
    let direct = run(direct);
    let direct_files: Vec<Vec<u8>> = outputs.iter().map(|o| dir.read(o)).collect();
    for o in outputs {
        std::fs::remove_file(dir.path().join(o)).unwrap();
    }
    let mut wrapped = wrap(&dir);
    wrapped.args(args);
    let wrapped = run(wrapped);
    assert_same(&direct, &wrapped);
    for (o, want) in outputs.iter().zip(direct_files) {
        assert_eq!(dir.read(o), want, "{o} differs");
    }
}

fn has(compiler: &str) -> bool {
    let found = Command::new(compiler).arg("--version").output().is_ok();
    if !found && std::env::var_os("CI").is_some() {
        panic!("{compiler} is not installed; .ci/run installs it");
    }
    if !found {
        eprintln!("skipped: {compiler} is not installed");
    }
    found
}

#[test]
fn gcc_object_is_identical_with_no_agent() {
    compare(
        "gcc",
        &["-O2", "-g", "-Wall", "-c", "good.c", "-o", "good.o"],
        &["good.o"],
        |d| {
            let mut c = cmd(d, MESHCC);
            c.arg("gcc");
            c
        },
    );
}

#[test]
fn clang_object_is_identical_with_no_agent() {
    if !has("clang") {
        return;
    }
    compare(
        "clang",
        &["-O1", "-g", "-Wall", "-c", "good.c", "-o", "good.o", "-MD"],
        &["good.o", "good.d"],
        |d| {
            let mut c = cmd(d, MESHCC);
            c.arg("clang");
            c
        },
    );
}

#[test]
fn syntax_error_gives_the_compilers_exit_code_and_words() {
    compare("gcc", &["-c", "bad.c", "-o", "bad.o"], &[], |d| {
        let mut c = cmd(d, MESHCC);
        c.arg("gcc");
        c
    });
}

#[test]
fn local_only_preprocess_to_stdout_is_identical() {
    compare("gcc", &["-E", "good.c"], &[], |d| {
        let mut c = cmd(d, MESHCC);
        c.arg("gcc");
        c
    });
}

#[test]
fn link_step_runs_locally_and_the_program_works() {
    compare("gcc", &["good.c", "-o", "good"], &["good"], |d| {
        let mut c = cmd(d, MESHCC);
        c.arg("gcc");
        c
    });
}

/// A masquerade directory holding `gcc-12` → meshcc, first in PATH.
fn masquerade(dir: &Dir, name: &str) -> PathBuf {
    let masq = dir.path().join("masq");
    std::fs::create_dir_all(&masq).unwrap();
    symlink(MESHCC, masq.join(name)).unwrap();
    masq
}

fn path_with(first: &Path) -> std::ffi::OsString {
    let mut dirs = vec![first.to_owned()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn masquerade_gcc_12_compiles_without_recursing() {
    let real = if has("gcc-12") { "gcc-12" } else { return };
    compare(
        real,
        &["-O2", "-c", "good.c", "-o", "good.o"],
        &["good.o"],
        |d| {
            let masq = masquerade(d, "gcc-12");
            let mut c = cmd(d, masq.join("gcc-12"));
            c.env("PATH", path_with(&masq));
            c
        },
    );
}

#[test]
fn masquerade_with_no_real_compiler_says_so_and_fails() {
    let dir = Dir::new();
    dir.write("good.c", GOOD);
    let masq = masquerade(&dir, "gcc");
    let out = run({
        let mut c = cmd(&dir, masq.join("gcc"));
        c.env("PATH", &masq).args(["-c", "good.c"]);
        c
    });
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot find the real `gcc`"));
}

#[test]
fn log_goes_to_meshcc_log_never_to_stderr() {
    let dir = Dir::new();
    dir.write("good.c", GOOD);
    let log = dir.path().join("meshcc.log");
    let out = run({
        let mut c = cmd(&dir, MESHCC);
        c.env("MESHCC_LOG", &log).env("MESHCC_LOG_LEVEL", "debug");
        c.args(["gcc", "-c", "good.c", "-o", "good.o"]);
        c
    });
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("compiling locally"), "log: {text}");
}

#[test]
fn meshcc_disable_forces_local() {
    compare("gcc", &["-c", "good.c", "-o", "good.o"], &["good.o"], |d| {
        let mut c = cmd(d, MESHCC);
        c.env("MESHCC_DISABLE", "1").arg("gcc");
        c
    });
}

#[test]
fn jobs_without_agent_prints_core_count() {
    let dir = Dir::new();
    let out = run({
        let mut c = cmd(&dir, MESHCC);
        c.arg("jobs");
        c
    });
    assert!(out.status.success());
    let n: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(n >= 1);
}

#[test]
fn peers_without_agent_explains_what_to_do() {
    let dir = Dir::new();
    let out = run({
        let mut c = cmd(&dir, MESHCC);
        c.arg("peers");
        c
    });
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no meshcc agent") && err.contains("meshcc agent"),
        "{err}"
    );
}
