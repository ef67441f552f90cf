//! The benchmark installs the systems it compares itself, from Debian's packages, only when they
//! are missing: `icecc` (iceccd, icecc-scheduler), `distcc`, `vde2` for delayed links, `make`
//! and the compilers.
//!
//! Installing a daemon's package must not start the daemon on the machine: an iceccd in the
//! machine's own network namespace would broadcast for a scheduler on every interface. Where no
//! `policy-rc.d` exists, one that forbids starting services is put in place for the install.

use std::path::Path;
use std::process::{Command, Stdio};

use super::BenchError;

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Whether Debian package `name` is installed.
pub fn installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs those of `packages` that are missing (`apt-get install -y`; `apt-get update` first
/// if the install fails for want of package lists). Says what it installs on stderr.
pub fn ensure(packages: &[&str]) -> Result<(), BenchError> {
    let missing: Vec<String> = packages
        .iter()
        .filter(|p| !installed(p))
        .map(|p| p.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("mesh-lab bench: installing {}", missing.join(" "));
    let _guard = NoServiceStart::install()?;
    if apt_install(&missing).is_err() {
        apt(&["update"], &missing)?;
        apt_install(&missing)?;
    }
    Ok(())
}

fn apt_install(packages: &[String]) -> Result<(), BenchError> {
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(packages.iter().map(String::as_str));
    apt(&args, packages)
}

fn apt(args: &[&str], packages: &[String]) -> Result<(), BenchError> {
    let out = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Install {
            packages: packages.to_vec(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(BenchError::Install {
        packages: packages.to_vec(),
        detail: stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / "),
    })
}

/// A `policy-rc.d` that refuses every service start, removed again when dropped (only if this
/// process put it there).
struct NoServiceStart {
    ours: bool,
}

impl NoServiceStart {
    fn install() -> Result<Self, BenchError> {
        let path = Path::new(POLICY_RC_D);
        if path.exists() {
            return Ok(NoServiceStart { ours: false });
        }
        std::fs::write(
            path,
            "#!/bin/sh\n# mesh-lab bench: no service starts while installing\nexit 101\n",
        )
        .map_err(|e| BenchError::io("write", path, e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| BenchError::io("chmod", path, e))?;
        Ok(NoServiceStart { ours: true })
    }
}

impl Drop for NoServiceStart {
    fn drop(&mut self) {
        if self.ours {
            let _ = std::fs::remove_file(POLICY_RC_D);
        }
    }
}
