//! Shared test machinery: the root check, the probe, a store, toolchain trees, specs.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use meshcc_sandbox::{Identity, Input, JailPath, JobSpec, Limits};
use serde_bytes::ByteBuf;

/// Whether a test that needs root and user namespaces can run here. Where it cannot: under
/// `CI` the test fails loudly; elsewhere it says so on the terminal (past the test harness's
/// capture) and returns false.
pub fn can_jail(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let userns = fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .map(|s| s.trim() != "0")
        .unwrap_or(false);
    if root && userns {
        return true;
    }
    let why = if root { "user namespaces" } else { "root" };
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs {why}, and CI is set: this test must run in CI");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {test} needs {why}");
    false
}

/// Writes past the test harness's capture, for figures a run should show.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The helper binary, as built by cargo.
pub fn helper() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshcc-sandbox-helper"))
}

pub fn jp(s: impl AsRef<Path>) -> JailPath {
    JailPath::new(s).unwrap()
}

pub fn bytes(s: &str) -> ByteBuf {
    ByteBuf::from(s.as_bytes().to_vec())
}

/// A scratch area: a content store, job directories, and an empty toolchain.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    next: std::cell::Cell<u32>,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("store")).unwrap();
        fs::create_dir_all(dir.path().join("empty-toolchain")).unwrap();
        Fixture {
            dir,
            next: std::cell::Cell::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `src` into the store as a new blob with `mode`, as the agent's store would.
    pub fn blob(&self, src: &Path, mode: u32) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        let dst = self.path().join("store").join(format!("blob{n}"));
        fs::copy(src, &dst).unwrap();
        fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).unwrap();
        dst
    }

    /// A job directory path that does not exist yet.
    pub fn job_dir(&self) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.path().join(format!("job{n}"))
    }

    /// A spec running the probe with `args` in `/build/proj`, under test-sized limits.
    pub fn probe_spec(&self, args: &[&str]) -> JobSpec {
        let probe = self.blob(probe(), 0o755);
        let mut argv = vec![bytes("probe")];
        argv.extend(args.iter().map(|a| bytes(a)));
        JobSpec {
            toolchain: self.path().join("empty-toolchain"),
            job_dir: self.job_dir(),
            inputs: vec![Input {
                path: jp("/opt/probe/probe"),
                source: probe,
            }],
            cwd: jp("/build/proj"),
            writable: vec![],
            program: jp("/opt/probe/probe"),
            argv,
            env: vec![(bytes("PATH"), bytes("/usr/bin:/bin"))],
            outputs: vec![],
            limits: Limits {
                wall_ms: 20_000,
                cpu_secs: 20,
                ..Limits::default()
            },
            identity: Identity::default(),
        }
    }
}

/// The probe, compiled `-static` once per test run.
pub fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("meshcc-sandbox-probe-{}", std::process::id()));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe.c");
        let status = Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("gcc runs");
        assert!(status.success(), "compiling the probe failed");
        out
    })
}

/// Normalises `.` and `..` lexically, as the compiler's own paths are reported.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A toolchain tree under `root` mirroring host files at their absolute paths.
pub struct Tree {
    pub root: PathBuf,
    done: BTreeSet<PathBuf>,
}

impl Tree {
    pub fn new(root: PathBuf) -> Self {
        fs::create_dir_all(&root).unwrap();
        Tree {
            root,
            done: BTreeSet::new(),
        }
    }

    /// Adds the host file `path`: symlinks on the way (usrmerge's `/lib -> usr/lib`) become
    /// the same symlinks, the file itself a hard link (a copy across filesystems).
    pub fn add(&mut self, path: &Path) {
        let path = normalise(path);
        if !self.done.insert(path.clone()) {
            return;
        }
        let mut walked = PathBuf::from("/");
        let components: Vec<_> = path.components().skip(1).collect();
        for (i, c) in components.iter().enumerate() {
            walked.push(c);
            let meta = fs::symlink_metadata(&walked).unwrap_or_else(|e| panic!("{walked:?}: {e}"));
            let here = self.root.join(walked.strip_prefix("/").unwrap());
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&walked).unwrap();
                if fs::symlink_metadata(&here).is_err() {
                    fs::create_dir_all(here.parent().unwrap()).unwrap();
                    symlink(&target, &here).unwrap();
                }
                let resolved = walked.parent().unwrap().join(&target);
                let rest: PathBuf = components[i + 1..].iter().collect();
                self.add(&resolved.join(rest));
                return;
            }
            if meta.is_dir() {
                fs::create_dir_all(&here).unwrap();
            } else if fs::symlink_metadata(&here).is_err() {
                fs::create_dir_all(here.parent().unwrap()).unwrap();
                if fs::hard_link(&walked, &here).is_err() {
                    fs::copy(&walked, &here).unwrap();
                }
            }
        }
    }

    /// Adds an executable with its shared libraries and their loader, as `ldd` lists them.
    pub fn add_elf(&mut self, path: &Path) {
        self.add(path);
        let out = Command::new("ldd").arg(path).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let lib = line
                .split("=>")
                .last()
                .and_then(|s| s.split_whitespace().next())
                .filter(|s| s.starts_with('/'));
            if let Some(lib) = lib {
                self.add(Path::new(lib));
            }
        }
    }
}

/// A gcc 12 toolchain tree: driver, cc1, as, and their libraries.
pub fn gcc_toolchain(root: PathBuf) -> Tree {
    let mut tree = Tree::new(root);
    tree.add_elf(Path::new("/usr/bin/gcc"));
    tree.add_elf(Path::new("/usr/bin/as"));
    let libexec = Path::new("/usr/lib/gcc/x86_64-linux-gnu/12");
    for tool in ["cc1", "collect2", "lto-wrapper"] {
        tree.add_elf(&libexec.join(tool));
    }
    tree
}

/// The files `gcc -M` says a compile reads, as absolute normalised paths.
pub fn dependencies(cwd: &Path, args: &[&str]) -> Vec<PathBuf> {
    let out = Command::new("gcc")
        .args(args)
        .arg("-M")
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (_, deps) = text.split_once(':').unwrap();
    deps.split_whitespace()
        .filter(|d| *d != "\\")
        .map(|d| normalise(&cwd.join(d)))
        .collect()
}
