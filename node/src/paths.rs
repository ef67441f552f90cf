//! Where things are by default: the agent's state directory and its control socket.

use std::path::PathBuf;

/// The state directory: `MESHCC_STATE_DIR`, else `/var/lib/meshcc` for root, else
/// `$XDG_STATE_HOME/meshcc` (`~/.local/state/meshcc`).
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESHCC_STATE_DIR") {
        return dir.into();
    }
    if nix::unistd::geteuid().is_root() {
        return "/var/lib/meshcc".into();
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("meshcc")
}

/// The control socket a client talks to: `MESHCC_SOCKET`, else `agent.sock` in the default
/// state directory.
pub fn socket() -> PathBuf {
    match std::env::var_os("MESHCC_SOCKET") {
        Some(path) => path.into(),
        None => crate::agent::control::socket_path(&default_state_dir()),
    }
}
