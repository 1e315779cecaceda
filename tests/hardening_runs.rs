//! Regression tests of the hardening issue, run folders and files: data loss (a checkpoint
//! that swept the user's files, a new run that overwrote them, a second writer, torn and
//! damaged JSON lines), the hang of `predictor collect`, damaged weights and labels, and the
//! findings of a hostile sweep of the command line.

mod common;
use common::engine;
use common::harden::*;
use std::path::Path;
use std::process::Command;
use tinynas::arch::SearchSpace;
use tinynas::arch::models::mobilenet_v2;
use tinynas::cli::flags::describe;
use tinynas::error::{Error, Field};
use tinynas::observer::Silent;
use tinynas::train::metrics::read_metrics;
use tinynas::train::supernet_run::train_supernet;

#[test]
fn a_run_deletes_only_its_own_replaced_weights_and_a_new_run_overwrites_nothing() {
    let e = engine();
    let out = tmp("own");
    // Among them, the run's own file names with a .tmp suffix: its temporary files are its own.
    let mine = [
        "weights-backup-step3.safetensors",
        "weights-pretrained.safetensors",
        "notes.txt",
        "state.json.tmp",
        "metrics.jsonl.tmp",
        "weights-00000002.safetensors.tmp",
    ];
    for f in mine {
        std::fs::write(out.join(f), f).unwrap();
    }
    let cfg = tiny_run(tiny_space());
    train_supernet(&e, &cfg, &quiet(&out, Some(3), false), &Silent).unwrap();
    // Defect: every checkpoint deleted every weights-*.safetensors but its own.
    for f in mine {
        assert_eq!(std::fs::read_to_string(out.join(f)).unwrap(), f, "{f} kept");
    }
    let ours: Vec<String> = files(&out)
        .into_iter()
        .filter(|f| f.starts_with("weights-000") && f.ends_with(".safetensors"))
        .collect();
    assert_eq!(ours, ["weights-00000003.safetensors"], "{:?}", files(&out));

    // Defect: `--resume --max-steps 2` from step 3 ran to the end; `--max-steps 0` trained all.
    let err = train_supernet(&e, &cfg, &quiet(&out, Some(2), true), &Silent)
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::Setting { field: Field::MaxSteps, value: Some(v), .. } if v == "2"),
        "{err:?}"
    );
    let err = describe(&err);
    assert!(
        err.contains("--max-steps 2") && err.contains("step 3"),
        "{err}"
    );
    let fresh = tmp("own-zero");
    let err = train_supernet(&e, &cfg, &quiet(&fresh, Some(0), false), &Silent)
        .err()
        .unwrap();
    assert!(describe(&err).contains("--max-steps 0"), "{err}");
    assert!(!fresh.join("state.json").exists());

    // Defect: a fresh run into a folder without state.json overwrote its metrics.jsonl.
    let other = tmp("own-metrics");
    std::fs::write(other.join("metrics.jsonl"), "the user's own\n").unwrap();
    let err = train_supernet(&e, &cfg, &quiet(&other, Some(1), false), &Silent)
        .err()
        .unwrap();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("metrics.jsonl"), "{err}");
    assert_eq!(
        std::fs::read_to_string(other.join("metrics.jsonl")).unwrap(),
        "the user's own\n"
    );
}

#[test]
fn a_second_writer_is_refused_naming_the_holders_pid() {
    let e = engine();
    let out = tmp("lock");
    let lock = tinynas::io::lock_dir(&out, Field::Out).unwrap();
    // In this process (a second open of the lock file) and from another process.
    let cfg = tiny_run(tiny_space());
    let err = train_supernet(&e, &cfg, &quiet(&out, Some(1), false), &Silent)
        .err()
        .unwrap()
        .to_string();
    let pid = format!("PID {}", std::process::id());
    assert!(err.contains(&pid), "{err}");
    refused(
        &[
            "train",
            "--out",
            out.to_str().unwrap(),
            "--data",
            "synthetic",
        ],
        &[&pid, "another tinynas process"],
    );
    assert!(!out.join("state.json").exists(), "nothing was written");
    drop(lock);
    // The lock goes with its holder.
    train_supernet(&e, &cfg, &quiet(&out, Some(1), false), &Silent).unwrap();
    // A user's file of the lock's name is refused, not overwritten.
    let theirs = tmp("lock-theirs");
    std::fs::write(theirs.join(".tinynas.lock"), "my notes").unwrap();
    let err = tinynas::io::lock_dir(&theirs, Field::Out)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not written by tinynas"), "{err}");
    assert_eq!(
        std::fs::read_to_string(theirs.join(".tinynas.lock")).unwrap(),
        "my notes"
    );
}

#[test]
fn damaged_json_lines_are_reported_by_line_never_read_as_empty() {
    let dir = tmp("jsonl");
    let space = tiny_space();
    let line = |top1: f64| {
        serde_json::json!({"subnet": space.smallest(16), "top1": top1, "macs": 1000}).to_string()
    };
    let good: Vec<String> = (0..6).map(|i| line(0.5 + i as f64 / 100.0)).collect();
    let path = dir.join("accuracy_pairs.jsonl");
    std::fs::write(&path, format!("{}\n{{\"subnet\": [", good.join("\n"))).unwrap();
    let err = tinynas::pipeline::evidence::read_pairs(&dir, &space).unwrap_err();
    assert!(err.to_string().contains("line 7"), "{err}");
    std::fs::write(&path, good.join("\n") + "\n").unwrap();
    assert_eq!(
        tinynas::pipeline::evidence::read_pairs(&dir, &space)
            .unwrap()
            .len(),
        6
    );
    // No file: nothing measured yet (not an error).
    assert!(
        tinynas::pipeline::evidence::read_pairs(&tmp("jsonl-none"), &space)
            .unwrap()
            .is_empty()
    );

    // Metrics: a last line cut short by a kill is dropped (the run rewrites the file on
    // resume); a damaged line before it is an error with its number.
    let m = r#"{"kind":"step","step":1,"phase":"joint","epoch":0,"lr":0.1,"losses":[2.3],"images_per_s":10.0}"#;
    let mp = dir.join("metrics.jsonl");
    std::fs::write(&mp, format!("{m}\n{m}\n{{\"kind\":\"st")).unwrap();
    assert_eq!(read_metrics(&dir).unwrap().len(), 2);
    std::fs::write(&mp, format!("{m}\nnot json\n{m}\n")).unwrap();
    let err = read_metrics(&dir).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn collect_on_a_space_of_one_subnet_stops_instead_of_looping() {
    let e = engine();
    let out = tmp("one");
    let space = SearchSpace {
        kernel_choices: vec![3],
        expand_choices: vec![3],
        depth_choices: vec![1],
        ..tiny_space()
    };
    let cfg = tiny_run(space);
    train_supernet(&e, &cfg, &quiet(&out, Some(1), false), &Silent).unwrap();
    let run = tinynas::train::open::open_run(&e, &out, &Silent).unwrap();
    let t = std::time::Instant::now();
    let err = tinynas::pipeline::predictor::collect(&e, &run, 5, 0, 48, &Silent)
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::Setting { field: Field::N, value: Some(v), .. } if v == "5"),
        "{err:?}"
    );
    let err = describe(&err);
    assert!(err.contains("--n 5") && err.contains("only 1"), "{err}");
    assert!(t.elapsed().as_secs() < 30);
    assert_eq!(
        tinynas::pipeline::predictor::collect(&e, &run, 1, 0, 48, &Silent)
            .unwrap()
            .len(),
        1
    );
    // The file holds one way of measuring: another recalibration size is refused.
    let err = tinynas::pipeline::predictor::collect(&e, &run, 1, 0, 64, &Silent)
        .err()
        .unwrap();
    let err = describe(&err);
    assert!(
        err.contains("--recal-images 64") && err.contains("48"),
        "{err}"
    );
}

#[test]
fn damaged_weights_and_mismatched_labels_are_refused() {
    // Defect: eval of NaN weights printed "10.00 %".
    let dir = tmp("nan");
    let cfg = serde_json::json!({"x": 1});
    let t = vec![("w".to_string(), vec![2], vec![1.0, f32::NAN])];
    tinynas::train::checkpoint::save(&dir, 1, 0, cfg, &t).unwrap();
    let err = tinynas::train::checkpoint::load(&dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-finite") && err.contains('w'), "{err}");
    // Defect: test labels at or past the class count were scored without a word.
    let data = tmp("labels");
    write_split(&data, "train", [20, 28, 28], |_| 9);
    write_split(&data, "t10k", [5, 28, 28], |_| 12);
    let err = tinynas::data::load_dir(&data, 32).unwrap_err().to_string();
    assert!(err.contains("test label is 12"), "{err}");
}

#[test]
fn the_hostile_sweeps_findings_are_refused_before_any_harm() {
    let dir = tmp("sweep");
    // A trace path that is a run's state.json (eval --profile would have destroyed the run).
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("state.json"), "{\"step\": 1}").unwrap();
    let st = run.join("state.json");
    refused(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--profile",
            st.to_str().unwrap(),
        ],
        &["--profile", "not a trace"],
    );
    assert_eq!(std::fs::read_to_string(&st).unwrap(), "{\"step\": 1}");
    refused(
        &["bench", "ops", "--profile", dir.to_str().unwrap()],
        &["is a folder"],
    );
    // Networks that no runtime runs as described.
    let mut net = mobilenet_v2(0.5, 96, 10);
    net.blocks[0].mid_channels = Some(64);
    let err = net.validate().unwrap_err().to_string();
    assert!(err.contains("blocks[0].mid_channels"), "{err}");
    let mut net = mobilenet_v2(0.5, 96, 10);
    net.stem.kernel_size = 4;
    assert!(
        net.validate()
            .unwrap_err()
            .to_string()
            .contains("stem.kernel_size")
    );
    // Settings that were silently wrong.
    let mut cfg = tiny_run(tiny_space());
    cfg.val_images = 0;
    let err = cfg.validate().unwrap_err();
    assert!(
        matches!(&err, Error::Setting { field: Field::ValImages, value: Some(v), .. } if v == "0"),
        "{err:?}"
    );
    assert!(describe(&err).contains("--val-images 0"), "{err}");
    refused(&["train-mobilenet", "--lr=-1"], &["--lr"]);
    let m = dir.join("m");
    refused(
        &[
            "train-mobilenet",
            "--max-steps",
            "0",
            "--out",
            m.to_str().unwrap(),
        ],
        &["--max-steps"],
    );
    refused(
        &["space", "--resolutions", "64,64"],
        &["--resolutions", "twice"],
    );
    refused(
        &[
            "predictor",
            "fit",
            "--run",
            run.to_str().unwrap(),
            "--holdout",
            "0",
        ],
        &["--holdout"],
    );
    refused(
        &["mem", "--model", "mbv2", "--patches", "8"],
        &["--patches"],
    );
    refused(
        &[
            "mem",
            "--model",
            "mbv2",
            "--scheduler",
            "tflm",
            "--no-inplace",
        ],
        &["--no-inplace"],
    );
    let w = dir.join("w");
    refused(
        &["train", "--out", w.to_str().unwrap(), "--workers", "100000"],
        &["--workers"],
    );
    refused(&["bench", "mem", "--count", "10000000"], &["--count"]);
    // A pairs file with a top-1 that is no accuracy, and a damaged predictor.
    let space = tiny_space();
    let pairs = dir.join("pairs");
    std::fs::create_dir_all(&pairs).unwrap();
    let line = serde_json::json!({"subnet": space.smallest(16), "top1": 37.0, "macs": 1000});
    std::fs::write(pairs.join("accuracy_pairs.jsonl"), format!("{line}\n")).unwrap();
    let err = tinynas::pipeline::evidence::read_pairs(&pairs, &space)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1") && err.contains("top1 37"), "{err}");
    let p = tinynas::search::predictor::Predictor {
        space: space.clone(),
        hidden: 2,
        weights: vec![vec![0.0; 1]; 6],
        target_mean: 0.5,
        target_std: 0.0,
        report: None,
        pairs_sha256: None,
    };
    let pj = dir.join("predictor.json");
    std::fs::write(&pj, serde_json::to_string(&p).unwrap()).unwrap();
    let err = tinynas::search::predictor::Predictor::load(&pj)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("corrupt predictor") && err.contains("target_std 0"),
        "{err}"
    );
    // A label byte of 255 among ten classes: a damaged label file, not 256 classes.
    let data = dir.join("labels");
    std::fs::create_dir_all(&data).unwrap();
    for (name, n) in [("train", 30), ("t10k", 10)] {
        write_split(&data, name, [n, 28, 28], |i| {
            if i == 7 { 255 } else { (i % 10) as u8 }
        });
    }
    let err = tinynas::data::load_dir(&data, 32).unwrap_err().to_string();
    assert!(
        err.contains("256 classes") && err.contains("no image"),
        "{err}"
    );
    // A command on a missing run creates nothing.
    let missing = dir.join("missing-run");
    refused(
        &["search", "--run", missing.to_str().unwrap()],
        &["no state.json"],
    );
    refused(
        &["predictor", "collect", "--run", missing.to_str().unwrap()],
        &["no state.json"],
    );
    assert!(!missing.exists());
    // Standard output that cannot be written: a failure (exit 1), not a panic.
    if Path::new("/dev/full").exists() {
        let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
            .args(["mem", "--model", "mbv2"])
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // `search --out` / `space --out` into a folder with the user's own files of those names.
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("search.json"), "mine").unwrap();
    let names = ["best_subnet.json", "search.json", "population.png"];
    let err = tinynas::io::claim_outputs(&shared, Field::Out, &names)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("search.json") && err.contains("not written by tinynas"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(shared.join("search.json")).unwrap(),
        "mine"
    );
    let ours = dir.join("ours");
    tinynas::io::claim_outputs(&ours, Field::Out, &names).unwrap();
    std::fs::write(ours.join("search.json"), "written").unwrap();
    tinynas::io::claim_outputs(&ours, Field::Out, &names).expect("a rerun replaces its own files");
    // Widths whose weights cannot be one GPU buffer: refused at once, naming the widths.
    let e = engine();
    let huge = SearchSpace {
        base_widths: vec![4096; 8],
        width_mult: 1.0,
        expand_choices: vec![3, 4],
        last_expand: 4,
        ..SearchSpace::default()
    };
    huge.validate()
        .expect("within the bounds: only the adapter can refuse it");
    // The expansion weight of a 4096-channel block: 16384 x 4096 f32.
    let needed = 16384u64 * 4096 * 4;
    if needed > e.gpu.max_binding_bytes() {
        let t = std::time::Instant::now();
        let err = tinynas::supernet::Supernet::new(&e, &huge, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("base_widths") && err.contains("per buffer"),
            "{err}"
        );
        assert!(t.elapsed().as_secs() < 5, "refused before allocating");
    } else {
        eprintln!(
            "this adapter binds {} MiB: a 4096-wide space fits, its refusal is checked on smaller adapters (lavapipe: 128 MiB)",
            e.gpu.max_binding_bytes() >> 20
        );
    }
    // The most classes the bounds allow, on a wide last stage: the classifier's weight is
    // refused up front, naming the classes.
    let many = SearchSpace {
        width_mult: 2.0,
        classes: tinynas::bounds::MAX_CLASSES,
        ..SearchSpace::default()
    };
    many.validate().expect("within the bounds");
    if 640u64 * 65_536 * 4 > e.gpu.max_binding_bytes() {
        let err = tinynas::supernet::Supernet::new(&e, &many, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("classes 65536"), "{err}");
    }
    // Resuming with other settings names the setting that differs.
    let a = serde_json::json!({"batch": 64, "space": {"resolutions": [32]}});
    let b = serde_json::json!({"batch": 64, "space": {"resolutions": [48]}});
    assert_eq!(
        tinynas::train::compare::differing_fields(&a, &b),
        ["space.resolutions[0]"]
    );
}

/// A new run's metrics reach the disk with its first checkpoint, so a run stopped (or killed)
/// before one leaves no metrics.jsonl that would block the folder (only a hidden file the next
/// run writes over); then they are appended line by line. A log that is not the writer (a data-parallel rank other than 0) writes nothing.
#[test]
fn a_new_runs_metrics_are_written_at_its_first_checkpoint() {
    use tinynas::train::metrics::{Metric, MetricsLog, read_metrics};
    let dir = tmp("metrics-log");
    let m = Metric::Validation {
        step: 1,
        phase: "joint".into(),
        epoch: 1,
        largest: 0.5,
        smallest: 0.4,
    };
    let mut log = MetricsLog::new(&dir, vec![], false, true).unwrap();
    log.push(m.clone()).unwrap();
    assert!(!dir.join("metrics.jsonl").exists());
    // Before the checkpoint is published the metrics wait under a hidden name (which a resume
    // reads where the checkpoint committed and the rename did not happen)...
    log.before_checkpoint().unwrap();
    assert!(!dir.join("metrics.jsonl").exists());
    assert_eq!(read_metrics(&dir).unwrap().len(), 1);
    // ...and take their name after it.
    log.after_checkpoint().unwrap();
    assert!(dir.join("metrics.jsonl").exists());
    assert!(!dir.join(tinynas::train::metrics::PENDING_METRICS).exists());
    assert_eq!(read_metrics(&dir).unwrap().len(), 1);
    log.push(m.clone()).unwrap();
    assert_eq!(read_metrics(&dir).unwrap().len(), 2);
    assert_eq!(log.all().len(), 2);
    let other = tmp("metrics-log-rank1");
    let mut quiet = MetricsLog::new(&other, vec![m.clone()], true, false).unwrap();
    quiet.push(m).unwrap();
    quiet.before_checkpoint().unwrap();
    quiet.after_checkpoint().unwrap();
    assert!(files(&other).is_empty(), "{:?}", files(&other));
}
