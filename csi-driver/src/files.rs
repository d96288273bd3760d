//! The volume's files on the node: a tmpfs mounted at the target path (so secrets never
//! touch the node's disk) and kubelet's atomic-writer layout inside it.
//!
//! Layout, as kubelet's `AtomicWriter` makes it for secret volumes:
//!
//! ```text
//! <target>/..2026_01_02_03_04_05.123456789/   one generation of files, with their modes
//! <target>/..data -> ..2026_01_02_…           swapped by rename(2), which is atomic
//! <target>/db-pass -> ..data/db-pass          stable names the app opens
//! <target>/..lessor-token                     the volume's broker token, 0600 (see lib.rs)
//! ```
//!
//! A reader that opens `db-pass` resolves `..data` once, so it sees either the old or the
//! new generation, never a mix; a reader that reads several files through `..data/` in one
//! go can still straddle a swap, exactly as with kubelet's own secret volumes.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

const DATA_LINK: &str = "..data";
const DATA_TMP_LINK: &str = "..data_tmp";
const TOKEN_FILE: &str = "..lessor-token";

/// How the target directory is backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backing {
    /// A tmpfs of our own mounted at the target: memory only, gone at unmount.
    Tmpfs,
    /// A plain directory on the node's disk: only with `--allow-plain-directory`.
    PlainDirectory,
    /// Provider mode: the Secrets Store CSI Driver owns the target and writes the files.
    Provider,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(
        "mounting a tmpfs at {0} is not permitted (the driver needs CAP_SYS_ADMIN); refusing to write secrets to the node's disk (--allow-plain-directory is for tests only)"
    )]
    MountDenied(PathBuf),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FilesError + 'a {
    move |source| FilesError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `path` is the root of a mount (its device differs from its parent's).
pub fn is_mount_point(path: &Path) -> bool {
    let (Ok(own), Some(Ok(parent))) = (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    own.is_dir() && own.dev() != parent.dev()
}

/// Makes `target` a directory backed as safely as the driver may: a fresh tmpfs, or (only
/// when allowed and mounting is refused) a plain 0750 directory. Already mounted targets are
/// kept as they are.
pub fn prepare_target(target: &Path, allow_plain_directory: bool) -> Result<Backing, FilesError> {
    let created = !target.exists();
    std::fs::create_dir_all(target).map_err(io("creating target directory", target))?;
    if is_mount_point(target) {
        return Ok(Backing::Tmpfs);
    }
    let result = mount_tmpfs(target, allow_plain_directory);
    if result.is_err() && created {
        let _ = std::fs::remove_dir(target);
    }
    result
}

fn mount_tmpfs(target: &Path, allow_plain_directory: bool) -> Result<Backing, FilesError> {
    use rustix::mount::{MountFlags, mount};
    let options = c"mode=0755,size=8m";
    match mount(
        "tmpfs",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        options,
    ) {
        Ok(()) => Ok(Backing::Tmpfs),
        Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) if allow_plain_directory => {
            tracing::warn!(
                target = %target.display(),
                "tmpfs mount not permitted; --allow-plain-directory: writing to a plain directory on the node's disk"
            );
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o750))
                .map_err(io("setting target permissions", target))?;
            Ok(Backing::PlainDirectory)
        }
        Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
            Err(FilesError::MountDenied(target.to_path_buf()))
        }
        Err(errno) => Err(FilesError::Io {
            what: "mounting tmpfs at",
            path: target.to_path_buf(),
            source: errno.into(),
        }),
    }
}

/// Unmounts (if mounted) and removes the target. A missing target is fine (idempotent).
pub fn remove_target(target: &Path) -> Result<(), FilesError> {
    if is_mount_point(target) {
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()).map_err(|errno| {
            FilesError::Io {
                what: "unmounting",
                path: target.to_path_buf(),
                source: errno.into(),
            }
        })?;
    }
    match std::fs::remove_dir_all(target) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io("removing target", target)(error)),
    }
}

/// One file's bytes and mode.
#[derive(Clone)]
pub struct FileContent {
    pub bytes: Zeroizing<Vec<u8>>,
    pub mode: u32,
}

impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileContent({} bytes, {:#o})",
            self.bytes.len(),
            self.mode
        )
    }
}

/// The files of the current generation, read back (for carrying unchanged files into the
/// next generation, also after a driver restart). Empty when nothing was written yet.
pub fn read_current(target: &Path) -> Result<BTreeMap<String, FileContent>, FilesError> {
    let data = target.join(DATA_LINK);
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(&data) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(error) => return Err(io("reading", &data)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(io("reading", &data))?;
        let path = entry.path();
        let mode = entry
            .metadata()
            .map_err(io("reading", &path))?
            .permissions()
            .mode()
            & 0o777;
        let bytes = Zeroizing::new(std::fs::read(&path).map_err(io("reading", &path))?);
        files.insert(
            entry.file_name().to_string_lossy().into_owned(),
            FileContent { bytes, mode },
        );
    }
    Ok(files)
}

/// Writes a new generation holding exactly `files`, swaps `..data` to it, links every name,
/// and removes the previous generation and names no longer present.
pub fn write_generation(
    target: &Path,
    files: &BTreeMap<String, FileContent>,
    stamp: &str,
) -> Result<(), FilesError> {
    let generation_name = format!("..{stamp}");
    let generation = target.join(&generation_name);
    std::fs::create_dir(&generation).map_err(io("creating generation", &generation))?;
    std::fs::set_permissions(&generation, std::fs::Permissions::from_mode(0o755))
        .map_err(io("setting permissions of", &generation))?;
    for (name, content) in files {
        let path = generation.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(content.mode)
            .open(&path)
            .map_err(io("creating", &path))?;
        file.write_all(&content.bytes)
            .map_err(io("writing", &path))?;
        // The umask may have narrowed the mode given to open(2).
        file.set_permissions(std::fs::Permissions::from_mode(content.mode))
            .map_err(io("setting permissions of", &path))?;
    }
    let tmp_link = target.join(DATA_TMP_LINK);
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&generation_name, &tmp_link).map_err(io("linking", &tmp_link))?;
    std::fs::rename(&tmp_link, target.join(DATA_LINK)).map_err(io("swapping ..data in", target))?;

    for name in files.keys() {
        let link = target.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_LINK).join(name), &link)
                .map_err(io("linking", &link))?;
        }
    }
    // Clean-up after the swap: failures here leave garbage, never a wrong view.
    let entries = std::fs::read_dir(target).map_err(io("listing", target))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_real_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if name.starts_with("..") {
            if is_real_dir && name != generation_name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if !files.contains_key(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes` in one step (a 0600 `<path>.tmp`, synced, then renamed over
/// it), so a crash leaves the old content or the new, never a torn file.
pub fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Stores the volume's broker token on the target's tmpfs, readable by root only.
pub fn store_token(target: &Path, token: &str) -> Result<(), FilesError> {
    let path = target.join(TOKEN_FILE);
    replace_private(&path, token.as_bytes()).map_err(io("storing the token in", &path))
}

pub fn load_token(target: &Path) -> Option<Zeroizing<String>> {
    std::fs::read_to_string(target.join(TOKEN_FILE))
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests;
