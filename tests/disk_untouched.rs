//! A refused command leaves the disk byte for byte as it was (no folder made, no lock file
//! written), and a folder another writer holds is refused by every writer, naming the holder.

mod common;
use common::harden::{fake_run, tiny_space, tinynas, tmp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tinynas::error::Field;

/// Every file under `dir` with its bytes (folders as empty entries).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// `args` exits 2 naming every one of `want`, and `root` is byte-identical after it.
fn refused_untouched(root: &Path, args: &[&str], want: &[&str]) {
    let before = snapshot(root);
    let (code, _, err) = tinynas(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?} should name {w:?}: {err}");
    }
    let after = snapshot(root);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "{args:?} changed {changed:?}: {err}");
}

#[test]
fn refused_export_search_and_space_leave_the_disk_as_it_was() {
    let d = tmp("untouched");
    let run = fake_run(&d);
    let r = run.to_str().unwrap();
    let out = d.join("out");
    let o = out.to_str().unwrap();
    // A subnet that fails validation (an even kernel): no --out folder, no lock.
    let bad = d.join("bad_subnet.json");
    let mut s = tiny_space().largest(16);
    s.kernel_size[0] = 4;
    std::fs::write(&bad, serde_json::to_string(&s).unwrap()).unwrap();
    let b = bad.to_str().unwrap();
    refused_untouched(
        &d,
        &["export", "--run", r, "--subnet", b, "--out", o],
        &["kernel"],
    );
    // A subnet file with text after it.
    let trailing = d.join("trailing.json");
    std::fs::write(
        &trailing,
        format!(
            "{} {{}}",
            serde_json::to_string(&tiny_space().largest(16)).unwrap()
        ),
    )
    .unwrap();
    refused_untouched(
        &d,
        &[
            "export",
            "--run",
            r,
            "--subnet",
            trailing.to_str().unwrap(),
            "--out",
            o,
        ],
        &["trailing.json", "line 1 column", "trailing characters"],
    );
    // An existing --out holding a user's file of an export's name: refused, no lock file.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.tflite"), b"mine").unwrap();
    refused_untouched(
        &d,
        &["export", "--run", r, "--out", o],
        &["model.tflite", "not written by tinynas"],
    );
    assert!(!out.join(tinynas::io::LOCK_FILE).exists());
    // search: a predictor.json with text after it, a damaged pair line; RUN/search not made.
    std::fs::write(run.join("predictor.json"), "{} x").unwrap();
    refused_untouched(&d, &["search", "--run", r], &["predictor.json"]);
    std::fs::remove_file(run.join("predictor.json")).unwrap();
    std::fs::write(run.join("accuracy_pairs.jsonl"), "{\"top1\": 0.5}\n").unwrap();
    refused_untouched(
        &d,
        &["search", "--run", r, "--measure"],
        &["accuracy_pairs.jsonl", "line 1"],
    );
    std::fs::remove_file(run.join("accuracy_pairs.jsonl")).unwrap();
    // Limits nothing in the space meets.
    refused_untouched(
        &d,
        &["search", "--run", r, "--measure", "--sram", "1"],
        &["smallest footprint"],
    );
    assert!(!run.join("search").exists());
    // space: nothing of the grid fits (no folder made); a user's space.json (kept, no lock).
    let sp = d.join("space");
    let args = |o: &str| -> Vec<String> {
        [
            "space",
            "--samples",
            "8",
            "--resolutions",
            "224",
            "--widths",
            "1.0",
            "--sram",
            "1",
            "--out",
            o,
        ]
        .map(String::from)
        .to_vec()
    };
    let v = args(sp.to_str().unwrap());
    refused_untouched(
        &d,
        &v.iter().map(String::as_str).collect::<Vec<_>>(),
        &["no space of the grid"],
    );
    assert!(!sp.exists());
    std::fs::create_dir_all(&sp).unwrap();
    std::fs::write(sp.join("space.json"), b"mine").unwrap();
    let v: Vec<String> = [
        "space",
        "--samples",
        "8",
        "--resolutions",
        "64",
        "--widths",
        "0.3",
        "--out",
        sp.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    refused_untouched(
        &d,
        &v.iter().map(String::as_str).collect::<Vec<_>>(),
        &["space.json", "not written by tinynas"],
    );
    // A damaged record of the files tinynas wrote there: named, never taken as empty.
    std::fs::write(sp.join(".tinynas-outputs.json"), "[\"space.json\"] x").unwrap();
    refused_untouched(
        &d,
        &v.iter().map(String::as_str).collect::<Vec<_>>(),
        &[
            ".tinynas-outputs.json",
            "line 1 column 16",
            "trailing characters",
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_folder_a_running_train_holds_is_refused_by_space_naming_the_holder() {
    let d = tmp("held");
    let run = d.join("run");
    let mut train = std::process::Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args([
            "train",
            "--data",
            "synthetic",
            "--out",
            run.to_str().unwrap(),
            "--width",
            "0.2",
            "--schedule",
            "joint",
            "--epochs",
            "1000",
            "--train-images",
            "64",
            "--val-images",
            "16",
            "--recal-images",
            "16",
            "--batch",
            "16",
        ])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the train holds the folder (its lock file names it).
    let lock = run.join(tinynas::io::LOCK_FILE);
    let t = std::time::Instant::now();
    let pid = format!("PID {}", train.id());
    while !std::fs::read_to_string(&lock).is_ok_and(|s| s.starts_with(&pid)) {
        if let Ok(Some(status)) = train.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            train
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("train ended before it locked its folder: {status}: {err}");
        }
        assert!(t.elapsed().as_secs() < 120, "train never locked {lock:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = snapshot(&d).into_keys().collect::<Vec<_>>();
    let (code, _, err) = tinynas(&[
        "space",
        "--samples",
        "8",
        "--resolutions",
        "64",
        "--widths",
        "0.3",
        "--out",
        run.to_str().unwrap(),
    ]);
    let _ = train.kill();
    let _ = train.wait();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--out")
            && err.contains("another tinynas process is writing there")
            && err.contains(&pid)
            && err.contains("train --data synthetic"),
        "{err}"
    );
    // space wrote none of its files into the train's folder.
    for f in ["space.json", "space_cdf.png", "chosen_space.json"] {
        assert!(!run.join(f).exists(), "{f} written into a held folder");
    }
    assert!(before.iter().all(|p| !p.ends_with("space.json")));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn every_writer_refuses_a_held_folder_before_touching_it() {
    // The lock held by this test process, as a running writer would hold it.
    let d = tmp("held-all");
    let run = fake_run(&d);
    let out = d.join("out");
    let _held = tinynas::io::lock_dir(&out, Field::Out).unwrap();
    let holder = format!("PID {}", std::process::id());
    let o = out.to_str().unwrap();
    let r = run.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["export", "--run", r, "--out", o],
        vec!["search", "--run", r, "--measure", "--out", o],
        vec!["train", "--data", "synthetic", "--out", o],
        vec![
            "space",
            "--samples",
            "8",
            "--resolutions",
            "64",
            "--widths",
            "0.3",
            "--out",
            o,
        ],
    ];
    for args in cases {
        refused_untouched(&d, &args, &["another tinynas process", &holder]);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn refused_train_and_predictor_commands_leave_the_run_and_its_lock_file_as_they_were() {
    let d = tmp("run-untouched");
    let run = fake_run(&d);
    // The lock file an earlier writer left (it stays after its writer ends).
    std::fs::write(
        run.join(tinynas::io::LOCK_FILE),
        "PID 1: tinynas train --out run",
    )
    .unwrap();
    let r = run.to_str().unwrap();
    refused_untouched(
        &d,
        &["train", "--data", "synthetic", "--out", r],
        &["already holds a run", "--resume"],
    );
    refused_untouched(
        &d,
        &[
            "train",
            "--data",
            "synthetic",
            "--out",
            r,
            "--resume",
            "--batch",
            "8",
        ],
        &["--resume", "other settings"],
    );
    refused_untouched(
        &d,
        &["predictor", "collect", "--run", r, "--n", "100000"],
        &["--n 100000", "distinct subnets"],
    );
    refused_untouched(
        &d,
        &["predictor", "fit", "--run", r],
        &["no measured subnets"],
    );
    let _ = std::fs::remove_dir_all(&d);
}
