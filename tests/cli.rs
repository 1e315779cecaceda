//! The command line end to end: JSON output, exit codes and messages for bad input, and a tiny
//! training run through `tinynas train`.

mod common;
use common::harden::{tiny_dataset, tinynas};

#[test]
fn mem_json_reports_the_published_mobilenet_v2_peak() {
    let (code, out, err) = tinynas(&[
        "mem",
        "--model",
        "mbv2",
        "--res",
        "224",
        "--scheduler",
        "analytic",
        "--device",
        "stm32h743",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["peak_sram_bytes"], 1_404_928);
    assert_eq!(v["peak_layer"], "blocks.1.expand");
    assert_eq!(v["scheduler"], "analytic");
    assert_eq!(v["fits"], false);
    assert_eq!(v["sram_margin_bytes"], 512 * 1024 - 1_404_928);
    let layers = v["layers"].as_array().unwrap();
    let macs: u64 = layers.iter().map(|l| l["macs"].as_u64().unwrap()).sum();
    assert_eq!(
        v["macs"].as_u64().unwrap(),
        macs,
        "the total is the sum of the per-layer rows"
    );
    assert_eq!(
        layers[0]["activation_bytes"],
        224 * 224 * 3 + 112 * 112 * 32
    );
}

#[test]
fn mem_all_schedulers_for_an_mcunet_subnet() {
    let (code, out, err) = tinynas(&[
        "mem",
        "--model",
        "mcunet-space",
        "--res",
        "160",
        "--width",
        "0.5",
        "--subnet",
        "min",
        "--scheduler",
        "all",
        "--device",
        "stm32f412",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scheduler"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["analytic", "tflm", "tinyengine", "patch"]);
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = std::env::temp_dir().join(format!("tinynas-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"input":{"resolution":64,"channels":1},"stem":{"out_channels":8},"blocks":[{"in_channels":9,"out_channels":8,"kernel_size":3,"expand_ratio":1}],"classes":10}"#).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["mem", "--net", bad.to_str().unwrap()],
            "blocks[0].in_channels",
        ),
        (
            vec!["mem", "--model", "mbv2", "--scheduler", "greedy"],
            "tinyengine",
        ),
        (
            vec!["mem", "--model", "mbv2", "--device", "esp32"],
            "stm32f412",
        ),
        (
            vec!["mem", "--model", "resnet"],
            "mbv2, proxyless, mcunet-in2, mcunet-space",
        ),
        (vec!["mem", "--model", "mbv2", "--res", "8"], "too small"),
        (
            vec!["train", "--data", "/nonexistent/data", "--out", "/tmp/x"],
            "no such folder",
        ),
        (
            vec!["eval", "--run", "/nonexistent/run"],
            "tinynas train --out",
        ),
    ];
    for (args, want) in cases {
        let (code, _, err) = tinynas(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(want) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // A corrupt dataset file.
    let data = dir.join("corrupt");
    std::fs::create_dir_all(&data).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::write(data.join(f), [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    }
    let (code, _, err) = tinynas(&["train-mobilenet", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("corrupt gzip"), "{err}");
}

#[test]
fn train_runs_end_to_end_on_a_tiny_dataset() {
    let dir = std::env::temp_dir().join(format!("tinynas-train-{}", std::process::id()));
    tiny_dataset(&dir);
    let (code, out, err) = tinynas(&[
        "train-mobilenet",
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch",
        "32",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("64 training / 20 test images"), "{out}");
    assert!(
        out.contains("epoch 0: train loss") && out.contains("final test top-1"),
        "{out}"
    );
    assert!(err.contains("adapter:"), "names the adapter: {err}");
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let base = std::env::temp_dir().join(format!("tinynas-resume-{}", std::process::id()));
    let data = base.join("data");
    tiny_dataset(&data);
    let (full, cut) = (base.join("full"), base.join("cut"));
    let d = data.to_str().unwrap();
    let common = [
        "train-mobilenet",
        "--data",
        d,
        "--epochs",
        "2",
        "--batch",
        "16",
    ];
    let run = |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend_from_slice(extra);
        tinynas(&args)
    };
    let (code, _, err) = run(&["--out", full.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // Stopped mid-epoch after 3 of 8 steps, then resumed.
    let (code, out, err) = run(&["--out", cut.to_str().unwrap(), "--max-steps", "3"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stopped after step 3"), "{out}");
    let (code, out, err) = run(&["--out", cut.to_str().unwrap(), "--resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("resumed") && out.contains("at step 3"),
        "{out}"
    );
    let a = std::fs::read(full.join("weights-00000008.safetensors")).unwrap();
    let b = std::fs::read(cut.join("weights-00000008.safetensors")).unwrap();
    assert!(
        a == b,
        "resumed weights differ from the uninterrupted run's"
    );
    let only: Vec<_> = std::fs::read_dir(&cut)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        only.iter().filter(|n| n.ends_with(".safetensors")).count(),
        1,
        "{only:?}"
    );

    // Different settings, or a corrupt checkpoint: refused, and the checkpoint is left as it was.
    let (code, _, err) = tinynas(&[
        "train-mobilenet",
        "--data",
        d,
        "--epochs",
        "3",
        "--batch",
        "16",
        "--out",
        cut.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("same settings"), "{err}");
    let w = cut.join("weights-00000008.safetensors");
    std::fs::write(&w, &b[..b.len() / 2]).unwrap();
    let (code, _, err) = run(&["--out", cut.to_str().unwrap(), "--resume"]);
    assert_eq!(code, 2, "{err}");
    // Refused by the run's manifest before the weights are parsed, naming the file.
    assert!(
        err.contains("weights-00000008.safetensors") && err.contains("manifest"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&w).unwrap().len(),
        b.len() / 2,
        "the refused checkpoint is not overwritten"
    );
    let (code, _, err) = tinynas(&[
        "train-mobilenet",
        "--data",
        d,
        "--out",
        base.join("none").to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing to resume"), "{err}");
}

#[test]
fn supernet_train_resume_and_eval_through_the_cli() {
    let base = std::env::temp_dir().join(format!("tinynas-cli-sn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let space = base.join("space.json");
    std::fs::write(
        &space,
        r#"{"base_widths": [8, 8, 16, 16, 24, 32], "width_mult": 1.0, "stage_strides": [2, 2, 1],
            "kernel_choices": [3, 5, 7], "expand_choices": [3, 4, 6], "depth_choices": [1, 2],
            "resolutions": [16], "in_channels": 1, "classes": 10, "last_expand": 4, "last_kernel": 3}"#,
    )
    .unwrap();
    let run = base.join("run");
    let r = run.to_str().unwrap();
    let s = space.to_str().unwrap();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "train",
            "--data",
            "synthetic",
            "--space",
            s,
            "--out",
            r,
            "--epochs",
            "4",
            "--train-images",
            "200",
            "--val-images",
            "40",
            "--recal-images",
            "40",
            "--batch",
            "32",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let call = |v: Vec<String>| tinynas(&v.iter().map(|x| x.as_str()).collect::<Vec<_>>());
    let trace = base.join("trace.json");
    let mut first = args(&["--max-steps", "7", "--profile-steps", "2", "--profile"]);
    first.push(trace.to_str().unwrap().to_string());
    let (code, out, err) = call(first);
    assert_eq!(code, 0, "{out}\n{err}");
    // The profiled steps: a per-kernel table with rates, a trace with both tracks and costs.
    assert!(
        out.contains("GFLOP/s") && out.contains("matmul::matmul"),
        "{out}"
    );
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let ev = t["traceEvents"].as_array().unwrap();
    assert!(
        ev.iter()
            .any(|e| e["name"] == "data: wait for the loader" && e["tid"] == 2)
    );
    assert!(
        ev.iter()
            .any(|e| e["tid"] == 1 && e["args"]["flops"].as_f64().unwrap_or(0.0) > 0.0)
    );
    assert!(
        out.contains("phase full") && out.contains("stopped after step 7"),
        "{out}"
    );
    let (code, _, err) = call(args(&[]));
    assert_eq!(code, 2);
    assert!(err.contains("--resume"), "{err}");
    let (code, out, err) = call(args(&["--resume"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("validation top-1: largest"), "{out}");
    for f in ["metrics.jsonl", "training.png", "state.json"] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let (code, json, err) = tinynas(&["eval", "--run", r, "--subnet", "min", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top1 = v["top1"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&top1) && v["macs"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["subnet"]["depth"], serde_json::json!([1, 1, 1]));
    // A malformed space is refused naming the field.
    std::fs::write(&space, r#"{"base_widths": [8], "width_mult": "wide"}"#).unwrap();
    let (code, _, err) = call(args(&[]));
    assert_eq!(code, 2);
    assert!(err.contains("width_mult"), "{err}");
}
