//! Crash consistency of the sets tinynas publishes (io::publish): the real binary is stopped by
//! `std::process::abort()` right after its k-th file operation of a publish
//! (TINYNAS_TEST_ABORT_AFTER_FILE_OPS=k), and the folder then holds the old set or the new one,
//! byte for byte by its manifest; whoever next locks or reads the folder finishes or undoes the
//! interrupted publish and no temporary stays; the user's own file there is never touched.

mod common;
use common::harden::{tiny_space, tinynas, tmp};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const HOOK: &str = "TINYNAS_TEST_ABORT_AFTER_FILE_OPS";

/// The folder's visible files (dot files aside: the lock, the records, temporaries) and bytes.
fn visible(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

/// Temporaries of a publish or of write_atomic left in the folder.
fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.starts_with(".tinynas-new-") || (n.contains(".tinynas-") && n.ends_with(".tmp"))
        })
        .collect()
}

/// `args` run with the abort hook at `k`: true when the process was stopped by it.
fn aborted_at(args: &[&str], k: usize) -> bool {
    let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .env(HOOK, k.to_string())
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => false,
        None => true,
        Some(c) => panic!(
            "{args:?} (abort after {k}) failed with {c}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn ok(args: &[&str]) {
    let (code, _, err) = tinynas(args);
    assert_eq!(code, 0, "{args:?}: {err}");
}

/// The files a set of the manifest in `dir` names, with their SHA-256.
fn recorded(dir: &Path, set: &str) -> BTreeMap<String, String> {
    let m = tinynas::io::read_manifest(dir)
        .unwrap()
        .expect("a manifest");
    m.sets[set]
        .files
        .iter()
        .map(|f| (f.name.clone(), f.sha256.clone()))
        .collect()
}

fn hashes(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(n, b)| (n.clone(), tinynas::io::sha256_hex(b)))
        .collect()
}

#[test]
fn space_out_killed_after_any_file_operation_holds_the_old_set_or_the_new_one() {
    let d = tmp("crash-space");
    let args = |out: &Path, samples: &str| -> Vec<String> {
        [
            "space",
            "--samples",
            samples,
            "--resolutions",
            "64,96",
            "--widths",
            "0.3",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();
    let (ra, rb) = (d.join("a"), d.join("b"));
    let (va, vb) = (args(&ra, "8"), args(&rb, "12"));
    ok(&va.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&vb.iter().map(String::as_str).collect::<Vec<_>>());
    let mine = ("notes.txt".to_string(), b"mine".to_vec());
    let mut old = visible(&ra);
    let mut new = visible(&rb);
    assert_ne!(old, new, "the two sets differ");
    assert_eq!(old.len(), 3);
    old.insert(mine.0.clone(), mine.1.clone());
    new.insert(mine.0.clone(), mine.1.clone());
    let (mut saw_old, mut saw_new, mut finished) = (false, false, false);
    for k in 1..60 {
        let dir = d.join(format!("k{k}"));
        let first = strs(&args(&dir, "8"));
        ok(&first.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::write(dir.join(&mine.0), &mine.1).unwrap();
        let second = strs(&args(&dir, "12"));
        let second: Vec<&str> = second.iter().map(String::as_str).collect();
        if !aborted_at(&second, k) {
            // Past the publish's last operation: the new set, nothing left over.
            assert_eq!(visible(&dir), new, "k={k}");
            assert!(temps(&dir).is_empty(), "k={k}: {:?}", temps(&dir));
            finished = true;
            break;
        }
        let committed = recorded(&dir, "space") == hashes(&visible(&rb));
        if committed {
            saw_new = true;
        } else {
            // Before the commit point the visible files are the old set, byte for byte.
            assert!(!saw_new, "k={k}: the manifest went back to the old set");
            assert_eq!(recorded(&dir, "space"), hashes(&visible(&ra)), "k={k}");
            assert_eq!(visible(&dir), old, "k={k}: before the commit");
            saw_old = true;
        }
        // The next to lock the folder finishes (or undoes) the publish.
        drop(tinynas::io::lock_dir(&dir, "--out").unwrap());
        assert!(temps(&dir).is_empty(), "k={k}: {:?}", temps(&dir));
        assert_eq!(
            visible(&dir),
            if committed { new.clone() } else { old.clone() },
            "k={k}: after recovery"
        );
        tinynas::io::check_set(&dir, "space", "--out").unwrap();
        // And the writer after it publishes cleanly over whatever the kill left.
        ok(&second);
        assert_eq!(visible(&dir), new, "k={k}: rerun");
        assert!(temps(&dir).is_empty(), "k={k}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        finished && saw_old && saw_new,
        "{finished} {saw_old} {saw_new}"
    );
}

/// A set whose file was changed after it was published is refused by its reader, naming the
/// file and what differs; a folder without a manifest reads as before.
#[test]
fn a_changed_file_of_a_published_set_is_refused_naming_it() {
    let d = tmp("publish-changed");
    let out = d.join("sp");
    ok(&[
        "space",
        "--samples",
        "8",
        "--resolutions",
        "64",
        "--widths",
        "0.3",
        "--out",
        out.to_str().unwrap(),
    ]);
    tinynas::io::check_set(&out, "space", "--out").unwrap();
    let p = out.join("space.json");
    let mut b = std::fs::read(&p).unwrap();
    let len = b.len();
    b[len / 2] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let err = tinynas::io::check_set(&out, "space", "--out")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("space.json") && err.contains("SHA-256"),
        "{err}"
    );
    b.push(b'\n');
    std::fs::write(&p, &b).unwrap();
    let err = tinynas::io::check_set(&out, "space", "--out")
        .unwrap_err()
        .to_string();
    assert!(err.contains("space.json") && err.contains("bytes"), "{err}");
    std::fs::remove_file(&p).unwrap();
    let err = tinynas::io::check_set(&out, "space", "--out")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("space.json") && err.contains("missing"),
        "{err}"
    );
    // No manifest: read as it is.
    std::fs::remove_file(out.join(tinynas::io::MANIFEST)).unwrap();
    tinynas::io::check_set(&out, "space", "--out").unwrap();
    // A temporary nobody committed is removed by the next lock; a user's look-alike is not.
    std::fs::write(out.join(".tinynas-new-abc.space.json"), b"half").unwrap();
    // (an atomic write's temporary of a process that is gone; one of a running process, PID 1,
    // is left to its writer)
    std::fs::write(out.join(".space.json.tinynas-4194999-0.tmp"), b"half").unwrap();
    std::fs::write(out.join(".trace.json.tinynas-1-0.tmp"), b"being written").unwrap();
    std::fs::write(out.join(".tinynas-new-notes"), b"mine").unwrap();
    drop(tinynas::io::lock_dir(&out, "--out").unwrap());
    assert!(!out.join(".tinynas-new-abc.space.json").exists());
    assert!(!out.join(".space.json.tinynas-4194999-0.tmp").exists());
    assert!(out.join(".trace.json.tinynas-1-0.tmp").exists());
    assert!(out.join(".tinynas-new-notes").exists());
}

fn write_space(dir: &Path) -> String {
    let p = dir.join("space.json");
    std::fs::write(&p, serde_json::to_string(&tiny_space()).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

/// A tiny run's arguments (synthetic data, a checkpoint every step).
fn train_args(out: &Path, space: &str, steps: usize) -> Vec<String> {
    [
        "train",
        "--out",
        out.to_str().unwrap(),
        "--data",
        "synthetic",
        "--space",
        space,
        "--schedule",
        "joint",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--train-images",
        "132",
        "--val-images",
        "36",
        "--recal-images",
        "48",
        "--checkpoint-every",
        "1",
        "--max-steps",
        &steps.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

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
            drop(tinynas::io::lock_dir(&run, "--out").unwrap());
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
            drop(tinynas::io::lock_dir(&out, "--out").unwrap());
        }
        assert!(temps(&out).is_empty(), "k={k}: {:?}", temps(&out));
        tinynas::io::check_set(&out, "export", "--out").unwrap_or_else(|e| panic!("k={k}: {e}"));
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
            tinynas::io::check_set(&out, "export", "--out").unwrap();
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

/// SIGKILL at pseudo-random instants (0.3 to 2.3 s) of a run that checkpoints every step,
/// resumed after each kill until 6 kills came after a checkpoint: after each, the
/// run reads back as one whole checkpoint (state, its weights, the manifest agreeing), one
/// weights file, no temporary, the user's file untouched; every kill is resumed from.
#[test]
fn train_killed_at_random_instants_always_reads_back_whole() {
    let d = tmp("kill-train");
    let space = write_space(&d);
    let run = d.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("notes.txt"), b"mine").unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut resumed_from = Vec::new();
    // Until 6 kills came after a checkpoint (a loaded machine starts slower), 20 at most.
    for i in 0..20 {
        if resumed_from.len() >= 6 {
            break;
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = 300 + (seed >> 33) % 2000;
        let mut args = train_args(&run, &space, 60);
        args[10] = "15".into(); // --epochs: more steps than the kills leave it time for
        if run.join("state.json").exists() {
            args.push("--resume".into());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_tinynas"))
            .args(&args)
            .env("XDG_RUNTIME_DIR", "/tmp")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        if run.join(tinynas::io::MANIFEST).exists() {
            let (state, _) = tinynas::train::checkpoint::load(&run)
                .unwrap_or_else(|e| panic!("kill {i} after {delay} ms: {e}"));
            let weights: Vec<String> = visible(&run)
                .into_keys()
                .filter(|n| n.starts_with("weights-"))
                .collect();
            assert_eq!(weights, vec![state.weights.clone()], "kill {i}");
            resumed_from.push(state.step);
        } else {
            drop(tinynas::io::lock_dir(&run, "--out").unwrap());
            assert!(!run.join("state.json").exists(), "kill {i}");
        }
        assert!(temps(&run).is_empty(), "kill {i}: {:?}", temps(&run));
        assert_eq!(std::fs::read(run.join("notes.txt")).unwrap(), b"mine");
    }
    // The kills landed inside the run, and it made progress across them.
    assert!(resumed_from.len() >= 6, "{resumed_from:?}");
    assert!(
        resumed_from.windows(2).all(|w| w[0] <= w[1]),
        "{resumed_from:?}"
    );
    assert!(
        resumed_from.last() > resumed_from.first(),
        "{resumed_from:?}"
    );
    eprintln!("checkpoints read back after the kills: {resumed_from:?}");
}

/// Not a timed test (ignored; run it with `--ignored --nocapture`): what publishing an export
/// whole costs beside writing its files one by one (write_atomic each, as before), against the
/// wall time of the export itself.
#[test]
#[ignore]
fn bench_publish_overhead_of_an_export() {
    let d = tmp("bench-publish");
    let space = write_space(&d);
    let run = d.join("run");
    let args = train_args(&run, &space, 1);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = d.join("exp");
    let (r, o) = (run.to_str().unwrap(), out.to_str().unwrap());
    let mut walls = Vec::new();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        ok(&["export", "--run", r, "--out", o]);
        walls.push(t.elapsed().as_secs_f64());
    }
    walls.sort_by(f64::total_cmp);
    let files: Vec<(String, Vec<u8>)> = recorded(&out, "export")
        .into_keys()
        .map(|n| {
            let b = std::fs::read(out.join(&n)).unwrap();
            (n, b)
        })
        .collect();
    let bytes: usize = files.iter().map(|f| f.1.len()).sum();
    let reps = 20;
    let time = |publish: bool| {
        let mut t = Vec::new();
        for i in 0..reps {
            let dir = d.join(format!("{}{i}", if publish { "p" } else { "a" }));
            std::fs::create_dir_all(&dir).unwrap();
            let s = std::time::Instant::now();
            if publish {
                tinynas::io::publish(&dir, "export", &files, &[]).unwrap();
            } else {
                for (n, b) in &files {
                    tinynas::io::write_atomic(&dir.join(n), b).unwrap();
                }
            }
            t.push(s.elapsed().as_secs_f64());
        }
        t.sort_by(f64::total_cmp);
        t[reps / 2]
    };
    let (atomic, publish) = (time(false), time(true));
    let wall = walls[1];
    println!(
        "export wall time (median of 3): {:.3} s; its {} files, {} bytes: one by one (write_atomic) {:.2} ms, published whole {:.2} ms (median of {reps}); staging adds {:.2} ms = {:.3} % of the export",
        wall,
        files.len(),
        bytes,
        atomic * 1e3,
        publish * 1e3,
        (publish - atomic) * 1e3,
        100.0 * (publish - atomic) / wall
    );
}

/// A write that fails half-way (a file-size limit, `ulimit -f`, standing in for a full disk: the
/// same failed write, without mounting a small filesystem) leaves the old set as it was, byte
/// for byte, the manifest unchanged and no temporary, and the error names the file.
#[test]
fn a_failed_write_leaves_the_old_set_and_names_the_file() {
    let d = tmp("publish-full");
    let out = d.join("sp");
    let o = out.to_str().unwrap();
    let args = |samples: &str| {
        format!(
            "{} space --samples {samples} --resolutions 64,96 --widths 0.3 --out {o}",
            env!("CARGO_BIN_EXE_tinynas")
        )
    };
    let status = Command::new("bash")
        .args(["-c", &args("8")])
        .output()
        .unwrap();
    assert!(status.status.success());
    let (old, manifest) = (
        visible(&out),
        std::fs::read(out.join(tinynas::io::MANIFEST)).unwrap(),
    );
    assert!(
        old["space_cdf.png"].len() > 50 * 1024,
        "the plot is over the limit"
    );
    // SIGXFSZ ignored (inherited through exec): the write fails with EFBIG instead.
    let limited = Command::new("bash")
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -f 50; exec {}", args("12")),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&limited.stderr);
    assert!(!limited.status.success(), "{err}");
    assert!(err.contains("space_cdf.png"), "{err}");
    assert_eq!(visible(&out), old);
    assert_eq!(
        std::fs::read(out.join(tinynas::io::MANIFEST)).unwrap(),
        manifest
    );
    assert!(temps(&out).is_empty(), "{:?}", temps(&out));
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
