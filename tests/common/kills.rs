//! The kill stress harness (its runs: kill_runs.rs): a command SIGKILLed at an instant, and the
//! checks after each kill. The folder, as the kill left it, must show its visible set exactly as
//! the manifest records it (unless the manifest's own publish is pending); a copy of it is then
//! read by `tinynas verify` (the reader a firmware build runs), which must leave the old set or
//! the new one byte for byte and no temporary; the folder itself goes, untouched, to the next
//! run, which cleans up and carries on; a last run that is not killed leaves it whole.

use super::crash::{hashes, temps, visible};
use super::harden::tinynas;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinynas::error::Field;

/// What the kills found. `mixed` and `stale` must stay 0.
#[derive(Debug, Default)]
pub struct Tally {
    /// Processes SIGKILLed while they ran.
    pub kills: usize,
    /// Instants that came after the process had finished (not counted as kills).
    pub finished_first: usize,
    /// Kills after which the folder read back as the set it held before.
    pub old: usize,
    /// Kills after which it read back as the new set.
    pub new: usize,
    /// Kills that left temporaries (a publish or an atomic write in flight), for the next
    /// reader or writer to finish or remove.
    pub left_temporaries: usize,
    /// Folders whose files matched neither set whole (with why, for the message).
    pub mixed: Vec<String>,
    /// Temporaries the reader after a kill, or the last run, left in the folder.
    pub stale: Vec<String>,
    /// Kills after which the run's folder would take neither a new run nor `--resume` (a
    /// `metrics.jsonl` and no checkpoint: what `a_run_killed_in_its_first_checkpoint_does_not_
    /// block_its_folder` rules out). The harness removes that `metrics.jsonl`, as its user would
    /// have to, goes on, and fails at the end.
    pub blocked: Vec<String>,
    pub wall: Duration,
}

impl Tally {
    pub fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} kills ({} more instants came after it finished): {} read back old, {} new, {} left temporaries for the next run; {} mixed sets, {} stale temporaries; {} left the folder blocked; {:.1} s",
            self.kills,
            self.finished_first,
            self.old,
            self.new,
            self.left_temporaries,
            self.mixed.len(),
            self.stale.len(),
            self.blocked.len(),
            self.wall.as_secs_f64()
        )
    }

    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.mixed.is_empty() && self.stale.is_empty() && self.blocked.is_empty(),
            "{}\nmixed: {:?}\nstale: {:?}\nblocked: {:?}",
            self.line(what),
            self.mixed,
            self.stale,
            self.blocked
        );
    }
}

pub const NOTE: (&str, &[u8]) = ("notes.txt", b"mine");

pub fn run_ok(args: &[String]) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = tinynas(&a);
    assert_eq!(code, 0, "{args:?}: {err}");
}

/// `args` started, SIGKILLed `after` its start (or, with `watch`, `after` a publish's first
/// temporary shows in that folder); false when it had finished by then (exit 0).
pub fn kill_after(args: &[String], after: Duration, watch: Option<&Path>) -> bool {
    // Its messages kept for a failure of its own.
    let log = std::env::temp_dir().join(format!(
        "tinynas-kill-{}-{:?}.stderr",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let on_its_own = |status: std::process::ExitStatus| {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.success(),
            "{args:?} failed on its own: {status}: {said}"
        );
        false
    };
    let mut t = Instant::now();
    while let Some(dir) = watch {
        if let Some(status) = child.try_wait().unwrap() {
            return on_its_own(status);
        }
        if temps(dir).iter().any(|n| n.starts_with(".tinynas-new-")) {
            t = Instant::now();
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    while t.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            return on_its_own(status);
        }
        std::thread::sleep(Duration::from_millis(2).min(after.saturating_sub(t.elapsed())));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let _ = std::fs::remove_file(&log);
    // The kill can race the process's own exit.
    !status.success()
}

/// The folder as the kill left it: a visible file of a set differs from the manifest only
/// while temporaries of the manifest's own transaction are there (its publish finishing).
pub fn raw_check(dir: &Path, set: &str, tally: &mut Tally, at: &str) {
    let Some(m) = tinynas::io::read_manifest(dir).unwrap() else {
        return;
    };
    let rec = &m.sets[set];
    let pending = temps(dir)
        .iter()
        .any(|t| t.starts_with(&format!(".tinynas-new-{}.", rec.txn)));
    let seen = hashes(&visible(dir));
    let differ: Vec<&str> = rec
        .files
        .iter()
        .filter(|f| seen.get(&f.name) != Some(&f.sha256))
        .map(|f| f.name.as_str())
        .collect();
    if !pending && !differ.is_empty() {
        tally
            .mixed
            .push(format!("{at}: {differ:?} differ from the manifest"));
    }
}

/// A copy of `dir` (its plain files) in `scratch`, read by `tinynas verify`: true when it
/// exits 0; the temporaries it leaves are stale.
pub fn verify_copy(dir: &Path, scratch: &Path, tally: &mut Tally, at: &str) -> bool {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).unwrap();
    // (folders aside: the export's firmware build works in one)
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), scratch.join(e.file_name())).unwrap();
        }
    }
    let (code, _, err) = tinynas(&["verify", scratch.to_str().unwrap()]);
    if code != 0 && scratch.join(tinynas::io::MANIFEST).exists() {
        tally.mixed.push(format!("{at}: verify refused it: {err}"));
    }
    if code != 0 {
        // No manifest yet (a run killed before its first checkpoint): the next writer's lock.
        drop(tinynas::io::lock_dir(scratch, Field::Out).unwrap());
    }
    for t in temps(scratch) {
        tally.stale.push(format!("{at}: {t}"));
    }
    if std::fs::read(scratch.join(NOTE.0)).ok().as_deref() != Some(NOTE.1) {
        tally
            .mixed
            .push(format!("{at}: the user's {} changed", NOTE.0));
    }
    code == 0
}

/// The folder after a run that was not killed: its set whole, no temporary, the user's file.
pub fn finish_check(dir: &Path, set: &str, t: &mut Tally) {
    for s in temps(dir) {
        t.stale.push(format!("after the last run: {s}"));
    }
    tinynas::io::check_set(dir, set, Some(Field::Out)).unwrap();
    assert!(
        tinynas::io::read_manifest(dir)
            .unwrap()
            .unwrap()
            .sets
            .contains_key(set)
    );
    assert_eq!(std::fs::read(dir.join(NOTE.0)).unwrap(), NOTE.1);
}
