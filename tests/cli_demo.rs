//! The demo through the command line on tiny settings: its six steps, the search beside its
//! baselines, the files it writes, and `eval` and `search` on its run directory.

mod common;
use common::harden::tinynas;

#[test]
fn demo_pieces_run_end_to_end_on_tiny_settings() {
    let out = std::env::temp_dir().join(format!("tinynas-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    let (code, stdout, err) = tinynas(&[
        "demo",
        "--data",
        "synthetic",
        "--out",
        o,
        "--train-images",
        "256",
        "--val-images",
        "64",
        "--recal-images",
        "64",
        "--epochs",
        "1",
        "--subnets",
        "2",
        "--collect",
        "6",
        "--population",
        "8",
        "--generations",
        "3",
        "--samples",
        "40",
        "--max-width",
        "0.3",
        "--budget",
        "8",
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    for want in [
        "[1/6] space optimization",
        "[5/6] evolutionary search",
        "[6/6] export",
        "exported:",
        "chosen subnet (from ",
        "rejects",
        // The default frame-rate target, and how much of the chosen space it rejects.
        "the latency limit of 66.7 ms (15.0 frames/s) rejects",
        "(the latency model predicted ",
        // 6 measured subnets are too few to trust a predictor: the search measures.
        "too few to trust",
        "searching by measurement",
        "most MACs",
        "uniform",
        "random",
        "test top-1",
        // The footprint each scheduler's runtime needs, as fits judges it.
        "(tinyengine: the generated C, its image and its arena + stack;",
        "result: top-1",
        // The device check: the generated C linked for the F411 and run on its Cortex-M4F.
        "device check: links for stm32f411",
        "ran on a Cortex-M4F (QEMU mps2-an386): 20/20 identical",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    for f in [
        "space/space.json",
        "space/space_cdf.png",
        "train/state.json",
        "train/training.png",
        "train/predictor.json",
        "search/best_subnet.json",
        "search/population.png",
        "export/model.tflite",
        "export/model_data.h",
        "export/tinynas_model.c",
        "export/tinynas_kernels.c",
        "export/tinynas_stm32f411.elf",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The chosen subnet fits the default device under the default scheduler.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("search/search.json")).unwrap())
            .unwrap();
    let te = report["report"]["per_scheduler"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["scheduler"] == "tinyengine")
        .unwrap();
    assert_eq!(te["fits"], true, "{te}");
    assert!(te["peak_sram_bytes"].as_u64().unwrap() <= 256 * 1024);
    // `eval` and `search` work on the demo's run directory.
    let run = out.join("train");
    let (code, s, err) = tinynas(&["eval", "--run", run.to_str().unwrap(), "--subnet", "min"]);
    assert_eq!(code, 0, "{err}");
    assert!(s.contains("top-1 on test"), "{s}");
    let (code, s, err) = tinynas(&[
        "search",
        "--run",
        run.to_str().unwrap(),
        "--population",
        "6",
        "--generations",
        "2",
        "--device",
        "stm32f746",
        "--scheduler",
        "tflm",
        "--budget",
        "6",
        "--measure-population",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        s.contains("chosen subnet (from ") && s.contains("stm32f746"),
        "{s}"
    );
    // Bad input: unknown device / scheduler list the valid names; no predictor names the command.
    let (code, _, err) = tinynas(&[
        "search",
        "--run",
        run.to_str().unwrap(),
        "--device",
        "esp32",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("stm32f412") && err.contains("nrf52840"),
        "{err}"
    );
    let (code, _, err) = tinynas(&["space", "--scheduler", "tvm"]);
    assert_eq!(code, 2);
    assert!(err.contains("tinyengine") && err.contains("tflm"), "{err}");
    // Without a predictor the search says so, names the commands that make one, and measures.
    std::fs::remove_file(run.join("predictor.json")).unwrap();
    let (code, s, err) = tinynas(&[
        "search",
        "--run",
        run.to_str().unwrap(),
        "--budget",
        "4",
        "--measure-population",
        "2",
        "--random",
        "2",
        "--out",
        out.join("search-measured").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let both = format!("{s}{err}");
    assert!(
        both.contains("no predictor.json")
            && both.contains("tinynas predictor collect|fit")
            && both.contains("searching by measurement")
            && s.contains("best of 2"),
        "{both}"
    );
    let (code, _, err) = tinynas(&["search", "--run", "/nonexistent/run"]);
    assert_eq!(code, 2);
    assert!(err.contains("tinynas train --out"), "{err}");
    // Limits nothing meets: the smallest footprint is named.
    let (code, _, err) = tinynas(&[
        "search",
        "--run",
        run.to_str().unwrap(),
        "--measure",
        "--sram",
        "1",
        "--measure-population",
        "4",
        "--budget",
        "4",
        "--out",
        out.join("search-none-fits").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("smallest footprint"), "{err}");
    // Refused before --out was made.
    assert!(!out.join("search-none-fits").exists());
}
