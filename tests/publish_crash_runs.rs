//! Crash consistency of the sets a run's commands publish: a training run's checkpoint, an
//! export over an earlier one and a search over an earlier one, each stopped by
//! `std::process::abort()` right after chosen file operations of its publish
//! (TINYNAS_TEST_ABORT_AFTER_FILE_OPS=k): the folder then holds the old set or the new one by
//! its manifest, the next reader or writer finishes or undoes the publish, no temporary stays.

mod common;
use common::crash::{aborted_at, hashes, ok, recorded, temps, train_args, visible, write_space};
use common::harden::{tinynas, tmp};
use tinynas::error::Field;

/// A run killed inside its first or second checkpoint holds one checkpoint whole (or none
/// before the first commit): its state and the one weights file it names match the manifest,
/// no other weights file and no temporary stays once it is read, and `--resume` continues it.
#[test]
fn train_killed_inside_a_checkpoint_leaves_one_checkpoint_whole() {
    let d = tmp("crash-train");
    let space = write_space(&d);
    // A checkpoint publishes 2 files: 2 writes, the manifest's write, the folder's sync, the
    // manifest's rename (the commit) and a sync, (the previous weights removed,) 2 renames, a
    // sync: 9 operations (the 5th commits), then 10 (the 14th commits).
    for k in [1, 3, 4, 5, 8, 9, 11, 13, 14, 16, 18] {
        let run = d.join(format!("k{k}"));
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("notes.txt"), b"mine").unwrap();
        let args = train_args(&run, &space, 2);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert!(aborted_at(&args, k), "k={k}: the run finished");
        let has_manifest = run.join(tinynas::io::MANIFEST).exists();
        if !has_manifest {
            // Killed before the first commit: no checkpoint shows, only temporaries.
            assert!(!run.join("state.json").exists(), "k={k}");
            assert!(k < 5, "k={k}: the first commit is the 5th operation");
        }
        // A reader (load, as eval / export --run / search do) finishes or undoes it.
        if has_manifest {
            let (state, _) =
                tinynas::train::checkpoint::load(&run).unwrap_or_else(|e| panic!("k={k}: {e}"));
            assert!(state.step == 1 || state.step == 2, "k={k}: {}", state.step);
            assert_eq!(
                recorded(&run, "checkpoint")
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>(),
                vec!["state.json".to_string(), state.weights.clone()],
                "k={k}"
            );
            let weights: Vec<String> = visible(&run)
                .into_keys()
                .filter(|n| n.starts_with("weights-"))
                .collect();
            assert_eq!(weights, vec![state.weights.clone()], "k={k}");
            assert_eq!(state.step, if k < 14 { 1 } else { 2 }, "k={k}");
        } else {
            drop(tinynas::io::lock_dir(&run, Field::Out).unwrap());
        }
        assert!(temps(&run).is_empty(), "k={k}: {:?}", temps(&run));
        assert_eq!(std::fs::read(run.join("notes.txt")).unwrap(), b"mine");
        if k == 14 {
            // Resumed to the end: the last checkpoint whole, the one weights file.
            let more = train_args(&run, &space, 3);
            let mut more: Vec<&str> = more.iter().map(String::as_str).collect();
            more.push("--resume");
            ok(&more);
            let (state, _) = tinynas::train::checkpoint::load(&run).unwrap();
            assert_eq!(state.step, 3);
            let weights: Vec<String> = visible(&run)
                .into_keys()
                .filter(|n| n.starts_with("weights-"))
                .collect();
            assert_eq!(weights, vec![state.weights.clone()]);
            assert!(temps(&run).is_empty());
        }
        let _ = std::fs::remove_dir_all(&run);
    }
    // A state.json changed after its checkpoint was published is refused, naming it.
    let run = d.join("changed");
    let args = train_args(&run, &space, 1);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let sp = run.join("state.json");
    let text = std::fs::read_to_string(&sp).unwrap();
    std::fs::write(&sp, text.replace("\"step\": 1", "\"step\":  1")).unwrap();
    let err = tinynas::train::checkpoint::load(&run)
        .unwrap_err()
        .to_string();
    assert!(err.contains("state.json") && err.contains("bytes"), "{err}");
}

/// An export over an earlier one, killed around each step of its publish (the ten files'
/// writes, the manifest's write and rename, the renames, the syncs), holds the earlier export
/// or the new one whole by the manifest once the folder is next locked; a rerun completes it.
#[test]
fn export_killed_while_publishing_holds_the_old_export_or_the_new_one() {
    let d = tmp("crash-export");
    let space = write_space(&d);
    let run = d.join("run");
    let args = train_args(&run, &space, 1);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let r = run.to_str().unwrap().to_string();
    // 10 files: writes 1-10, the manifest 11, the folder's sync 12, the manifest's rename 13
    // (the commit), a sync 14, renames 15-24, 25 the last sync.
    // The earlier export, copied (its manifest and lock file too) into each folder.
    let first = d.join("first");
    let f = first.to_str().unwrap().to_string();
    ok(&["export", "--run", &r, "--out", &f, "--calib-images", "8"]);
    std::fs::write(first.join("notes.txt"), b"mine").unwrap();
    // The export records the checkpoint it was made from.
    let m = tinynas::io::read_manifest(&first).unwrap().unwrap();
    let state = run.join("state.json");
    let input = m.sets["export"]
        .inputs
        .iter()
        .find(|e| e.name == state.display().to_string())
        .expect("the run's state.json among the export's inputs");
    assert_eq!(
        input.sha256,
        tinynas::io::sha256_hex(&std::fs::read(&state).unwrap())
    );
    assert_eq!(
        m.sets["export"].inputs.len(),
        2,
        "state.json and its weights"
    );
    for k in [1, 11, 12, 13, 14, 18, 25] {
        let out = d.join(format!("k{k}"));
        let o = out.to_str().unwrap().to_string();
        std::fs::create_dir_all(&out).unwrap();
        for e in std::fs::read_dir(&first).unwrap().flatten() {
            std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
        }
        let old = visible(&out);
        let old_txn = tinynas::io::read_manifest(&out).unwrap().unwrap().sets["export"]
            .txn
            .clone();
        let again = ["export", "--run", &r, "--out", &o];
        assert!(aborted_at(&again, k), "k={k}: the export finished");
        let m = tinynas::io::read_manifest(&out).unwrap().unwrap();
        let committed = m.sets["export"].txn != old_txn;
        assert_eq!(committed, k >= 13, "k={k}");
        if !committed {
            assert_eq!(visible(&out), old, "k={k}: before the commit");
        }
        if k == 18 {
            // The reader a firmware build runs first finishes the publish.
            let (code, said, err) = tinynas(&["verify", &o]);
            assert_eq!(code, 0, "k={k}: {err}");
            assert!(said.contains("export: 10 files"), "{said}");
        } else {
            drop(tinynas::io::lock_dir(&out, Field::Out).unwrap());
        }
        assert!(temps(&out).is_empty(), "k={k}: {:?}", temps(&out));
        tinynas::io::check_set(&out, "export", Some(Field::Out))
            .unwrap_or_else(|e| panic!("k={k}: {e}"));
        let now = visible(&out);
        if committed {
            assert_ne!(now, old, "k={k}");
            let mut want = recorded(&out, "export");
            want.insert("notes.txt".into(), tinynas::io::sha256_hex(b"mine"));
            assert_eq!(
                hashes(&now),
                want,
                "k={k}: the new set, nothing of the old beside it"
            );
        } else {
            assert_eq!(now, old, "k={k}: after recovery");
        }
        if k == 14 {
            ok(&again);
            tinynas::io::check_set(&out, "export", Some(Field::Out)).unwrap();
            assert!(temps(&out).is_empty());
            assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");
            // A generated source changed after the export: verify refuses it, naming it.
            let c = out.join("tinynas_model.c");
            let text = std::fs::read_to_string(&c).unwrap();
            std::fs::write(&c, text.replacen("int", "int ", 1)).unwrap();
            let (code, _, err) = tinynas(&["verify", &o]);
            assert_eq!(code, 2, "{err}");
            assert!(
                err.contains("tinynas_model.c") && err.contains("bytes"),
                "{err}"
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// A search over an earlier one, aborted before, at and after its commit, holds one search
/// whole by the manifest; the manifest records the run's checkpoint it read.
#[test]
fn search_killed_while_publishing_holds_the_old_search_or_the_new_one() {
    let d = tmp("crash-search");
    let space = write_space(&d);
    let run = d.join("run");
    let args = train_args(&run, &space, 1);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let r = run.to_str().unwrap().to_string();
    let search = |o: &str, seed: &'static str| -> Vec<String> {
        [
            "search",
            "--run",
            &r,
            "--measure",
            "--measure-population",
            "4",
            "--budget",
            "8",
            "--seed",
            seed,
            "--out",
            o,
        ]
        .map(String::from)
        .to_vec()
    };
    let first = d.join("first");
    let f = first.to_str().unwrap().to_string();
    ok(&search(&f, "1")
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    std::fs::write(first.join("notes.txt"), b"mine").unwrap();
    let m = tinynas::io::read_manifest(&first).unwrap().unwrap();
    let inputs: Vec<&str> = m.sets["search"]
        .inputs
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        inputs.contains(&run.join("state.json").to_str().unwrap()),
        "{inputs:?}"
    );
    let old = visible(&first);
    // 3 files: writes 1-3, the manifest 4, a sync 5, its rename 6 (the commit), renames 8-10.
    for k in [3, 5, 6, 9] {
        let out = d.join(format!("k{k}"));
        std::fs::create_dir_all(&out).unwrap();
        for e in std::fs::read_dir(&first).unwrap().flatten() {
            std::fs::copy(e.path(), out.join(e.file_name())).unwrap();
        }
        let again = search(out.to_str().unwrap(), "2");
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        assert!(aborted_at(&again, k), "k={k}: the search finished");
        let committed = recorded(&out, "search") != recorded(&first, "search");
        assert_eq!(committed, k >= 6, "k={k}");
        if !committed {
            assert_eq!(visible(&out), old, "k={k}: before the commit");
        }
        let (code, said, err) = tinynas(&["verify", out.to_str().unwrap()]);
        assert_eq!(code, 0, "k={k}: {err}");
        assert!(said.contains("search: 3 files"), "{said}");
        assert!(temps(&out).is_empty(), "k={k}: {:?}", temps(&out));
        let mut want = recorded(&out, "search");
        want.insert("notes.txt".into(), tinynas::io::sha256_hex(b"mine"));
        assert_eq!(hashes(&visible(&out)), want, "k={k}: one search, whole");
        if !committed {
            assert_eq!(visible(&out), old, "k={k}: after recovery");
        }
    }
}

/// A new run stopped inside its first checkpoint (aborted after each file operation in turn;
/// `tests/kill_stress.rs` meets the same windows with SIGKILL) never blocks its folder: before
/// the checkpoint commits it leaves no metrics.jsonl (the first metrics wait under a hidden name
/// until their checkpoint is published), so a new run goes in; after it commits and before the
/// metrics take their name, `--resume` continues from the hidden file with every step's metrics.
#[test]
fn a_run_killed_in_its_first_checkpoint_does_not_block_its_folder() {
    let d = tmp("crash-first");
    let space = write_space(&d);
    let run = d.join("run");
    let args = train_args(&run, &space, 2);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pending = tinynas::train::metrics::PENDING_METRICS;
    let (mut before, mut between) = (0, 0);
    for k in 1..40 {
        let _ = std::fs::remove_dir_all(&run);
        if !aborted_at(&args, k) {
            break;
        }
        // The checkpoint committed: its set is in the manifest (its files may still wait under
        // their staged names for the next writer to finish the publish).
        let committed = tinynas::io::read_manifest(&run)
            .unwrap()
            .is_some_and(|m| m.sets.contains_key("checkpoint"));
        assert!(
            committed || !run.join("metrics.jsonl").exists(),
            "abort after {k}: metrics.jsonl before its checkpoint"
        );
        if !committed {
            before += 1;
            ok(&args);
        } else if run.join(pending).exists() && !run.join("metrics.jsonl").exists() {
            eprintln!("abort after {k}: the checkpoint committed, the metrics not yet renamed");
            between += 1;
            let mut resume = args.clone();
            resume.push("--resume");
            ok(&resume);
            let m = tinynas::train::metrics::read_metrics(&run).unwrap();
            assert!(!m.is_empty() && !run.join(pending).exists());
        }
    }
    assert!(
        before > 0 && between > 0,
        "{before} before, {between} between"
    );
    let _ = std::fs::remove_dir_all(&d);
}
