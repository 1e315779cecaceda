//! Figures the program can vouch for: a TF Lite Micro fit judged on the whole arena (head and
//! tail), and a resumed run that had already finished says so instead of a rate of nothing.

mod common;
use common::harden::{tinynas, tmp};

#[test]
fn a_tflm_fit_is_judged_on_the_whole_arena_not_its_head() {
    let args = ["mem", "--model", "mbv2", "--res", "96", "--width", "0.35"];
    let (code, out, err) = tinynas(&[&args[..], &["--scheduler", "tflm", "--json"]].concat());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let head = v["peak_sram_bytes"].as_u64().unwrap();
    let whole = v["sram_bytes"].as_u64().unwrap();
    assert!(whole > head, "head {head}, whole arena {whole}");
    // A budget the head fits in and the whole arena does not: no fit.
    let kib = (head / 1024 + 1).to_string();
    assert!((head / 1024 + 1) * 1024 < whole);
    let (code, out, err) = tinynas(
        &[
            &args[..],
            &[
                "--scheduler",
                "tflm",
                "--json",
                "--sram",
                &kib,
                "--flash",
                "100000",
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fits"], false, "{out}");
    assert!(v["sram_margin_bytes"].as_i64().unwrap() < 0, "{out}");
}

#[test]
fn resuming_a_finished_run_says_it_was_finished() {
    let d = tmp("finished");
    let run = d.join("run");
    let r = run.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--data",
            "synthetic",
            "--out",
            r,
            "--width",
            "0.2",
            "--schedule",
            "joint",
            "--epochs",
            "1",
            "--train-images",
            "64",
            "--val-images",
            "16",
            "--recal-images",
            "16",
            "--batch",
            "32",
        ];
        a.extend_from_slice(extra);
        tinynas(&a)
    };
    let (code, out, err) = train(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("trained 1 steps"), "{out}");
    let (code, out, err) = train(&["--resume"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("had already finished its 1 steps: nothing to train"),
        "{out}"
    );
    assert!(!out.contains("trained 1 steps in"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}
