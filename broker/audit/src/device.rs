//! Audit devices: where lines go (`file` or `stdout`), the chain state of each, and reopening.
//!
//! A line is built whole in memory (serialized once, hashed as it is written) and handed to
//! the sink in one `write` call, then flushed: the buffer is per line, so a line is never
//! split across writes and two devices never interleave inside a line. There is no `fsync`
//! per line: that would put a disk flush on every request's path. A line is in the page
//! cache when the request proceeds, so it survives a broker crash but not a power loss.
//!
//! A device whose sink failed drops its file handle and reopens on the next line, so a fixed
//! path (space freed, permissions restored) starts working again without an operator action.
//! [`Device::reopen`] (SIGHUP) reopens on demand, for log rotation.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::chain::{self, GENESIS};
use crate::entry::Entry;
use crate::redact::Redaction;

/// Why a device could not record a line.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit entry could not be serialized: {0}")]
    Format(#[from] serde_json::Error),
    #[error("audit salt is unusable")]
    InvalidSalt,
}

/// Where a device writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Appends to a file, created with `mode` (and set to it when it exists; 0 leaves the
    /// permissions alone, as Vault's `mode = "0000"`).
    File { path: PathBuf, mode: u32 },
    /// The process's standard output.
    Stdout,
}

/// One enabled device: its sink, its redaction, and its position in the chain.
#[derive(Debug)]
pub struct Device {
    sink: Sink,
    redaction: Redaction,
    /// Held for the write of one line (no await inside: the broker calls [`Device::log`]
    /// synchronously), so chain order is file order.
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// `None` until first opened, and again after a failure (so the next line reopens).
    file: Option<File>,
    /// The hash of the last line written; the next line's `prev_hash`.
    last_hash: String,
}

impl Device {
    /// A device that opens its sink on the first line. See [`Device::reopen`] to open now.
    pub fn new(sink: Sink, redaction: Redaction) -> Self {
        Self {
            sink,
            redaction,
            state: Mutex::new(State {
                file: None,
                last_hash: GENESIS.to_string(),
            }),
        }
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// `sys/audit-hash`: the value as this device would write it hashed (always hashed, even
    /// under `log_raw`, so the answer is the same whatever the log settings).
    pub fn hash(&self, input: &str) -> String {
        self.redaction.hasher().hash(input)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes and reopens the sink now: after log rotation (the old file was renamed, a new
    /// one starts at genesis), or to check that a path is writable before enabling it.
    pub fn reopen(&self) -> Result<(), AuditError> {
        let mut state = self.lock();
        state.file = None;
        self.open(&mut state)
    }

    /// Whether the sink is open (false after a failed write until the next success).
    pub fn is_open(&self) -> bool {
        matches!(self.sink, Sink::Stdout) || self.lock().file.is_some()
    }

    fn open(&self, state: &mut State) -> Result<(), AuditError> {
        let Sink::File { path, mode } = &self.sink else {
            return Ok(());
        };
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let mut file = open_append(path, *mode).map_err(io)?;
        let (last_line, torn) = last_line(&mut file).map_err(io)?;
        if torn {
            // Start our lines on a line of their own; the torn one stays for verify to report.
            file.write_all(b"\n").map_err(io)?;
        }
        state.last_hash = last_line
            .as_deref()
            .and_then(chain::claimed_hash)
            .unwrap_or_else(|| GENESIS.to_string());
        state.file = Some(file);
        Ok(())
    }

    /// Writes one entry as one chained line.
    pub fn log(&self, entry: &Entry<'_>) -> Result<(), AuditError> {
        // Serialization and hashing of values happen outside the lock; only the chain step
        // and the write are inside, so chain order is line order.
        let mut line = Vec::with_capacity(1024);
        entry.write_json(&self.redaction, &mut line)?;
        let mut state = self.lock();
        if state.file.is_none() {
            self.open(&mut state)?;
        }
        let hash = chain::seal(&mut line, &state.last_hash);
        let written = match (&self.sink, state.file.as_mut()) {
            (Sink::Stdout, _) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&line).and_then(|()| out.flush())
            }
            (Sink::File { .. }, Some(file)) => file.write_all(&line).and_then(|()| file.flush()),
            (Sink::File { .. }, None) => Err(std::io::Error::other("audit file is not open")),
        };
        match written {
            Ok(()) => {
                state.last_hash = hash;
                Ok(())
            }
            Err(source) => {
                // Drop the handle: the next line reopens the path, so a fixed path recovers.
                state.file = None;
                Err(AuditError::Io {
                    path: self.sink_path(),
                    source,
                })
            }
        }
    }

    fn sink_path(&self) -> PathBuf {
        match &self.sink {
            Sink::File { path, .. } => path.clone(),
            Sink::Stdout => PathBuf::from("stdout"),
        }
    }
}

fn open_append(path: &Path, mode: u32) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if mode != 0 {
            options.mode(mode);
        }
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    if mode != 0 {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// The last line of a file (without its newline) and whether the file ends mid-line. Reads
/// backwards in blocks, so reopening a large file costs one line, not the file.
fn last_line(file: &mut File) -> std::io::Result<(Option<Vec<u8>>, bool)> {
    const BLOCK: u64 = 8 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((None, false));
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut end = len;
    let mut torn = None;
    loop {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        let torn = *torn.get_or_insert(tail.last() != Some(&b'\n'));
        let content = if torn {
            &tail[..]
        } else {
            &tail[..tail.len() - 1]
        };
        if let Some(newline) = content.iter().rposition(|b| *b == b'\n') {
            return Ok((Some(content[newline + 1..].to_vec()), torn));
        }
        if start == 0 {
            return Ok((Some(content.to_vec()), torn));
        }
        end = start;
    }
}

#[cfg(test)]
mod tests;
