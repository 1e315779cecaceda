//! Regression tests of the hardening issue, inputs: counts that wrapped, panics and aborts on
//! absurd numbers, settings `train` accepted and `eval` refused, flags that did not apply, and
//! unclear errors. Each names the defect it pins down.

mod common;
use common::harden::*;
use std::path::Path;
use std::process::Command;
use tinynas::Error;
use tinynas::arch::SearchSpace;
use tinynas::arch::models::mobilenet_v2;
use tinynas::arch::net::Network;

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
        input: tinynas::arch::net::Input {
            resolution: tinynas::bounds::MAX_RESOLUTION,
            channels: 3,
        },
        stem: tinynas::arch::net::Stem {
            out_channels: c,
            kernel_size: 3,
            stride: 1,
        },
        blocks: vec![tinynas::arch::net::Block::new(c, c, 3, 1, 1); 4],
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
                tinynas::arch::subnet::from_subnet(&s, &sub).unwrap();
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
    let r = dir.join("r");
    refused(
        &["train", "--out", r.to_str().unwrap(), "--image-size", "64"],
        &["--image-size", "image folders"],
    );
    refused(
        &["train-mobilenet", "--image-size", "64"],
        &["--image-size", "image folders"],
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
    let cfg = tinynas::cli::train::run_config(&a).unwrap();
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
            value: f32::NAN,
            lower: tinynas::error::Field::Lr,
        }
        .exit_code(),
        1
    );
    let _ = Network::from_json("{}").unwrap_err();
}

/// A library caller matches a setting's error by its field, value and range, and a missing
/// artifact by what is missing where; the CLI words each its own way (flags, the command that
/// makes it), the library's words name no flag and no command.
#[test]
fn errors_are_typed_and_the_cli_names_flags_and_commands() {
    use tinynas::cli::flags::describe;
    use tinynas::error::{Allowed, Field, Missing};
    let mut cfg = tiny_run(tiny_space());
    cfg.batch = 1;
    let e = cfg.validate().unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Setting { field: Field::Batch, value: Some(v), allowed: Allowed::Ints { lo: 2, hi: 4096 } }
                if v == "1"
        ),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "batch: 1 is out of range; give 2 to 4096");
    assert_eq!(describe(&e), "--batch: 1 is out of range; give 2 to 4096");
    assert_eq!(e.exit_code(), 2);

    // Words naming other settings: each rendered as its flag by the CLI.
    let d = tmp("typed-errors");
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("state.json"), "{}").unwrap();
    let e = tinynas::train::checkpoint::refuse_overwrite(&out).unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Out, allowed: Allowed::Words(w), .. }
            if w.fields().eq([Field::Resume, Field::Out])),
        "{e:?}"
    );
    assert!(!e.to_string().contains("--"), "{e}");
    assert!(
        describe(&e).starts_with(&format!("--out {}: already holds a run", out.display()))
            && describe(&e).ends_with("pass --resume to continue it or choose another --out"),
        "{}",
        describe(&e)
    );

    // Missing: a folder without a trained supernet; the CLI adds the command that makes one.
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = tinynas::train::run::check_run(&empty).unwrap_err();
    let here = empty.display().to_string();
    assert!(
        matches!(&e, Error::Missing { path, what: Missing::Supernet, .. } if *path == here),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    assert!(!e.to_string().contains("`tinynas"), "{e}");
    assert_eq!(
        describe(&e),
        format!(
            "{here} holds no trained supernet (no state.json); make one with `tinynas train --out {here}`"
        )
    );
    // A run without measured subnets: collect them first.
    let run = fake_run(&d);
    let e = tinynas::pipeline::predictor::fit_inputs(&run, &tiny_space()).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Missing {
                what: Missing::MeasuredSubnets { have: 0 },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        describe(&e).ends_with(&format!(
            "; run `tinynas predictor collect --run {}` first",
            run.display()
        )),
        "{}",
        describe(&e)
    );
    // No predictor: not trusted (the search measures instead), and the CLI says how to fit one.
    let why = tinynas::pipeline::trust::trusted_predictor(&run, &tiny_space(), 0.5)
        .unwrap()
        .err()
        .unwrap();
    assert!(
        matches!(
            &why,
            Error::Missing {
                what: Missing::Predictor,
                ..
            }
        ),
        "{why:?}"
    );
    assert!(
        describe(&why).ends_with(&format!(
            "; fit one with `tinynas predictor collect|fit --run {}`",
            run.display()
        )),
        "{}",
        describe(&why)
    );
    let _ = std::fs::remove_dir_all(&d);
}
