//! The latency model against QEMU (needs arm-none-eabi-gcc and qemu-system-arm): the per-layer
//! profile adds up to the whole inference, the committed table (`src/mcu/latency.json`) still
//! predicts the generated C within 5 % on subnets it was not fitted on — when the kernels
//! change, this fails until `tinynas bench latency` is run again — and that command writes a
//! table for both cores.

mod common;
use common::harden::tinynas;
use common::models::{calibrated_model, random_inputs};
use common::rng;
use tinynas::arch::SearchSpace;
use tinynas::arch::subnet::from_subnet;
use tinynas::firmware::{generate, profile, qemu, target, toolchain};
use tinynas::mcu::device::Core;
use tinynas::mcu::{Device, latency};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-lat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn board(core: Core) -> Device {
    Device {
        name: "qemu".into(),
        sram_bytes: 4 << 20,
        flash_bytes: 4 << 20,
        core: Some(core),
        clock_mhz: None,
    }
}

#[test]
fn profile_adds_up_and_the_committed_table_predicts_qemus_count_within_5_percent() {
    let tc = toolchain::Toolchain::find().unwrap();
    let mut r = rng(29);
    let cases = [(3, 0.35, 96), (1, 0.75, 32), (3, 0.5, 64)];
    for (core, (ch, width, res)) in [Core::CortexM4F, Core::CortexM7]
        .into_iter()
        .flat_map(|c| cases.iter().map(move |k| (c, *k)))
    {
        let space = SearchSpace {
            in_channels: ch,
            width_mult: width,
            resolutions: vec![res],
            ..SearchSpace::default()
        };
        let net = from_subnet(&space, &space.sample(&mut r, res)).unwrap();
        let q = calibrated_model(&net, &mut r, 2);
        let s = generate(&q, &net, "test").unwrap();
        let inputs = random_inputs(&q, &mut r, 2);
        let dir = tmp("profile");
        let dev = board(core);
        let p = profile::profile(&tc, &dir, &q, &s, &dev, &inputs).unwrap();
        assert_eq!(p.layers.len(), s.steps);
        assert!(p.layers.iter().all(|&n| n > 0.0), "{:?}", p.layers);
        // The layers are the inference but for the call and its return (and the timer's 40).
        let sum: f64 = p.layers.iter().sum();
        assert!(
            sum <= p.total && p.total - sum < 200.0,
            "{sum} of {}",
            p.total
        );
        // The plain build's count (no hooks) against the model's prediction.
        let link = target::build(&tc, &dir, &s, &dev).unwrap();
        let run = qemu::run(&tc, &link, &dir, &inputs, q.graph.classes()).unwrap();
        let measured = run.instructions[0] as f64;
        assert!((measured - p.total).abs() / measured < 0.01);
        let t = latency::core_table(core).unwrap();
        let predicted = latency::instructions(t, &net).unwrap() as f64;
        let err = (predicted - measured) / measured;
        eprintln!(
            "{} {}: QEMU {measured}, predicted {predicted} ({:+.2} %)",
            core.name(),
            net.name,
            err * 100.0
        );
        assert!(
            err.abs() < 0.05,
            "the latency table is stale for the {}: {:+.2} % (QEMU {measured}, predicted {predicted}); regenerate it with `tinynas bench latency`",
            core.name(),
            err * 100.0
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// MCUNet's published mcunet-in1 and mcunet-vww1 (models/networks/, random weights) on the
/// STM32H743's Cortex-M7: the prediction BENCHMARKS.md puts beside TinyEngine's, against QEMU.
#[test]
fn mcunet_in1_and_vww1_predicted_within_5_percent_of_qemu_on_the_cortex_m7() {
    let tc = toolchain::Toolchain::find().unwrap();
    let mut r = rng(16);
    for name in ["mcunet-in1", "mcunet-vww1"] {
        let path = format!("{}/models/networks/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let net =
            tinynas::arch::Network::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        let q = calibrated_model(&net, &mut r, 1);
        let s = generate(&q, &net, name).unwrap();
        let inputs = random_inputs(&q, &mut r, 1);
        let dir = tmp(name);
        let dev = Device::preset("stm32h743").unwrap();
        let link = target::build(&tc, &dir, &s, &dev).unwrap();
        let run = qemu::run(&tc, &link, &dir, &inputs, q.graph.classes()).unwrap();
        tinynas::firmware::compare(&q, &inputs, &run.logits, name).unwrap();
        let measured = run.instructions[0] as f64;
        let t = latency::core_table(Core::CortexM7).unwrap();
        let predicted = latency::instructions(t, &net).unwrap() as f64;
        let err = (predicted - measured) / measured;
        eprintln!(
            "{name}: QEMU {measured}, predicted {predicted} ({:+.2} %), {:.1} ms at 480 MHz",
            err * 100.0,
            latency::ms(Core::CortexM7, 480.0, predicted)
        );
        assert!(err.abs() < 0.05, "{name}: {:+.2} %", err * 100.0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bench_latency_writes_a_table_for_both_cores() {
    let dir = tmp("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("latency.json");
    let (code, stdout, err) = tinynas(&[
        "bench",
        "latency",
        "--fit",
        "6",
        "--held-out",
        "2",
        "--max-mmacs",
        "4",
        "--images",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.lines().last().unwrap().starts_with("bench-latency:"));
    let t: latency::LatencyTable =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for core in ["cortex-m4f", "cortex-m7"] {
        let c = &t.cores[core];
        assert_eq!(c.check.subnets, 2);
        assert!(c.check.mean_abs_error_pct.is_finite());
        for class in ["conv", "pointwise", "add", "avgpool", "fully_connected"] {
            assert!(c.ops.contains_key(class), "{core}: {class}");
            assert!(c.layers[class] >= 6, "{core}: {class}");
        }
        assert!(c.ops["pointwise"].per_mac > 0.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
