//! The job's own layer on the host: its inputs hard-linked at their jail paths, plus the empty
//! directories and files the jail's mounts need as mount points.
//!
//! Hard links cost one directory entry per input, whatever the file's size, and share the
//! store's inodes: the layer is only ever a read-only overlay lower, so nothing can write
//! through it (a writable directory copies a file up into its tmpfs before changing it). A
//! store on another filesystem falls back to copying, counted in [`Layer::copied`].

use std::fs::{self, DirBuilder, File};
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

use super::{JailError, DEV_NODES};
use crate::spec::JobSpec;

/// The job's layer on the host.
#[derive(Debug)]
pub struct Layer {
    /// The layer's directory on the host.
    pub dir: PathBuf,
    /// Inputs hard-linked.
    pub linked: usize,
    /// Inputs copied because the store is on another filesystem.
    pub copied: usize,
}

fn failed(path: &Path, err: impl std::fmt::Display) -> JailError {
    JailError::Materialise {
        path: path.display().to_string(),
        message: err.to_string(),
    }
}

/// Gives the directories at and below each writable directory of the layer to `owner`, the
/// job's outside identity. The writable overlays use them as their lower layer: a directory
/// owned by an id the job's user namespace does not map (root's, when the helper starts as
/// root) can be neither written nor copied up, so `cc -o x.o` in a working directory below
/// `/tmp` would fail. Files keep their owner: they are hard links to the store's blobs.
pub fn hand_over(layer: &Path, spec: &JobSpec, owner: (u32, u32)) -> Result<(), JailError> {
    fn walk(dir: &Path, owner: (u32, u32)) -> Result<(), JailError> {
        std::os::unix::fs::lchown(dir, Some(owner.0), Some(owner.1)).map_err(|e| failed(dir, e))?;
        for entry in fs::read_dir(dir).map_err(|e| failed(dir, e))? {
            let entry = entry.map_err(|e| failed(dir, e))?;
            if entry
                .file_type()
                .map_err(|e| failed(&entry.path(), e))?
                .is_dir()
            {
                walk(&entry.path(), owner)?;
            }
        }
        Ok(())
    }
    for dir in spec.writable_dirs() {
        walk(&dir.under(layer), owner)?;
    }
    Ok(())
}

/// Builds `<job_dir>/layer` for `spec`, and `<job_dir>/jail`, a mount point for the jail.
///
/// `spec.job_dir` must exist; the layer inside it must not.
pub fn materialise(spec: &JobSpec) -> Result<Layer, JailError> {
    match fs::metadata(&spec.toolchain) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(failed(&spec.toolchain, "the toolchain is not a directory")),
        Err(e) => return Err(failed(&spec.toolchain, e)),
    }
    let dir = spec.job_dir.join("layer");
    let mut dirs = DirBuilder::new();
    dirs.mode(0o755);
    dirs.create(&dir).map_err(|e| failed(&dir, e))?;
    let jail = spec.job_dir.join("jail");
    dirs.create(&jail).map_err(|e| failed(&jail, e))?;
    dirs.recursive(true);
    let (mut linked, mut copied) = (0, 0);
    for input in &spec.inputs {
        let dst = input.path.under(&dir);
        if let Some(parent) = dst.parent() {
            dirs.create(parent).map_err(|e| failed(parent, e))?;
        }
        match fs::hard_link(&input.source, &dst) {
            Ok(()) => linked += 1,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                fs::copy(&input.source, &dst).map_err(|e| failed(&input.source, e))?;
                copied += 1;
            }
            Err(e) => return Err(failed(&input.source, e)),
        }
    }
    // Every writable directory must exist in the jail, the nested ones too (a working
    // directory below `/tmp` that holds no input, as in `make -C /tmp/build`): only the
    // outermost become mounts, the others are directories of their layer.
    let writable = spec.writable_dirs();
    let wanted = writable.iter().chain(&spec.writable).chain([&spec.cwd]);
    for mount_point in wanted.map(|w| w.under(&dir)) {
        dirs.create(&mount_point)
            .map_err(|e| failed(&mount_point, e))?;
    }
    for d in ["proc", "dev"] {
        dirs.create(dir.join(d))
            .map_err(|e| failed(&dir.join(d), e))?;
    }
    for node in DEV_NODES {
        let path = dir.join("dev").join(node);
        File::create(&path).map_err(|e| failed(&path, e))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = dir.join("dev").join(name);
        symlink(target, &path).map_err(|e| failed(&path, e))?;
    }
    Ok(Layer {
        dir,
        linked,
        copied,
    })
}

/// Removes a job directory built by [`materialise`]; hard links only, so this is cheap.
pub fn remove_job_dir(job_dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(job_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::sample;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn inputs_are_hard_links_and_mount_points_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        fs::create_dir_all(&store).unwrap();
        fs::create_dir_all(tmp.path().join("tc/usr/bin")).unwrap();
        let mut spec = sample();
        spec.toolchain = tmp.path().join("tc");
        spec.job_dir = tmp.path().join("job");
        fs::create_dir(&spec.job_dir).unwrap();
        for (i, input) in spec.inputs.iter_mut().enumerate() {
            input.source = store.join(format!("blob{i}"));
            fs::write(&input.source, format!("content {i}")).unwrap();
        }
        let layer = materialise(&spec).unwrap();
        assert_eq!((layer.linked, layer.copied), (2, 0));
        let linked = layer.dir.join("usr/include/stdio.h");
        assert_eq!(fs::read(&linked).unwrap(), b"content 0");
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&linked), ino(&spec.inputs[0].source));
        for d in ["home/u/p", "home/u/obj", "tmp", "proc", "dev"] {
            assert!(layer.dir.join(d).is_dir(), "{d}");
        }
        assert!(layer.dir.join("dev/null").is_file());
        assert!(spec.job_dir.join("jail").is_dir());
        // A second materialise into the same job dir is refused, not merged.
        assert!(matches!(
            materialise(&spec),
            Err(JailError::Materialise { .. })
        ));
        remove_job_dir(&spec.job_dir).unwrap();
        assert!(spec.inputs[0].source.exists());
    }
}
