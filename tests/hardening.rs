//! Regression tests for the defects of the hardening issue: data loss in run directories,
//! counts that wrapped, panics and aborts, a hang, silent wrong results and unclear errors.
//! Each names the defect it pins down.

mod common;
use common::engine;
use std::path::{Path, PathBuf};
use std::process::Command;
use tinynas::Error;
use tinynas::mcu::net::{Network, mobilenet_v2};
use tinynas::supernet::SearchSpace;
use tinynas::train::run::{RunConfig, RunOptions, read_metrics, train_supernet};
use tinynas::train::schedule::Schedule;

fn tinynas(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The command exits 2 with a message holding every one of `want`, and does not panic.
fn refused(args: &[&str], want: &[&str]) {
    let (code, _, err) = tinynas(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?} should name {w:?}: {err}");
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-hard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tiny_space() -> SearchSpace {
    SearchSpace {
        base_widths: vec![8, 8, 16, 16, 24, 32],
        width_mult: 1.0,
        stage_strides: vec![2, 2, 1],
        kernel_choices: vec![3, 5],
        expand_choices: vec![3, 4],
        depth_choices: vec![1, 2],
        resolutions: vec![16],
        in_channels: 1,
        classes: 10,
        last_expand: 4,
        last_kernel: 3,
        kernel_transform: false,
    }
}

fn tiny_run(space: SearchSpace) -> RunConfig {
    let mut cfg = RunConfig::new("synthetic", space, Schedule::joint(2, 0.1, 2));
    cfg.train_images = 132;
    cfg.val_images = 36;
    cfg.recal_images = 48;
    cfg.batch = 32;
    cfg
}

fn quiet(out: &Path, max_steps: Option<usize>, resume: bool) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        checkpoint_every: 1,
        max_steps,
        resume,
        no_validation: true,
        workers: 1,
        ..RunOptions::default()
    }
}

/// An MNIST-layout split `name` (train / t10k) of black images of `dims`, labels `label(i)`.
fn write_split(dir: &Path, name: &str, dims: [u32; 3], label: impl Fn(u32) -> u8) {
    let idx = |rank: u8, dims: &[u32], data: Vec<u8>| {
        let mut b = vec![0u8, 0, 8, rank];
        dims.iter()
            .for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
        b.extend(data);
        b
    };
    let pixels = (dims[0] * dims[1] * dims[2]) as usize;
    std::fs::write(
        dir.join(format!("{name}-images-idx3-ubyte")),
        idx(3, &dims, vec![0; pixels]),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}-labels-idx1-ubyte")),
        idx(1, &[dims[0]], (0..dims[0]).map(label).collect()),
    )
    .unwrap();
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

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
    train_supernet(&e, &cfg, &quiet(&out, Some(3), false)).unwrap();
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
    let err = train_supernet(&e, &cfg, &quiet(&out, Some(2), true))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("--max-steps 2") && err.contains("step 3"),
        "{err}"
    );
    let fresh = tmp("own-zero");
    let err = train_supernet(&e, &cfg, &quiet(&fresh, Some(0), false))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--max-steps 0"), "{err}");
    assert!(!fresh.join("state.json").exists());

    // Defect: a fresh run into a folder without state.json overwrote its metrics.jsonl.
    let other = tmp("own-metrics");
    std::fs::write(other.join("metrics.jsonl"), "the user's own\n").unwrap();
    let err = train_supernet(&e, &cfg, &quiet(&other, Some(1), false))
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
    let lock = tinynas::io::lock_dir(&out, "--out").unwrap();
    // In this process (a second open of the lock file) and from another process.
    let cfg = tiny_run(tiny_space());
    let err = train_supernet(&e, &cfg, &quiet(&out, Some(1), false))
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
    train_supernet(&e, &cfg, &quiet(&out, Some(1), false)).unwrap();
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
    let err = tinynas::pipeline::predictor::read_pairs(&dir, &space).unwrap_err();
    assert!(err.to_string().contains("line 7"), "{err}");
    std::fs::write(&path, good.join("\n") + "\n").unwrap();
    assert_eq!(
        tinynas::pipeline::predictor::read_pairs(&dir, &space)
            .unwrap()
            .len(),
        6
    );
    // No file: nothing measured yet (not an error).
    assert!(
        tinynas::pipeline::predictor::read_pairs(&tmp("jsonl-none"), &space)
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
fn byte_mac_and_shape_counts_cannot_wrap() {
    // Defect: resolution 1e9 reported a peak of 1.2e19 B that "fits".
    let mut net = mobilenet_v2(1.0, 224, 1000);
    net.input.resolution = 1_000_000_000;
    let err = net.validate().unwrap_err().to_string();
    assert!(err.contains("input.resolution"), "{err}");
    // Every value in range, the product over the limit: refused at the layer where it is crossed.
    let c = tinynas::bounds::MAX_CHANNELS;
    let wide = Network {
        name: "wide".into(),
        input: tinynas::mcu::net::Input {
            resolution: tinynas::bounds::MAX_RESOLUTION,
            channels: 3,
        },
        stem: tinynas::mcu::net::Stem {
            out_channels: c,
            kernel_size: 3,
            stride: 1,
        },
        blocks: vec![tinynas::mcu::net::Block::new(c, c, 3, 1, 1); 4],
        feature_mix_channels: None,
        classes: 10,
    };
    let err = wide.validate().unwrap_err().to_string();
    assert!(err.contains("MACs") && err.contains("blocks["), "{err}");
    // Defect: --sram 18014398509481984 (KiB) wrapped to "0.0 KiB".
    refused(
        &["mem", "--model", "mbv2", "--sram", "18014398509481984"],
        &["--sram"],
    );
    // Defect: an idx header of 4194304x2097152x2097152 wrapped to 0 bytes.
    let mut idx = vec![0u8, 0, 8, 3];
    for d in [4_194_304u32, 2_097_152, 2_097_152] {
        idx.extend_from_slice(&d.to_be_bytes());
    }
    let err = tinynas::data::idx::parse(&idx).unwrap_err();
    assert!(err.contains("overflow"), "{err}");
    // Margins saturate instead of flipping sign.
    let d = tinynas::mcu::Device::preset("stm32f412").unwrap();
    assert_eq!(d.margins(u64::MAX, 0).0, i64::MIN);
    assert!(!d.fits(u64::MAX, 0));
}

#[test]
fn former_panics_and_aborts_are_errors_naming_the_input() {
    let dir = tmp("panics");
    let space = dir.join("space.json");
    let mut s = serde_json::to_value(SearchSpace::default()).unwrap();
    s["kernel_choices"] = serde_json::json!([]);
    std::fs::write(&space, s.to_string()).unwrap();
    let sp = space.to_str().unwrap();
    refused(
        &["mem", "--model", "mcunet-space", "--space", sp],
        &["kernel_choices"],
    );
    // Search options are checked before the run is opened.
    for (flag, v) in [
        ("--mutation-prob", "2"),
        ("--mutation-prob", "NaN"),
        ("--mutation-ratio", "2"),
        ("--population", "1"),
    ] {
        refused(&["search", "--run", "/nonexistent", flag, v], &[flag]);
    }
    refused(&["bench", "train", "--steps", "0"], &["--steps"]);
    // Tens of GB to TB asked for instead of refusing.
    refused(
        &[
            "train",
            "--out",
            dir.join("r").to_str().unwrap(),
            "--resolution",
            "100000",
        ],
        &["--resolution"],
    );
    refused(
        &[
            "train",
            "--out",
            dir.join("r").to_str().unwrap(),
            "--image-size",
            "100000",
        ],
        &["--image-size"],
    );
    refused(
        &[
            "predictor",
            "fit",
            "--run",
            "/nonexistent",
            "--hidden",
            "100000",
        ],
        &["--hidden"],
    );
    let big = SearchSpace::default().largest(100_000);
    let err = SearchSpace::default().check(&big).unwrap_err().to_string();
    assert!(err.contains("resolution"), "{err}");
    // An idx of 3000 images of 0x0 pixels.
    let data = dir.join("zero");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", [3000, 0, 0], |_| 1);
    write_split(&data, "t10k", [10, 0, 0], |_| 1);
    let err = tinynas::data::load_dir(&data, 32).unwrap_err().to_string();
    assert!(err.contains("0x0 pixels"), "{err}");
    // `tinynas mem … | head`: the reader goes away; no panic, no error message.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' mem --model mbv2 --scheduler all 2>'{}' | head -1; echo ${{PIPESTATUS[0]}}",
            env!("CARGO_BIN_EXE_tinynas"),
            dir.join("err").display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = std::fs::read_to_string(dir.join("err")).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    let status: i32 = stdout.lines().last().unwrap().trim().parse().unwrap();
    assert!(
        status == 0 || status == 141,
        "killed by SIGPIPE or done: {status}"
    );
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
    train_supernet(&e, &cfg, &quiet(&out, Some(1), false)).unwrap();
    let run = tinynas::pipeline::predictor::open_run(&e, &out, &tinynas::observer::Silent).unwrap();
    let t = std::time::Instant::now();
    let err =
        tinynas::pipeline::predictor::collect(&e, &out, &run, 5, 0, 48, &tinynas::observer::Silent)
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("--n 5") && err.contains("only 1"), "{err}");
    assert!(t.elapsed().as_secs() < 30);
    assert_eq!(
        tinynas::pipeline::predictor::collect(&e, &out, &run, 1, 0, 48, &tinynas::observer::Silent)
            .unwrap()
            .len(),
        1
    );
    // The file holds one way of measuring: another recalibration size is refused.
    let err =
        tinynas::pipeline::predictor::collect(&e, &out, &run, 1, 0, 64, &tinynas::observer::Silent)
            .err()
            .unwrap()
            .to_string();
    assert!(
        err.contains("--recal-images 64") && err.contains("48"),
        "{err}"
    );
}

#[test]
fn what_train_accepts_eval_accepts_and_bad_settings_are_refused_up_front() {
    // Defect: train accepted spaces that eval refused (resolution 1 or 7, a stride of 1000, an
    // even last kernel): one validate() now holds for both.
    for (edit, field) in [
        (
            SearchSpace {
                resolutions: vec![1],
                ..SearchSpace::default()
            },
            "resolution 1",
        ),
        (
            SearchSpace {
                resolutions: vec![7],
                ..SearchSpace::default()
            },
            "resolution 7",
        ),
        (
            SearchSpace {
                stage_strides: vec![2, 2, 1000, 1, 2],
                ..SearchSpace::default()
            },
            "stage_strides[2]",
        ),
        (
            SearchSpace {
                last_kernel: 4,
                ..SearchSpace::default()
            },
            "last_kernel",
        ),
        (
            SearchSpace {
                kernel_choices: vec![3, 3],
                ..SearchSpace::default()
            },
            "listed twice",
        ),
    ] {
        let err = edit.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    for r in [16, 28, 32, 64, 224] {
        let s = SearchSpace {
            resolutions: vec![r],
            ..SearchSpace::default()
        };
        if s.validate().is_ok() {
            for sub in [s.largest(r), s.smallest(r)] {
                tinynas::mcu::net::from_subnet(&s, &sub).unwrap();
                s.check(&sub).unwrap();
            }
        }
    }
    // Defect: mem --width 0 / nan / -1 accepted; flags that do not apply ignored.
    for w in ["--width=0", "--width=nan", "--width=-1"] {
        refused(&["mem", "--model", "mbv2", w], &["--width"]);
    }
    let dir = tmp("flags");
    let net = dir.join("net.json");
    std::fs::write(
        &net,
        serde_json::to_string(&mobilenet_v2(0.5, 96, 10)).unwrap(),
    )
    .unwrap();
    refused(
        &["mem", "--net", net.to_str().unwrap(), "--res", "64"],
        &["--res"],
    );
    let space = dir.join("space.json");
    let s = SearchSpace {
        resolutions: vec![96],
        width_mult: 0.35,
        ..SearchSpace::default()
    };
    std::fs::write(&space, serde_json::to_string(&s).unwrap()).unwrap();
    let sp = space.to_str().unwrap();
    refused(
        &[
            "train",
            "--out",
            dir.join("r").to_str().unwrap(),
            "--space",
            sp,
            "--resolution",
            "64",
        ],
        &["--resolution", "--space"],
    );
    refused(
        &[
            "mem",
            "--model",
            "mcunet-space",
            "--space",
            sp,
            "--width",
            "1",
        ],
        &["--width"],
    );
    // Defect: mem --space F reported the space at 224 and width 1.0, not its own.
    let (code, out, err) = tinynas(&["mem", "--model", "mcunet-space", "--space", sp, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["network"], "mcunet-subnet-r96-w0.35");
    assert_eq!(v["layers"][0]["input"]["h"], 96);
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
fn unclear_errors_now_name_the_path_and_come_before_the_work() {
    let dir = tmp("unclear");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    // Defect: "File exists (os error 17)" with no path, exit 1, after the search had run.
    refused(
        &["search", "--run", "/nonexistent", "--out", f],
        &[f, "is a file"],
    );
    refused(&["train", "--out", f], &[f, "is a file"]);
    // Defect: demo --population 1 refused only at step 5, after training.
    let out = dir.join("demo");
    let t = std::time::Instant::now();
    refused(
        &["demo", "--population", "1", "--out", out.to_str().unwrap()],
        &["--population"],
    );
    assert!(t.elapsed().as_secs() < 60 && !out.join("train").exists());
    // Defect: a relative --data was recorded as given, so eval from another folder broke.
    use clap::Parser;
    let cli = tinynas::cli::Cli::try_parse_from([
        "tinynas",
        "train",
        "--out",
        "x",
        "--data",
        "datasets/fashion-mnist-subset",
    ])
    .unwrap();
    let tinynas::cli::Command::Train(a) = cli.command else {
        panic!("parsed as train")
    };
    let cfg = tinynas::cli::supernet::run_config(&a).unwrap();
    assert!(Path::new(&cfg.data).is_absolute(), "{}", cfg.data);
    // One exit-code rule: 2 for bad input, 1 for a failure during the work.
    assert_eq!(Error::Invalid("x".into()).exit_code(), 2);
    assert_eq!(
        Error::Write {
            path: "p".into(),
            source: std::io::Error::other("disk full")
        }
        .exit_code(),
        1
    );
    assert_eq!(
        Error::NonFinite {
            at: "s".into(),
            value: f32::NAN
        }
        .exit_code(),
        1
    );
    let _ = Network::from_json("{}").unwrap_err();
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
    assert!(
        cfg.validate()
            .unwrap_err()
            .to_string()
            .contains("--val-images 0")
    );
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
    let err = tinynas::pipeline::predictor::read_pairs(&pairs, &space)
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
    let err = tinynas::io::claim_outputs(&shared, "--out", &names)
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
    tinynas::io::claim_outputs(&ours, "--out", &names).unwrap();
    std::fs::write(ours.join("search.json"), "written").unwrap();
    tinynas::io::claim_outputs(&ours, "--out", &names).expect("a rerun replaces its own files");
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
    // Resuming with other settings names the setting that differs.
    let a = serde_json::json!({"batch": 64, "space": {"resolutions": [32]}});
    let b = serde_json::json!({"batch": 64, "space": {"resolutions": [48]}});
    assert_eq!(
        tinynas::train::run::differing_fields(&a, &b),
        ["space.resolutions[0]"]
    );
}
