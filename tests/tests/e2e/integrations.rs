//! meshcc behind the build tools people use, for real: a make project, a ninja project, a CMake
//! project with `CMAKE_<LANG>_COMPILER_LAUNCHER=meshcc`, and ccache in front
//! (`CCACHE_PREFIX=meshcc`). Each project is a few files written here; each build goes through a
//! submitter agent that compiles nothing itself and a worker on loopback, and must really send
//! jobs to the worker (its counters say so) and make the objects a plain local build makes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::result_check::{stats, tamper_with_assembler};
use crate::util::{bin, needs_root, succeeded, worker_and_submitter, Agent};

const UTIL_H: &str = "int twice(int x);\nint thrice(int x);\nint greet(void);\n";
const MAIN_C: &str = "#include <stdio.h>\n#include \"util.h\"\n\
    int main(void) { printf(\"%d\\n\", twice(thrice(7)) + greet()); return 0; }\n";
const UTIL_C: &str = "#include \"util.h\"\nint twice(int x) { return 2 * x; }\n";
const EXTRA_C: &str = "#include \"util.h\"\nint thrice(int x) { return 3 * x; }\n";
const GREET_CC: &str =
    "#include <string>\nextern \"C\" int greet(void) { return std::string(\"hi\").size(); }\n";
/// What the program prints: 2 * 3 * 7 + 2.
const ANSWER: &str = "44\n";

/// The sources of every project, in `dir`.
fn write_sources(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in [
        ("util.h", UTIL_H),
        ("main.c", MAIN_C),
        ("util.c", UTIL_C),
        ("extra.c", EXTRA_C),
        ("greet.cc", GREET_CC),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

const MAKEFILE: &str = "OBJS = main.o util.o extra.o greet.o
app: $(OBJS)
\t$(CXX) -o $@ $(OBJS)
%.o: %.c util.h
\t$(CC) -O2 -c $< -o $@
%.o: %.cc util.h
\t$(CXX) -O2 -c $< -o $@
";

/// A submitter (no slots of its own) and a worker, with every compiler the projects use
/// packaged and sending jobs; the directory holding `meshcc` is first in `PATH`.
struct Mesh {
    _worker: Agent,
    worker_dir: PathBuf,
    submitter: Agent,
    path: String,
}

impl Mesh {
    fn start(tmp: &Path) -> Mesh {
        let (worker, submitter) = worker_and_submitter(tmp, 2);
        let path = format!(
            "{}:{}",
            bin("meshcc").parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mesh = Mesh {
            worker_dir: worker.dir.clone(),
            _worker: worker,
            submitter,
            path,
        };
        let warm = tmp.join("warm");
        write_sources(&warm);
        // make uses gcc/g++ here, CMake and ccache the full paths they resolve.
        for (cc, src) in [
            ("gcc", "util.c"),
            ("g++", "greet.cc"),
            ("/usr/bin/cc", "util.c"),
            ("/usr/bin/c++", "greet.cc"),
            ("/usr/bin/gcc", "util.c"),
            ("/usr/bin/g++", "greet.cc"),
        ] {
            let started = Instant::now();
            let before = mesh.remote();
            while mesh.remote() == before {
                assert!(
                    started.elapsed() < Duration::from_secs(90),
                    "{cc} never compiled remotely"
                );
                let out = mesh
                    .command("meshcc", &warm)
                    .args([cc, "-c", src, "-o", "warm.o"])
                    .output()
                    .unwrap();
                succeeded(&out);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        mesh
    }

    /// `program` in `dir`, with this mesh's `PATH` and agent.
    fn command(&self, program: &str, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("PATH", &self.path)
            .env("MESHCC_SOCKET", self.submitter.socket())
            .env_remove("MESHCC_LOG")
            .env_remove("MESHCC_DISABLE")
            .env_remove("MAKEFLAGS");
        cmd
    }

    /// Remote compiles the submitter has had done so far.
    fn remote(&self) -> u64 {
        stats(&self.submitter)["jobs_remote"].as_u64().unwrap()
    }
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The program `app` in `dir` prints the answer.
fn assert_runs(dir: &Path) {
    let out = ok(Command::new(dir.join("app")).output().unwrap(), "app");
    assert_eq!(String::from_utf8_lossy(&out.stdout), ANSWER);
}

/// Each named object in `built` equals the one in `local` (built without `-g`, which records
/// the build directory).
fn assert_same_objects(local: &Path, built: &Path, names: &[&str]) {
    for name in names {
        let want = std::fs::read(local.join(name)).unwrap();
        let got = std::fs::read(built.join(name)).unwrap();
        assert!(want == got, "{name} differs from the local build's");
    }
}

/// The make project built with plain gcc/g++, for reference.
fn local_make_build(dir: &Path) {
    write_sources(dir);
    std::fs::write(dir.join("Makefile"), MAKEFILE).unwrap();
    ok(
        Command::new("make")
            .args(["-s", "CC=gcc", "CXX=g++"])
            .current_dir(dir)
            .output()
            .unwrap(),
        "local make",
    );
}

const OBJECTS: &[&str] = &["main.o", "util.o", "extra.o", "greet.o"];

#[test]
fn make_ninja_and_cmake_builds_send_jobs_to_the_mesh() {
    if !needs_root("remote compiles run jobs in a sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mesh = Mesh::start(tmp.path());
    let local = tmp.path().join("local");
    local_make_build(&local);

    // make, with the wrapper in CC and CXX.
    let dir = tmp.path().join("make");
    write_sources(&dir);
    std::fs::write(dir.join("Makefile"), MAKEFILE).unwrap();
    let before = mesh.remote();
    ok(
        mesh.command("make", &dir)
            .args(["-s", "-j4", "CC=meshcc gcc", "CXX=meshcc g++"])
            .output()
            .unwrap(),
        "make",
    );
    let make_remote = mesh.remote() - before;
    assert_runs(&dir);
    assert_same_objects(&local, &dir, OBJECTS);

    // ninja, with a depfile per object.
    let dir = tmp.path().join("ninja");
    write_sources(&dir);
    std::fs::write(
        dir.join("build.ninja"),
        "rule cc\n  command = meshcc $compiler -O2 -MD -MF $out.d -c $in -o $out\n  depfile = $out.d\n  deps = gcc\n\
         rule link\n  command = g++ $in -o $out\n\
         build main.o: cc main.c\n  compiler = gcc\n\
         build util.o: cc util.c\n  compiler = gcc\n\
         build extra.o: cc extra.c\n  compiler = gcc\n\
         build greet.o: cc greet.cc\n  compiler = g++\n\
         build app: link main.o util.o extra.o greet.o\n",
    )
    .unwrap();
    let before = mesh.remote();
    ok(
        mesh.command("ninja", &dir).args(["-j4"]).output().unwrap(),
        "ninja",
    );
    let ninja_remote = mesh.remote() - before;
    assert_runs(&dir);
    assert_same_objects(&local, &dir, OBJECTS);
    // The dependency files came from the worker, and ninja reads them: an edited header
    // rebuilds the three C objects that include it.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(dir.join("util.h"), UTIL_H).unwrap();
    let out = ok(
        mesh.command("ninja", &dir).args(["-n"]).output().unwrap(),
        "ninja -n",
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        plan.matches(" -c ").count(),
        3,
        "after editing util.h ninja plans:\n{plan}"
    );

    // CMake + Ninja, meshcc as the compiler launcher (argv: meshcc /usr/bin/cc …).
    let src = tmp.path().join("cmake");
    write_sources(&src);
    std::fs::write(
        src.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.16)\nproject(meshcc_demo C CXX)\n\
         add_executable(app main.c util.c extra.c greet.cc)\n",
    )
    .unwrap();
    let build = src.join("build");
    ok(
        mesh.command("cmake", &src)
            .args([
                "-G",
                "Ninja",
                "-S",
                ".",
                "-B",
                "build",
                "-DCMAKE_BUILD_TYPE=Release",
            ])
            .args([
                "-DCMAKE_C_COMPILER_LAUNCHER=meshcc",
                "-DCMAKE_CXX_COMPILER_LAUNCHER=meshcc",
            ])
            .output()
            .unwrap(),
        "cmake configure",
    );
    let before = mesh.remote();
    let out = ok(
        mesh.command("cmake", &src)
            .args(["--build", "build", "-j4", "-v"])
            .output()
            .unwrap(),
        "cmake build",
    );
    let cmake_remote = mesh.remote() - before;
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("meshcc /usr/bin/cc"),
        "CMake did not use the launcher:\n{log}"
    );
    assert_runs(&build);

    eprintln!(
        "remote compiles: make {make_remote}/4, ninja {ninja_remote}/4, cmake {cmake_remote}/4"
    );
    assert!(make_remote >= 2 && ninja_remote >= 2 && cmake_remote >= 2,
        "too few remote compiles: make {make_remote}, ninja {ninja_remote}, cmake {cmake_remote} of 4; worker dir {}",
        mesh.worker_dir.display());
}

/// `ccache --print-stats` as a map.
fn ccache_stats(
    mesh: &Mesh,
    dir: &Path,
    ccache_dir: &Path,
) -> std::collections::HashMap<String, u64> {
    let out = ok(
        mesh.command("ccache", dir)
            .env("CCACHE_DIR", ccache_dir)
            .arg("--print-stats")
            .output()
            .unwrap(),
        "ccache --print-stats",
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

fn hits(s: &std::collections::HashMap<String, u64>) -> u64 {
    s.get("direct_cache_hit").copied().unwrap_or(0)
        + s.get("preprocessed_cache_hit").copied().unwrap_or(0)
}

/// The make project with ccache in front of gcc and meshcc as its prefix, from clean.
fn ccache_build(mesh: &Mesh, dir: &Path, ccache_dir: &Path) -> Command {
    for name in OBJECTS.iter().chain(&["app"]) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let mut cmd = mesh.command("make", dir);
    cmd.args(["-s", "-j4", "CC=ccache gcc", "CXX=ccache g++"])
        .env("CCACHE_DIR", ccache_dir)
        .env("CCACHE_PREFIX", "meshcc")
        .env("MESHCC_LOG_LEVEL", "debug");
    cmd
}

#[test]
fn ccache_in_front_hits_on_the_second_build_and_never_caches_meshcc_words() {
    if !needs_root("remote compiles run jobs in a sandbox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mesh = Mesh::start(tmp.path());
    let local = tmp.path().join("local");
    local_make_build(&local);

    let dir = tmp.path().join("ccache");
    write_sources(&dir);
    std::fs::write(dir.join("Makefile"), MAKEFILE).unwrap();
    let cache = tmp.path().join("cache");
    let before = mesh.remote();
    ok(
        ccache_build(&mesh, &dir, &cache).output().unwrap(),
        "first ccache build",
    );
    let first_remote = mesh.remote() - before;
    assert_runs(&dir);
    assert_same_objects(&local, &dir, OBJECTS);
    let first = ccache_stats(&mesh, &dir, &cache);
    ok(
        ccache_build(&mesh, &dir, &cache).output().unwrap(),
        "second ccache build",
    );
    let second = ccache_stats(&mesh, &dir, &cache);
    assert_runs(&dir);
    assert_same_objects(&local, &dir, OBJECTS);
    eprintln!(
        "ccache: first build {first_remote} remote compiles, {} hits; second build {} hits",
        hits(&first),
        hits(&second) - hits(&first)
    );
    assert!(
        first_remote >= 3,
        "only {first_remote} of 4 compiles went remote behind ccache"
    );
    assert_eq!(hits(&first), 0);
    assert_eq!(hits(&second) - hits(&first), 4, "second build: {second:?}");
    assert_eq!(
        mesh.remote() - before,
        first_remote,
        "a cache hit went to the mesh"
    );

    // A worker whose assembler fails, printing its own words: every remote compile fails and
    // is compiled again locally. What ccache caches is the local compiler's warning only.
    let fresh = tmp.path().join("cache2");
    std::fs::write(
        dir.join("util.c"),
        format!("{UTIL_C}int unused_result(void) {{ int spare; return 0; }}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("Makefile"), MAKEFILE.replace("-O2", "-O2 -Wall")).unwrap();
    tamper_with_assembler(
        &mesh.worker_dir,
        tmp.path(),
        r#"fputs("a hostile worker's words\n", stderr); return 1;"#,
    );
    let before = mesh.remote();
    let wrapper_log = tmp.path().join("wrapper.log");
    let failing = ccache_build(&mesh, &dir, &fresh)
        .env("MESHCC_LOG", &wrapper_log)
        .output()
        .unwrap();
    let failing = ok(failing, "ccache build with failing remote compiles");
    let failed_remote = mesh.remote() - before;
    let replayed = ok(
        ccache_build(&mesh, &dir, &fresh).output().unwrap(),
        "ccache build from the cache",
    );
    assert_runs(&dir);
    assert_eq!(hits(&ccache_stats(&mesh, &dir, &fresh)), 4);
    assert!(failed_remote >= 1, "no remote compile was tried");
    let log = std::fs::read_to_string(&wrapper_log).unwrap();
    assert!(
        log.contains("the remote compile failed"),
        "no remote compile failed:\n{log}"
    );
    for (what, out) in [("first", &failing), ("cached", &replayed)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{what} build's stderr:\n{stderr}");
        assert!(
            stderr.contains("unused variable"),
            "{what} build lacks the compiler's warning"
        );
        assert!(
            !stderr.to_lowercase().contains("meshcc") && !stderr.contains("hostile"),
            "{what} build's stderr has words that are not the compiler's:\n{stderr}"
        );
    }
}

/// ccache's masquerade directory and meshcc's both in `PATH`, with `CCACHE_PREFIX=meshcc`, in
/// either order: ccache runs `meshcc /masq/gcc …` or meshcc runs ccache, and each finds the
/// real compiler; the program and objects are the plain build's. No agent: the point is the
/// wrapping, and meshcc then compiles locally.
#[test]
fn ccache_prefix_with_a_masquerade_directory_in_path_either_order() {
    let ccache_dir = Path::new("/usr/lib/ccache");
    assert!(
        ccache_dir.join("gcc").exists(),
        "ccache's masquerade directory {} is missing: run scripts/setup-system.sh",
        ccache_dir.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    local_make_build(&local);
    let masq = tmp.path().join("masq");
    ok(
        Command::new(bin("meshcc"))
            .arg("setup-masquerade")
            .arg(&masq)
            .output()
            .unwrap(),
        "meshcc setup-masquerade",
    );
    let system_path = std::env::var("PATH").unwrap_or_default();
    let orders = [
        (ccache_dir.to_path_buf(), masq.clone()),
        (masq.clone(), ccache_dir.to_path_buf()),
    ];
    for (i, (first, second)) in orders.iter().enumerate() {
        let dir = tmp.path().join(format!("order{i}"));
        write_sources(&dir);
        std::fs::write(dir.join("Makefile"), MAKEFILE).unwrap();
        ok(
            Command::new("make")
                .args(["-s", "CC=gcc", "CXX=g++"])
                .current_dir(&dir)
                .env(
                    "PATH",
                    format!("{}:{}:{system_path}", first.display(), second.display()),
                )
                .env("CCACHE_PREFIX", bin("meshcc"))
                .env("CCACHE_DIR", tmp.path().join("ccache"))
                .env("MESHCC_STATE_DIR", tmp.path().join("no-agent"))
                .output()
                .unwrap(),
            &format!("make with {} before {}", first.display(), second.display()),
        );
        assert_runs(&dir);
        assert_same_objects(&local, &dir, OBJECTS);
    }
}
