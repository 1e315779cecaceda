//! Publishing a set of files whole into a folder the user named, so that a kill at any instant
//! or a full disk leaves it holding the old set or the new one, never half of each.
//!
//! A folder's sets are recorded in its manifest, `.tinynas-manifest.json`: for each set (an
//! export, a search, a space ranking, a run's checkpoint) the transaction that wrote it and
//! each file's name, size and SHA-256, with the command that wrote it (and, where the command
//! gives them, the files it was made from). Publishing a set:
//!
//! 1. every new file is written under a temporary name `.tinynas-new-<txn>.<name>` in the
//!    folder and fsynced (a failure removes the temporaries: the old set stands);
//! 2. the new manifest is written under a temporary name and fsynced, the folder is fsynced, the
//!    manifest is renamed over `.tinynas-manifest.json` (**the commit point**) and the folder is
//!    fsynced again;
//! 3. the files of the old set that the new one does not hold (and the stale names the caller
//!    owns) are removed, then each temporary file is renamed to its name, and the folder is
//!    fsynced.
//!
//! **Invariant**: the visible files of a set are, byte for byte, the files the manifest names
//! for it, except while temporaries of the manifest's own transaction exist; and those are
//! finished (step 3 done again, which is idempotent) by whoever next locks the folder
//! (`lock_dir` calls `recover`) or reads the set (`check_set`), before anything else. Temporaries
//! of any other transaction belong to an uncommitted publish and are removed, unread, as are the
//! temporaries `write_atomic` left behind when its process was killed (its PID no longer runs). Nothing else in the folder is touched:
//! only names this program created (its temporaries, and the names a manifest says it wrote)
//! are ever renamed over or removed.
//!
//! A folder with no manifest, or a set it does not name (runs written before manifests
//! existed, the committed `models/`), is read as it is.

use crate::error::{Error, Field, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::manifest::{Entry, MANIFEST, SetRecord, read_manifest, sha256_hex};

const NEW_PREFIX: &str = ".tinynas-new-";

/// Test hook: with `TINYNAS_TEST_ABORT_AFTER_FILE_OPS=k` in the environment, the process aborts
/// (as a SIGKILL would stop it) right after the k-th file operation of a publish. The
/// crash-consistency tests (tests/publish_crash.rs) use it; nothing else should set it.
fn file_op() {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let limit = LIMIT.get_or_init(|| {
        std::env::var("TINYNAS_TEST_ABORT_AFTER_FILE_OPS")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if *limit == Some(n) {
        std::process::abort();
    }
}

fn write_err(path: &Path, source: std::io::Error) -> Error {
    Error::Write {
        path: path.display().to_string(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| write_err(dir, e))?;
    file_op();
    Ok(())
}

fn temp_name(txn: &str, name: &str) -> String {
    format!("{NEW_PREFIX}{txn}.{name}")
}

/// (txn, name) of a publish's temporary file name.
fn parse_temp(file: &str) -> Option<(&str, &str)> {
    file.strip_prefix(NEW_PREFIX)?.split_once('.')
}

/// A temporary `write_atomic` names `.<name>.tinynas-<pid>-<i>.tmp`: its writer's PID.
fn atomic_temp_pid(file: &str) -> Option<u32> {
    if !(file.starts_with('.') && file.ends_with(".tmp")) {
        return None;
    }
    let (_, tail) = file.rsplit_once(".tinynas-")?;
    let (pid, i) = tail.trim_end_matches(".tmp").split_once('-')?;
    if i.is_empty() || !i.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// A `write_atomic` temporary whose writer is gone (a process that writes without the folder's
/// lock, `--profile`'s trace, may be writing one now).
fn is_stale_atomic_temp(file: &str) -> bool {
    atomic_temp_pid(file).is_some_and(|pid| {
        pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
    })
}

fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `dir` holds a committed publish not yet finished (temporaries of a manifest's
/// transaction) or leftovers of an uncommitted one.
pub fn needs_recovery(dir: &Path) -> bool {
    names_in(dir)
        .iter()
        .any(|n| parse_temp(n).is_some() || is_stale_atomic_temp(n))
}

/// Finish the publish the manifest of `dir` committed and remove every leftover of one it did
/// not (see the module's invariant). The caller holds the folder's lock.
pub fn recover(dir: &Path) -> Result<()> {
    if !dir.is_dir() || !needs_recovery(dir) {
        return Ok(());
    }
    let m = read_manifest(dir)?.unwrap_or_default();
    let names = names_in(dir);
    let mut changed = false;
    for rec in m.sets.values() {
        if names
            .iter()
            .any(|n| parse_temp(n).is_some_and(|(t, _)| t == rec.txn))
        {
            roll_forward(dir, rec)?;
            changed = true;
        }
    }
    // Every publish temporary left now is of an uncommitted transaction (the committed ones
    // were renamed above): removed, as are the atomic writes' of dead processes.
    for n in names_in(dir) {
        if parse_temp(&n).is_some() || is_stale_atomic_temp(&n) {
            let p = dir.join(&n);
            std::fs::remove_file(&p).map_err(|e| write_err(&p, e))?;
            file_op();
            changed = true;
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Step 3 of a publish: the removals, then each temporary renamed to its name. Idempotent: a
/// temporary already renamed is skipped.
fn roll_forward(dir: &Path, rec: &SetRecord) -> Result<()> {
    for old in &rec.removed {
        if rec.files.iter().any(|f| f.name == *old) {
            continue;
        }
        let p = dir.join(old);
        match std::fs::remove_file(&p) {
            Ok(()) => file_op(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_err(&p, e)),
        }
    }
    for f in &rec.files {
        let tmp = dir.join(temp_name(&rec.txn, &f.name));
        if tmp.exists() {
            let to = dir.join(&f.name);
            std::fs::rename(&tmp, &to).map_err(|e| write_err(&to, e))?;
            file_op();
        }
    }
    sync_dir(dir)
}

/// Publish `files` (name, bytes) as the set `set` of `dir` (which exists and whose lock the
/// caller holds), replacing the set of that name whole. Names of the old set the new one does
/// not hold are removed, and so are the names in `stale` (files this program wrote there
/// before manifests, the caller has checked they are its own).
pub fn publish(dir: &Path, set: &str, files: &[(String, Vec<u8>)], stale: &[String]) -> Result<()> {
    publish_from(dir, set, files, stale, Vec::new())
}

/// `publish`, recording the files the set was made from (`file_entry`) in its manifest.
pub fn publish_from(
    dir: &Path,
    set: &str,
    files: &[(String, Vec<u8>)],
    stale: &[String],
    inputs: Vec<Entry>,
) -> Result<()> {
    recover(dir)?;
    let mut m = read_manifest(dir)?.unwrap_or_default();
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let txn = format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        nanos,
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    // Step 1: every file under its temporary name, synced; on failure none of them stays.
    let mut written: Vec<PathBuf> = Vec::new();
    let mut entries = Vec::new();
    for (name, bytes) in files {
        let tmp = dir.join(temp_name(&txn, name));
        let r = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                written.push(tmp.clone());
                f.write_all(bytes)?;
                f.sync_all()
            });
        if let Err(e) = r {
            for w in &written {
                let _ = std::fs::remove_file(w);
            }
            return Err(write_err(&dir.join(name), e));
        }
        file_op();
        entries.push(Entry {
            name: name.clone(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        });
    }
    // Step 2: the manifest, the commit point.
    let mut removed: Vec<String> = m
        .sets
        .get(set)
        .map(|r| r.files.iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    removed.extend(stale.iter().cloned());
    removed.retain(|n| !files.iter().any(|f| f.0 == *n));
    removed.sort();
    removed.dedup();
    let rec = SetRecord {
        txn: txn.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        files: entries,
        removed,
        inputs,
    };
    m.sets.insert(set.to_string(), rec.clone());
    let text = serde_json::to_string_pretty(&m).expect("manifest");
    let mtmp = dir.join(temp_name(&txn, MANIFEST));
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&mtmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = r {
        let _ = std::fs::remove_file(&mtmp);
        for w in &written {
            let _ = std::fs::remove_file(w);
        }
        return Err(write_err(&dir.join(MANIFEST), e));
    }
    file_op();
    // The temporaries' names made durable before the manifest that names them (a power cut
    // must not keep the commit and lose the files).
    sync_dir(dir)?;
    let mp = dir.join(MANIFEST);
    if let Err(e) = std::fs::rename(&mtmp, &mp) {
        let _ = std::fs::remove_file(&mtmp);
        for w in &written {
            let _ = std::fs::remove_file(w);
        }
        return Err(write_err(&mp, e));
    }
    file_op();
    sync_dir(dir)?;
    // Step 3.
    roll_forward(dir, &rec)
}

/// Check the set `set` of `dir` against its manifest before reading it (`field` names the
/// setting that gave the folder, `None` where the folder is named by itself): every file it names present with its size and
/// SHA-256. A publish interrupted after its commit is finished first (under the folder's lock;
/// refused, naming the holder, while another process holds it). A folder with no manifest or a
/// set it does not name passes as it is.
pub fn check_set(dir: &Path, set: &str, field: Option<Field>) -> Result<()> {
    let what = field.unwrap_or(Field::Run);
    let refuse = |msg: String| match field {
        Some(f) => Error::bad_setting(f, msg),
        None => Error::Data {
            path: dir.display().to_string(),
            msg,
        },
    };
    // Under another process's lock the folder is being written: read as it stands (a publish in
    // progress there may make the check below fail, naming the file).
    if dir.join(MANIFEST).exists() && needs_recovery(dir) && super::check_lock(dir, what).is_ok() {
        let _lock = super::lock_dir(dir, what)?;
    }
    let Some(m) = read_manifest(dir)? else {
        return Ok(());
    };
    let Some(rec) = m.sets.get(set) else {
        return Ok(());
    };
    for f in &rec.files {
        let p = dir.join(&f.name);
        let bytes = std::fs::read(&p).map_err(|e| {
            refuse(format!(
                "{} is missing or unreadable ({e}); {MANIFEST} there says the {set} set holds it (written by `{}`); run that command again to write it whole",
                p.display(),
                rec.command
            ))
        })?;
        let why = if bytes.len() as u64 != f.bytes {
            Some(format!(
                "{} bytes, the manifest says {}",
                bytes.len(),
                f.bytes
            ))
        } else if sha256_hex(&bytes) != f.sha256 {
            Some(format!(
                "its SHA-256 is {}, the manifest says {}",
                sha256_hex(&bytes),
                f.sha256
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(refuse(format!(
                "{} does not match the {set} set that {MANIFEST} records ({why}): it was changed after `{}` wrote it; run that command again to write it whole",
                p.display(),
                rec.command
            )));
        }
    }
    Ok(())
}
