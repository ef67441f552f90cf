//! Real gcc 12 compiles in the jail, compared byte for byte with local ones.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use meshcc_sandbox::{run, Identity, Input, JobOutcome, JobSpec, Limits, Termination};

use crate::util::{bytes, can_jail, dependencies, gcc_toolchain, helper, jp, Fixture};

pub const HELLO: &str = r#"#include <stdio.h>
#include <stddef.h>

struct point { int x, y; };

static int dot(const struct point *a, const struct point *b) {
    return a->x * b->x + a->y * b->y;
}

int main(void) {
    struct point p = {3, 4}, q = {5, 6};
    printf("%s:%d %d %zu\n", __FILE__, __LINE__, dot(&p, &q), sizeof(size_t));
    return 0;
}
"#;

const BROKEN: &str = "#include <stdio.h>\nint main(void) {\n    printf(\"x\")\n    return 0\n}\n";

/// A project directory outside /tmp, so the working directory is its own writable overlay.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(files: &[(&str, &str)]) -> Self {
        Self::new_in("/var/tmp", files)
    }

    /// A project under `base`.
    pub fn new_in(base: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("meshcc-sandbox-proj")
            .tempdir_in(base)
            .unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs gcc here, directly, with the environment the jail gets.
    pub fn local(&self, args: &[&str]) -> Output {
        Command::new("gcc")
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C")
            .output()
            .unwrap()
    }
}

/// The spec for compiling in `project` with `args`: toolchain tree, `gcc -M` inputs, outputs.
pub fn compile_spec(
    fx: &Fixture,
    toolchain: &Path,
    project: &Project,
    args: &[&str],
    outputs: &[&str],
) -> JobSpec {
    let mut dep_args = Vec::new();
    let mut rest = args.iter();
    while let Some(&a) = rest.next() {
        match a {
            "-c" => {}
            "-o" => {
                rest.next();
            }
            _ => dep_args.push(a),
        }
    }
    let deps = dependencies(project.path(), &dep_args);
    let inputs = deps
        .iter()
        .map(|d| Input {
            path: jp(d),
            source: fx.blob(d, 0o644),
        })
        .collect();
    let mut argv = vec![bytes("gcc")];
    argv.extend(args.iter().map(|a| bytes(a)));
    JobSpec {
        toolchain: toolchain.to_path_buf(),
        job_dir: fx.job_dir(),
        inputs,
        cwd: jp(project.path()),
        writable: vec![],
        program: jp("/usr/bin/gcc"),
        argv,
        env: vec![
            (bytes("PATH"), bytes("/usr/bin:/bin")),
            (bytes("LANG"), bytes("C")),
        ],
        outputs: outputs.iter().map(|o| jp(project.path().join(o))).collect(),
        limits: Limits::default(),
        identity: Identity::default(),
    }
}

pub fn toolchain(fx: &Fixture) -> PathBuf {
    gcc_toolchain(fx.path().join("toolchain")).root
}

fn sandboxed(spec: &JobSpec) -> JobOutcome {
    run(helper(), spec).unwrap_or_else(|e| panic!("sandbox error: {e}"))
}

/// Pass: `gcc -O2 -g -c` in the jail gives an object byte-identical to the local compile's
/// (DWARF comp_dir, producer and `__FILE__` included), with the same empty stdout and stderr.
#[test]
fn object_is_byte_identical_to_a_local_compile() {
    if !can_jail("object_is_byte_identical_to_a_local_compile") {
        return;
    }
    let fx = Fixture::new();
    let tc = toolchain(&fx);
    let project = Project::new(&[("hello.c", HELLO)]);
    let args = ["-O2", "-g", "-c", "hello.c", "-o", "hello.o"];
    let local = project.local(&args);
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let want = fs::read(project.path().join("hello.o")).unwrap();
    fs::remove_file(project.path().join("hello.o")).unwrap();

    let spec = compile_spec(&fx, &tc, &project, &args, &["hello.o"]);
    let outcome = sandboxed(&spec);
    let stderr = String::from_utf8_lossy(&outcome.stderr.bytes);
    assert_eq!(outcome.termination, Termination::Exited(0), "{stderr}");
    assert!(outcome.success());
    let got = outcome.output(&spec.outputs[0]).expect("hello.o came back");
    assert!(
        got == &want[..],
        "objects differ ({} vs {} bytes)",
        got.len(),
        want.len()
    );
    assert_eq!(&outcome.stdout.bytes[..], &local.stdout[..]);
    assert_eq!(&outcome.stderr.bytes[..], &local.stderr[..]);
    // The jail wrote nothing into the host's project directory.
    assert!(!project.path().join("hello.o").exists());
}

/// Regression: a working directory below `/tmp` lies inside the `/tmp` overlay, whose lower
/// directories were root's and so neither writable nor copyable for the job ("can't create
/// hello.o: Permission denied"). Pass: the compile succeeds and the object comes back.
#[test]
fn compile_in_a_working_directory_below_tmp_writes_its_output() {
    if !can_jail("compile_in_a_working_directory_below_tmp_writes_its_output") {
        return;
    }
    let fx = Fixture::new();
    let tc = toolchain(&fx);
    let project = Project::new_in("/tmp", &[("hello.c", HELLO)]);
    let args = ["-O2", "-c", "hello.c", "-o", "hello.o"];
    let spec = compile_spec(&fx, &tc, &project, &args, &["hello.o"]);
    let outcome = sandboxed(&spec);
    let stderr = String::from_utf8_lossy(&outcome.stderr.bytes);
    assert_eq!(outcome.termination, Termination::Exited(0), "{stderr}");
    assert!(
        outcome.output(&spec.outputs[0]).is_some(),
        "hello.o came back"
    );
}

/// Regression: a working directory below `/tmp` with no input in it (`make -C /tmp/build`
/// compiling sources that live elsewhere) did not exist in the jail ("chdir: No such file or
/// directory"). Pass: the compile runs there and its object comes back.
#[test]
fn compile_in_an_empty_working_directory_below_tmp() {
    if !can_jail("compile_in_an_empty_working_directory_below_tmp") {
        return;
    }
    let fx = Fixture::new();
    let tc = toolchain(&fx);
    let sources = Project::new(&[("hello.c", HELLO)]);
    let build = Project::new_in("/tmp", &[]);
    let src = sources.path().join("hello.c");
    let src = src.to_str().unwrap();
    let args = ["-O2", "-c", src, "-o", "hello.o"];
    let mut spec = compile_spec(&fx, &tc, &sources, &args, &["hello.o"]);
    spec.cwd = jp(build.path());
    spec.outputs = vec![jp(build.path().join("hello.o"))];
    let outcome = sandboxed(&spec);
    let stderr = String::from_utf8_lossy(&outcome.stderr.bytes);
    assert_eq!(outcome.termination, Termination::Exited(0), "{stderr}");
    assert!(
        outcome.output(&spec.outputs[0]).is_some(),
        "hello.o came back"
    );
}

/// Pass: a syntax error gives the same exit status and the same stderr, byte for byte.
#[test]
fn a_compile_error_reads_as_locally() {
    if !can_jail("a_compile_error_reads_as_locally") {
        return;
    }
    let fx = Fixture::new();
    let tc = toolchain(&fx);
    let project = Project::new(&[("broken.c", BROKEN)]);
    let args = ["-O2", "-c", "broken.c", "-o", "broken.o"];
    let local = project.local(&args);
    assert!(!local.status.success());
    // gcc -M of a broken file still lists its headers.
    let mut spec = compile_spec(
        &fx,
        &tc,
        &project,
        &["-O2", "-c", "broken.c"],
        &["broken.o"],
    );
    spec.argv = ["gcc"]
        .iter()
        .chain(args.iter())
        .map(|a| bytes(a))
        .collect();
    let outcome = sandboxed(&spec);
    assert_eq!(
        outcome.termination,
        Termination::Exited(local.status.code().unwrap())
    );
    assert_eq!(
        String::from_utf8_lossy(&outcome.stderr.bytes),
        String::from_utf8_lossy(&local.stderr)
    );
    assert_eq!(outcome.stopped_by, None, "a compile error is not a limit");
    assert!(!outcome.success());
}
