//! The agent's long-lived identity key and the optional mesh key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;

/// Loads `DIR/identity.key`, or creates it (owner-only) so the peer id survives restarts.
pub fn load_or_create(state_dir: &Path) -> Result<Keypair> {
    let path = state_dir.join("identity.key");
    match fs::read(&path) {
        Ok(bytes) => {
            let mode = fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "identity key {} is readable by others (mode {:o}); run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                );
            }
            Keypair::from_protobuf_encoding(&bytes).with_context(|| {
                format!(
                    "identity key {} is corrupt; delete it to make a new one",
                    path.display()
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let tmp = state_dir.join("identity.key.tmp");
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("cannot create the identity key {} (is the state directory writable?)", tmp.display()))?;
            f.write_all(&key.to_protobuf_encoding()?)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot read the identity key {} (run the agent as the user who owns the state directory)",
                path.display()
            )
        }),
    }
}

/// Derives the libp2p pre-shared key from a mesh key file.
///
/// Any secret works as the file's content (e.g. `head -c 32 /dev/urandom | base64`); it is
/// hashed, so its format does not matter, but surrounding white space is ignored so that an
/// editor's trailing newline does not split a mesh.
pub fn mesh_psk(path: &Path) -> Result<PreSharedKey> {
    let content = fs::read(path).with_context(|| {
        format!(
            "cannot read the mesh key {} given to --mesh-key",
            path.display()
        )
    })?;
    let secret = content.trim_ascii();
    if secret.len() < 16 {
        bail!(
            "mesh key {} holds {} bytes; use at least 16 random bytes",
            path.display(),
            secret.len()
        );
    }
    Ok(PreSharedKey::new(blake3::derive_key(
        "meshcc mesh key v1",
        secret,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        let mode = fs::metadata(dir.path().join("identity.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn world_readable_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join("identity.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }

    #[test]
    fn mesh_key_ignores_trailing_newline_and_differs_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::write(&a, "0123456789abcdef0123\n").unwrap();
        fs::write(&b, "0123456789abcdef0123").unwrap();
        fs::write(&c, "0123456789abcdef0124").unwrap();
        let fp = |p: &Path| mesh_psk(p).unwrap().fingerprint().to_string();
        assert_eq!(fp(&a), fp(&b));
        assert_ne!(fp(&a), fp(&c));
        fs::write(&c, "short").unwrap();
        assert!(mesh_psk(&c).is_err());
    }
}
