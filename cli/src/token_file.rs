//! The token file: `~/.lessor-token`, where `lessor login` keeps the token for later commands.
//!
//! The file is written atomically (a sibling temporary file, then `rename`) and is created with
//! mode 0600 from the first byte, so there is no window in which another user could read it or
//! a reader could see half a token.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::CliError;
use crate::sensitive::SecretText;

pub const FILE_NAME: &str = ".lessor-token";

/// Where the token file lives for this `$HOME`.
pub fn path(home: Option<&str>) -> Result<PathBuf, CliError> {
    match home {
        Some(home) => Ok(Path::new(home).join(FILE_NAME)),
        None => Err(CliError::Setup(
            "HOME is not set, so there is no token file to use".into(),
        )),
    }
}

/// The stored token, or `None` when there is no file or it is empty.
pub fn read(path: &Path) -> Result<Option<SecretText>, CliError> {
    match fs::read_to_string(path) {
        Ok(contents) => {
            let contents = SecretText::new(contents);
            let token = contents.expose().trim();
            Ok((!token.is_empty()).then(|| SecretText::new(token.to_string())))
        }
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CliError::File {
            action: "Error reading the token file",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Replaces the token file with `token`, readable by its owner only.
pub fn write(path: &Path, token: &SecretText) -> Result<(), CliError> {
    let file_error = |source| CliError::File {
        action: "Error writing the token file",
        path: path.to_path_buf(),
        source,
    };
    let (temp_path, mut file) = create_temp_beside(path).map_err(file_error)?;
    let written = file
        .write_all(token.expose().as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temp_path, path));
    if let Err(err) = written {
        // Best effort: the temporary file holds the token and must not linger.
        let _ = fs::remove_file(&temp_path);
        return Err(file_error(err));
    }
    Ok(())
}

fn create_temp_beside(path: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| FILE_NAME.to_string());
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let candidate = dir.join(format!(".{name}.tmp-{pid}-{attempt}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate)
        {
            Ok(file) => return Ok((candidate, file)),
            // A leftover from a crashed run with the same pid: try the next name.
            Err(err) if err.kind() == ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn path_is_under_home() {
        assert_eq!(
            path(Some("/home/op")).unwrap(),
            PathBuf::from("/home/op/.lessor-token")
        );
        assert!(path(None).is_err());
    }

    #[test]
    fn written_token_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        write(&file, &SecretText::new("hvs.abc".into())).unwrap();
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read(&file).unwrap().unwrap().expose(), "hvs.abc");
    }

    #[test]
    fn rewriting_replaces_a_world_readable_file_with_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        fs::write(&file, "old-token-that-is-longer").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        write(&file, &SecretText::new("new".into())).unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read(&file).unwrap().unwrap().expose(), "new");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_or_blank_file_means_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        assert!(read(&file).unwrap().is_none());
        fs::write(&file, "  \n").unwrap();
        assert!(read(&file).unwrap().is_none());
        fs::write(&file, "hvs.x\n").unwrap();
        assert_eq!(read(&file).unwrap().unwrap().expose(), "hvs.x");
    }

    #[test]
    fn write_into_a_missing_directory_fails_without_leaking_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("absent").join(FILE_NAME);
        let err = write(&file, &SecretText::new("hvs.secret-value".into())).unwrap_err();
        assert!(!err.to_string().contains("secret-value"));
    }
}
