//! Files written so that a crash never leaves a half-written one: a temporary file beside the
//! target, synced, then renamed over it; a set of files published whole (`publish`, with its
//! manifest and the invariant it keeps).

use crate::error::{Error, Field, Result};
use crate::gpu::Gpu;
use crate::gpu::report::ProfileReport;
use std::io::Write;
use std::path::Path;

mod json;
mod manifest;
mod publish;
pub use json::{JsonError, parse_json, parse_json_at, read_json, read_jsonl, read_jsonl_checked};
pub use manifest::{Entry, MANIFEST, Manifest, file_entry, read_manifest, sha256_hex};
pub use publish::{check_set, needs_recovery, publish, publish_from, recover};

/// `bytes` written to `path` (a working file, not a deliverable: `write_atomic` or `publish`
/// for those), a failure naming the file (a full disk says which).
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |source: std::io::Error| Error::Write {
        path: path.display().to_string(),
        source,
    };
    // A temporary name of our own (created exclusively, so a user's file is never touched),
    // removed again when the write fails (a full disk leaves nothing behind).
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let (tmp, mut f) = (0..1000)
        .find_map(|i| {
            let t = dir
                .unwrap_or(Path::new("."))
                .join(format!(".{name}.tinynas-{}-{i}.tmp", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&t)
            {
                Ok(f) => Some(Ok((t, f))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| Err(std::io::Error::other("no free temporary name")))
        .map_err(err)?;
    let done = f
        .write_all(bytes)
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// The record of the files this tool wrote into a shared output folder (`search --out`,
/// `space --out`): a rerun may replace them, never a file of the user's.
const OUTPUTS: &str = ".tinynas-outputs.json";

/// Claim `names` in `dir` (named by `field`) before writing them: a name that exists there and
/// was not written by this tool before is refused, the rest are recorded as ours.
pub fn claim_outputs(dir: &Path, field: Field, names: &[&str]) -> Result<()> {
    check_outputs(dir, field, names)?;
    create_dir(dir, field)?;
    let mut ours = owned_outputs(dir);
    for n in names {
        if !ours.iter().any(|o| o == n) {
            ours.push(n.to_string());
        }
    }
    write_atomic(
        &dir.join(OUTPUTS),
        serde_json::to_string(&ours).expect("names").as_bytes(),
    )
}

/// `claim_outputs`'s refusal without its writes: checked before a command touches the disk.
pub fn check_outputs(dir: &Path, field: Field, names: &[&str]) -> Result<()> {
    check_out_dir(dir, field)?;
    let record = dir.join(OUTPUTS);
    let mut ours: Vec<String> = if record.exists() {
        read_json(&record, "record of the files tinynas wrote there").map_err(|e| {
            Error::bad(
                field,
                dir.display(),
                format!("{e}; delete it if no file there is your own"),
            )
        })?
    } else {
        Vec::new()
    };
    if let Some(m) =
        read_manifest(dir).map_err(|e| Error::bad(field, dir.display(), e.to_string()))?
    {
        for r in m.sets.values() {
            ours.extend(r.files.iter().map(|f| f.name.clone()));
        }
    }
    let foreign: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| dir.join(n).exists() && !ours.iter().any(|o| o == n))
        .collect();
    if !foreign.is_empty() {
        return Err(Error::bad(
            field,
            dir.display(),
            format!(
                "{} exist there and were not written by tinynas; move them or choose another folder",
                foreign.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The names this tool recorded as its own in `dir` (`claim_outputs`, and the sets its
/// manifest names).
pub fn owned_outputs(dir: &Path) -> Vec<String> {
    let mut ours: Vec<String> =
        read_json(&dir.join(OUTPUTS), "record of outputs").unwrap_or_default();
    if let Ok(Some(m)) = read_manifest(dir) {
        for r in m.sets.values() {
            ours.extend(r.files.iter().map(|f| f.name.clone()));
        }
    }
    ours.sort();
    ours.dedup();
    ours
}

/// A trace file (named by `field`): where a trace will be written. Refused, before any work,
/// when it is a folder or an existing file that is not a trace this tool wrote (a run's
/// `state.json`, say).
pub fn check_trace_path(path: &Path, field: Field) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::bad(
            field,
            path.display(),
            format!("{why}; choose another path"),
        ))
    };
    if path.is_dir() {
        return bad("is a folder");
    }
    if path.exists() {
        let is_trace = std::fs::read(path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| parse_json_at::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v.get("traceEvents").is_some());
        if !is_trace {
            return bad("exists and is not a trace written by tinynas's profiler");
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        check_out_dir(parent, field)?;
    }
    Ok(())
}

/// Refuse to hold `bytes` in memory (for `what`, naming its field) when they are over the
/// machine's available memory, before allocating them. Where the available memory cannot be
/// read, the check passes.
pub fn check_memory(bytes: u128, what: &str) -> Result<()> {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u128>().ok())
            .map(|kib| kib * 1024)
    });
    match available {
        Some(a) if bytes > a => Err(Error::Invalid(format!(
            "{what} needs {} MiB of memory; this machine has {} MiB available",
            bytes >> 20,
            a >> 20
        ))),
        _ => Ok(()),
    }
}

/// A folder this process writes into, held with an exclusive advisory lock on `.tinynas.lock`
/// inside it so that a second writer is refused; the lock goes with the process, even when it
/// is killed. The lock file itself stays (removing it would let two writers lock two files).
pub struct DirLock {
    _file: std::fs::File,
}

pub const LOCK_FILE: &str = ".tinynas.lock";

/// The error of a folder whose lock another process holds: its PID and command line, as the
/// holder wrote them into the lock file.
fn held(dir: &Path, field: Field) -> Error {
    let holder = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap_or_default();
    let holder = holder.trim();
    Error::bad(
        field,
        dir.display(),
        format!(
            "another tinynas process is writing there ({}); wait for it to finish or choose another folder",
            if holder.is_empty() {
                "PID unknown".to_string()
            } else {
                holder.to_string()
            }
        ),
    )
}

/// `lock_dir`'s refusal of a folder another process holds, checked without creating or
/// writing anything (the folder may not exist yet): for a command's checks before it
/// touches the disk. The lock itself is taken later with `lock_dir`.
pub fn check_lock(dir: &Path, field: Field) -> Result<()> {
    let Ok(file) = std::fs::File::open(dir.join(LOCK_FILE)) else {
        return Ok(());
    };
    match file.try_lock_shared() {
        Err(std::fs::TryLockError::WouldBlock) => Err(held(dir, field)),
        // Free (released as the file closes), or not lockable here: lock_dir says why.
        _ => Ok(()),
    }
}

/// Create `dir` (named by `field`) if needed and lock it for writing.
pub fn lock_dir(dir: &Path, field: Field) -> Result<DirLock> {
    create_dir(dir, field)?;
    let path = dir.join(LOCK_FILE);
    let err = |e: std::io::Error| {
        Error::bad(
            field,
            dir.display(),
            format!(
                "cannot open the lock file {LOCK_FILE} there ({e}); choose a folder you can write to"
            ),
        )
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
        Err(std::fs::TryLockError::WouldBlock) => return Err(held(dir, field)),
        Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
    }
    // A file of that name that this tool did not write (ours start "PID ") is the user's: kept.
    let mut before = String::new();
    {
        use std::io::Read;
        let _ = (&file).take(64).read_to_string(&mut before);
    }
    if !before.is_empty() && !before.starts_with("PID ") {
        return Err(Error::bad(
            field,
            dir.display(),
            format!(
                "{LOCK_FILE} there was not written by tinynas (tinynas keeps its writer's lock in that file); move it or choose another folder"
            ),
        ));
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
    // Whoever locks a folder first finishes a publish a kill interrupted there, or removes
    // what an uncommitted one left (io::publish).
    publish::recover(dir)?;
    Ok(DirLock { _file: file })
}

/// The output folder `dir` (named by `field`) is a folder or can become one: checked before
/// any work, without creating it.
pub fn check_out_dir(dir: &Path, field: Field) -> Result<()> {
    match dir.ancestors().find(|a| a.exists()) {
        Some(a) if !a.is_dir() => Err(Error::bad(
            field,
            dir.display(),
            format!(
                "{} is a file, not a folder; choose a folder",
                if a == dir {
                    "it".to_string()
                } else {
                    a.display().to_string()
                }
            ),
        )),
        _ => Ok(()),
    }
}

/// Create the output folder `dir` (named by `field`), with an error that names both when it
/// cannot be made (a file in the way, no permission).
pub fn create_dir(dir: &Path, field: Field) -> Result<()> {
    check_out_dir(dir, field)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::bad(
            field,
            dir.display(),
            format!("cannot create the folder: {e}"),
        )
    })
}

/// `items` as JSON lines.
pub fn jsonl_bytes<T: serde::Serialize>(items: &[T]) -> Vec<u8> {
    let mut text = String::new();
    for it in items {
        text.push_str(&serde_json::to_string(it).expect("serialisable"));
        text.push('\n');
    }
    text.into_bytes()
}

/// `items` as JSON lines, written atomically to `path`.
pub fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<()> {
    write_atomic(path, &jsonl_bytes(items))
}

/// Stop `gpu`'s profiling, write its Chrome/Perfetto trace to `trace` (atomically) and hand
/// back the per-kernel report.
pub fn finish_profiling(gpu: &Gpu, trace: &Path) -> Result<ProfileReport> {
    let p = gpu.stop_profiling()?;
    let json =
        serde_json::to_string(&p.trace_json()).map_err(|err| Error::Invalid(err.to_string()))?;
    // `check_trace_path` accepted a folder that can be made; make it.
    if let Some(parent) = trace.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent, Field::Profile)?;
    }
    write_atomic(trace, json.as_bytes())?;
    Ok(p.report())
}
