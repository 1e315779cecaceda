//! The kill stress runs (the harness and its checks: kills.rs): `tinynas export --out K` over
//! an earlier export and a resumed `tinynas train` (a tiny run on the bundled data), each
//! SIGKILLed at seeded pseudo-random instants, then one run to the end.

use super::crash::{hashes, recorded, temps, tiny_run_args, visible, write_space};
use super::kills::{NOTE, Tally, finish_check, kill_after, raw_check, run_ok, verify_copy};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A tiny run on the bundled Fashion-MNIST subset: 3 steps an epoch, a checkpoint each.
fn train_args(out: &Path, space: &str, epochs: usize) -> Vec<String> {
    tiny_run_args(out, space, None, epochs, None)
}

/// `n` exports over an earlier one into one folder, SIGKILLed at seeded instants (half over
/// the whole export, half inside its publish), alternating between two sets of
/// settings so the old and the new set differ; then one export to the end.
pub fn export_kills(dir: &Path, n: usize, seed: u64) -> Tally {
    let space = write_space(dir);
    let run = dir.join("run");
    run_ok(&train_args(&run, &space, 1));
    let args = |out: &Path, calib: usize| -> Vec<String> {
        let (r, o) = (run.to_str().unwrap(), out.to_str().unwrap());
        let c = calib.to_string();
        ["export", "--run", r, "--out", o, "--calib-images", &c]
            .map(String::from)
            .to_vec()
    };
    // The two sets, exported once each (report.json differs between any two exports: its
    // timings; the other 9 files are the same bytes for the same settings).
    let mut reference = BTreeMap::new();
    let mut export_s: f64 = 0.0;
    for calib in [8, 16] {
        let o = dir.join(format!("ref{calib}"));
        let t = Instant::now();
        run_ok(&args(&o, calib));
        export_s = export_s.max(t.elapsed().as_secs_f64());
        reference.insert(calib, visible(&o));
    }
    let out = dir.join("out");
    run_ok(&args(&out, 8));
    std::fs::write(out.join(NOTE.0), NOTE.1).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = Tally::default();
    let start = Instant::now();
    // The set the folder holds, as a reader finds it (the last kill's publish finished).
    let mut held = visible(&out);
    let mut i = 0;
    while t.kills < n {
        i += 1;
        let calib = if i % 2 == 0 { 8 } else { 16 };
        let at = format!("export kill {i} (calib {calib})");
        let old_txn = tinynas::io::read_manifest(&out).unwrap().unwrap().sets["export"]
            .txn
            .clone();
        // Even kills anywhere in the export; odd ones inside its publish: 0 to 200 ms after its
        // first temporary shows.
        let (after, publishing) = if i % 2 == 0 {
            (rng.random_range(0.0..1.1) * export_s, false)
        } else {
            (rng.random_range(0.0..0.2), true)
        };
        let watch = publishing.then_some(out.as_path());
        if !kill_after(&args(&out, calib), Duration::from_secs_f64(after), watch) {
            t.finished_first += 1;
            held = visible(&out);
            continue;
        }
        t.kills += 1;
        raw_check(&out, "export", &mut t, &at);
        t.left_temporaries += usize::from(!temps(&out).is_empty());
        let scratch = dir.join("scratch");
        if !verify_copy(&out, &scratch, &mut t, &at) {
            continue;
        }
        let m = tinynas::io::read_manifest(&scratch).unwrap().unwrap();
        let now = visible(&scratch);
        if m.sets["export"].txn == old_txn {
            t.old += 1;
            if now != held {
                t.mixed
                    .push(format!("{at}: the old manifest, other bytes than before"));
            }
        } else {
            t.new += 1;
            let mut want = recorded(&scratch, "export");
            want.insert(NOTE.0.into(), tinynas::io::sha256_hex(NOTE.1));
            let same_as_reference = reference[&calib]
                .iter()
                .all(|(name, b)| name == "report.json" || now.get(name) == Some(b));
            if hashes(&now) != want || !same_as_reference {
                t.mixed
                    .push(format!("{at}: the new manifest, other files than its set"));
            }
        }
        held = now;
    }
    // The next export cleans up and completes.
    run_ok(&args(&out, 16));
    finish_check(&out, "export", &mut t);
    t.wall = start.elapsed();
    t
}

/// The step of the checkpoint `state.json` in `dir` names, and its weights file.
fn checkpoint(dir: &Path) -> (u64, String) {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    (
        v["step"].as_u64().unwrap(),
        v["weights"].as_str().unwrap().to_string(),
    )
}

/// A tiny training run SIGKILLed `n` times at seeded instants (0.5 to 3 times as long after
/// each start as a run of one step takes on this machine now: from its start-up to several
/// checkpoints), resumed after each kill from whatever checkpoint it left; then resumed for 2
/// more steps to the end.
pub fn train_kills(dir: &Path, n: usize, seed: u64) -> Tally {
    let space = write_space(dir);
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join(NOTE.0), NOTE.1).unwrap();
    // More epochs than the kills leave it time for (3 steps each).
    let base = train_args(&run, &space, 400);
    let one_step = {
        let mut a = train_args(&dir.join("one-step"), &space, 400);
        a.extend(["--max-steps".into(), "1".into()]);
        let t = Instant::now();
        run_ok(&a);
        t.elapsed().as_secs_f64()
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = Tally::default();
    let mut last_step = 0;
    let start = Instant::now();
    let mut i = 0;
    while t.kills < n {
        i += 1;
        let at = format!("train kill {i}");
        let mut args = base.clone();
        if run.join(tinynas::io::MANIFEST).exists() {
            args.push("--resume".into());
        }
        let after = rng.random_range(0.5..3.0) * one_step;
        if !kill_after(&args, Duration::from_secs_f64(after), None) {
            t.finished_first += 1;
            continue;
        }
        t.kills += 1;
        raw_check(&run, "checkpoint", &mut t, &at);
        t.left_temporaries += usize::from(!temps(&run).is_empty());
        let scratch = dir.join("scratch");
        if !verify_copy(&run, &scratch, &mut t, &at) {
            if scratch.join("state.json").exists() {
                t.mixed.push(format!(
                    "{at}: a state.json with no manifest to vouch for it"
                ));
            }
            if run.join("metrics.jsonl").exists() {
                t.blocked.push(at);
                std::fs::remove_file(run.join("metrics.jsonl")).unwrap();
            }
            t.old += 1;
            continue;
        }
        let (step, weights) = checkpoint(&scratch);
        let files: Vec<String> = visible(&scratch)
            .into_keys()
            .filter(|n| n.starts_with("weights-"))
            .collect();
        if files != [weights.clone()] {
            t.mixed.push(format!(
                "{at}: state.json names {weights}, the folder holds {files:?}"
            ));
        }
        if step < last_step {
            t.mixed
                .push(format!("{at}: back to step {step} from {last_step}"));
        }
        if step > last_step {
            t.new += 1
        } else {
            t.old += 1
        }
        last_step = step;
    }
    // Resumed to the end: 2 more steps, whole, nothing left over.
    let mut args = base.clone();
    args.extend([
        "--resume".into(),
        "--max-steps".into(),
        (last_step + 2).to_string(),
    ]);
    run_ok(&args);
    finish_check(&run, "checkpoint", &mut t);
    let (step, weights) = checkpoint(&run);
    assert_eq!(step, last_step + 2);
    let files: Vec<String> = visible(&run)
        .into_keys()
        .filter(|n| n.starts_with("weights-"))
        .collect();
    assert_eq!(files, [weights]);
    t.wall = start.elapsed();
    t
}
