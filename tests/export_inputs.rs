//! Bad input to `tinynas export`, `eval --int8` and `bench int8`: a clear error, exit 2, and
//! nothing of the user's touched; a good export writes its six files and a rerun replaces them.

mod common;
use common::engine;
use common::harden::*;
use tinynas::observer::Silent;
use tinynas::train::supernet_run::train_supernet;

#[test]
fn export_refuses_bad_input_and_writes_only_its_own_files() {
    let e = engine();
    let dir = tmp("export");
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    train_supernet(
        &e,
        &tiny_run(tiny_space()),
        &quiet(&run, Some(2), false),
        &Silent,
    )
    .unwrap();
    let (r, out) = (run.to_str().unwrap(), dir.join("out"));
    let o = out.to_str().unwrap();

    refused(
        &["export", "--run", r, "--out", o, "--calib-images", "0"],
        &["--calib-images", "0"],
    );
    refused(
        &[
            "export",
            "--run",
            r,
            "--out",
            o,
            "--verify",
            "/no/such/python",
        ],
        &["--verify", "/no/such/python", "scripts/pyenv.sh"],
    );
    let missing = dir.join("no-run");
    refused(
        &["export", "--run", missing.to_str().unwrap(), "--out", o],
        &["no-run"],
    );
    // A subnet outside the run's space (kernel 7 in a space of 3 and 5).
    let sub = dir.join("sub.json");
    std::fs::write(
        &sub,
        r#"{"resolution":16,"kernel_size":[7,3,3,3,3,3],"expand_ratio":[3,3,3,3,3,3],"depth":[1,1,1]}"#,
    )
    .unwrap();
    refused(
        &[
            "export",
            "--run",
            r,
            "--out",
            o,
            "--subnet",
            sub.to_str().unwrap(),
        ],
        &["kernel"],
    );
    // A file of the user's with an output's name stops the export before it writes anything.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.tflite"), "mine").unwrap();
    refused(
        &["export", "--run", r, "--out", o, "--calib-images", "8"],
        &["model.tflite", "not written by tinynas"],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("model.tflite")).unwrap(),
        "mine"
    );
    assert!(!out.join("report.json").exists(), "nothing written");
    std::fs::remove_file(out.join("model.tflite")).unwrap();

    refused(
        &[
            "export",
            "--run",
            r,
            "--out",
            o,
            "--finetune-epochs",
            "1",
            "--finetune-lr",
            "0",
        ],
        &["--finetune-lr"],
    );
    // A good export, then a rerun over its own files, fine-tuned one epoch first.
    for ft in ["0", "1"] {
        let (code, stdout, err) = tinynas(&[
            "export",
            "--run",
            r,
            "--out",
            o,
            "--calib-images",
            "8",
            "--finetune-epochs",
            ft,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("int8"), "{stdout}");
    }
    for f in tinynas::pipeline::export::EXPORT_FILES {
        assert!(out.join(f).is_file(), "{f}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["finetune_epochs"], 1);
    assert!(
        report["supernet_top1_before_finetune"].is_number(),
        "{report}"
    );
    // `mem --net` on the exported network.json plans TFLM's arena as the export reports it.
    let (code, stdout, err) = tinynas(&[
        "mem",
        "--net",
        out.join("network.json").to_str().unwrap(),
        "--scheduler",
        "tflm",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let mem: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(mem["peak_sram_bytes"], report["arena"]["head_bytes"]);
    assert_eq!(
        mem["tflm_tail"]["host64_bytes"],
        report["arena"]["tail_host64_bytes"]
    );
    assert!(
        mem["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "pad")
    );

    refused(
        &[
            "eval",
            "--run",
            r,
            "--int8",
            "--profile",
            dir.join("t.json").to_str().unwrap(),
        ],
        &["--int8"],
    );
    refused(
        &[
            "bench",
            "int8",
            "--res",
            "32",
            "--images",
            "1",
            "--python",
            "/no/such/python",
        ],
        &["--python", "/no/such/python"],
    );
    refused(&["bench", "int8", "--images", "0"], &["--images"]);
    refused(&["bench", "int8", "--res", "1024"], &["--res", "512"]);
    let _ = std::fs::remove_dir_all(&dir);
}
