//! Files written so that a crash never leaves a half-written one: a temporary file beside the
//! target, synced, then renamed over it.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |source: std::io::Error| Error::Write {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A folder this process writes into, held with an exclusive advisory lock on `.tinynas.lock`
/// inside it so that a second writer is refused; the lock goes with the process, even when it
/// is killed. The lock file itself stays (removing it would let two writers lock two files).
pub struct DirLock {
    pub path: std::path::PathBuf,
    _file: std::fs::File,
}

pub const LOCK_FILE: &str = ".tinynas.lock";

/// Create `dir` (named by the command-line `flag`) if needed and lock it for writing.
pub fn lock_dir(dir: &Path, flag: &str) -> Result<DirLock> {
    create_dir(dir, flag)?;
    let path = dir.join(LOCK_FILE);
    let err = |e: std::io::Error| Error::Data {
        path: path.display().to_string(),
        msg: format!("cannot open the lock file: {e}"),
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(Error::Invalid(format!(
                "{flag} {}: another tinynas process is writing there ({}); wait for it to finish or choose another folder",
                dir.display(),
                if holder.is_empty() {
                    "PID unknown".to_string()
                } else {
                    holder.to_string()
                }
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
    }
    let me = format!(
        "PID {}: {}",
        std::process::id(),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let write = |f: &mut std::fs::File| -> std::io::Result<()> {
        use std::io::Seek;
        f.set_len(0)?;
        f.seek(std::io::SeekFrom::Start(0))?;
        f.write_all(me.as_bytes())?;
        f.flush()
    };
    write(&mut file).map_err(err)?;
    Ok(DirLock {
        path: dir.to_path_buf(),
        _file: file,
    })
}

/// The output folder `dir` (named by `flag`) is a folder or can become one: checked before
/// any work, without creating it.
pub fn check_out_dir(dir: &Path, flag: &str) -> Result<()> {
    match dir.ancestors().find(|a| a.exists()) {
        Some(a) if !a.is_dir() => Err(Error::Invalid(format!(
            "{flag} {}: {} is a file, not a folder; choose a folder",
            dir.display(),
            if a == dir {
                "it".to_string()
            } else {
                a.display().to_string()
            }
        ))),
        _ => Ok(()),
    }
}

/// Create the output folder `dir` (named by `flag`), with an error that names both when it
/// cannot be made (a file in the way, no permission).
pub fn create_dir(dir: &Path, flag: &str) -> Result<()> {
    check_out_dir(dir, flag)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Invalid(format!(
            "{flag} {}: cannot create the folder: {e}",
            dir.display()
        ))
    })
}

/// The JSON-lines file at `path` as values of `T`, one per line (blank lines skipped; a missing
/// file is empty); a line that does not parse is an error naming the file and its line number,
/// never a silent skip. With `torn_tail`, a last line without its newline that does not parse
/// (an append cut short by a kill) is dropped instead: only for files the caller rewrites.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path, torn_tail: bool) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Data {
                path: path.display().to_string(),
                msg: e.to_string(),
            });
        }
    };
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str(line);
        if parsed.is_err() && torn_tail && i + 1 == lines.len() && !text.ends_with('\n') {
            break;
        }
        let v = parsed.map_err(|e| Error::Data {
            path: path.display().to_string(),
            msg: format!(
                "line {} is corrupt ({e}); repair or delete that line (the other lines are intact)",
                i + 1
            ),
        })?;
        out.push(v);
    }
    Ok(out)
}

/// `items` as JSON lines, written atomically to `path`.
pub fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let mut text = String::new();
    for it in items {
        text.push_str(&serde_json::to_string(it).expect("serialisable"));
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}
