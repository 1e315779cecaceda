//! Export of a supernet trained on the bundled Fashion-MNIST subset, through the library call
//! `tinynas export` makes: int8 keeps the float accuracy (within 2 points), TF Lite Micro runs
//! the written model.tflite exactly as the integer executor does on real test images, LiteRT's
//! optimized kernels pick the same class, and the C array is the model byte for byte.

mod common;
use common::runtimes::run_runtimes;
use common::*;
use tinynas::arch::Network;
use tinynas::arch::SearchSpace;
use tinynas::mcu::sched::argmax;
use tinynas::observer::Silent;
use tinynas::pipeline::export::{EXPORT_FILES, ExportOptions, export, extract_and_quantize};
use tinynas::train::config::RunConfig;
use tinynas::train::open::open_run;
use tinynas::train::schedule::Schedule;
use tinynas::train::supernet_run::RunOptions;
use tinynas::train::supernet_run::train_supernet;

/// The bytes of `g_model_data` in model_data.cc.
fn c_array_bytes(cc: &str) -> Vec<u8> {
    let start = cc.find("g_model_data[] = {").expect("the array") + 18;
    let end = start + cc[start..].find("};").unwrap();
    cc[start..end]
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).unwrap())
        .collect()
}

#[test]
fn a_trained_subnet_exports_to_int8_that_tflite_micro_runs_as_the_executor_does() {
    let e = engine();
    let tmp = std::env::temp_dir().join(format!("tinynas-deploy-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let space = SearchSpace {
        base_widths: vec![16, 8, 16, 24, 32, 48],
        width_mult: 1.0,
        stage_strides: vec![2, 2, 2],
        kernel_choices: vec![3, 5],
        expand_choices: vec![3, 4],
        depth_choices: vec![1, 2],
        resolutions: vec![24],
        in_channels: 1,
        classes: 10,
        last_expand: 4,
        last_kernel: 3,
        kernel_transform: false,
    };
    let data = tinynas::data::bundled_fashion_dir();
    let mut cfg = RunConfig::new(
        data.to_str().unwrap(),
        space.clone(),
        Schedule::joint(3, 0.1, 2),
    );
    cfg.train_images = 3000;
    cfg.val_images = 200;
    cfg.recal_images = 500;
    cfg.batch = 64;
    let run_dir = tmp.join("run");
    let (_, summary) = train_supernet(
        &e,
        &cfg,
        &RunOptions {
            out: run_dir.clone(),
            workers: 1,
            no_validation: true,
            ..RunOptions::default()
        },
        &Silent,
    )
    .unwrap();
    assert!(summary.finished);
    let run = open_run(&e, &run_dir, &Silent).unwrap();
    let out = tmp.join("export");
    let sub = space.largest(24);
    let o = ExportOptions {
        subnet: sub.clone(),
        calib_images: 200,
        recal_images: 500,
        out: out.clone(),
        finetune_epochs: 0,
        finetune_lr: 0.01,
        verify: Some(common::runtimes::python()),
        verify_images: 200,
        target: Some(tinynas::mcu::Device::preset("stm32f412").unwrap()),
        target_images: 20,
        patches: None,
    };
    let r = export(&e, &run, &o, &Silent).unwrap();
    eprintln!(
        "supernet {:.2} %, float {:.2} %, int8 {:.2} % on {} test images; .tflite {} B; arena {:?}",
        r.supernet_top1 * 100.0,
        r.float_top1 * 100.0,
        r.int8_top1 * 100.0,
        r.test_images,
        r.tflite_bytes,
        r.arena
    );
    assert!(r.float_top1 > 0.5, "the supernet learned: {}", r.float_top1);
    // export --verify ran the model on TFLM (bit-exact, or the export fails) and LiteRT.
    let v = r.verified.as_ref().expect("verified");
    assert!(v.tflm_bit_exact && v.images == 200);
    assert_eq!(v.tflm_head_bytes, r.arena.head_bytes);
    assert!(
        (r.int8_top1 - r.float_top1).abs() <= 0.02,
        "int8 {} vs float {}",
        r.int8_top1,
        r.float_top1
    );
    assert!(
        (r.float_top1 - r.supernet_top1).abs() <= 0.02,
        "the exported float network {} vs the supernet {}",
        r.float_top1,
        r.supernet_top1
    );
    for f in EXPORT_FILES {
        assert!(out.join(f).is_file(), "{f} written");
    }
    // The generated C runtime: every test image identical on the host, within its plan; linked
    // for the STM32F412 (its linker's SRAM the estimate) and 20 images identical on its
    // Cortex-M4F in QEMU (the export fails otherwise).
    let fw = &r.firmware;
    let host = fw.host.as_ref().expect("the host has a C compiler");
    assert_eq!(host.images, r.test_images);
    let dev = fw.device.as_ref().expect("linked and run in QEMU");
    assert_eq!(dev.images, 20);
    assert_eq!(dev.link.sram_used_bytes, fw.sram_estimate_bytes);
    assert!(dev.link.flash_used_bytes <= fw.flash_estimate_bytes);
    assert!(out.join("tinynas_stm32f412.elf").is_file());
    eprintln!(
        "generated C: {} test images identical on the host; links for stm32f412 (flash {} B, SRAM {} B), 20/20 identical on the Cortex-M4F, {} instructions",
        host.images, dev.link.flash_used_bytes, dev.link.sram_used_bytes, dev.instructions
    );
    let model = std::fs::read(out.join("model.tflite")).unwrap();
    assert_eq!(&model[4..8], b"TFL3", "the flatbuffer's identifier");
    assert_eq!(model.len(), r.tflite_bytes);
    // The flash the tflm scheduler counts is the .tflite's size (fitted to the writer: never
    // below it, the description counted at its 512-byte cap).
    let tflm = r
        .per_scheduler
        .iter()
        .find(|v| v.scheduler == tinynas::mcu::Scheduler::Tflm)
        .unwrap();
    let len = model.len() as u64;
    assert!(
        tflm.flash_bytes >= len && tflm.flash_bytes - len <= 2048,
        ".tflite {len} B vs tflm's flash {} B",
        tflm.flash_bytes
    );
    let cc = std::fs::read_to_string(out.join("model_data.cc")).unwrap();
    assert_eq!(c_array_bytes(&cc), model, "model_data.cc holds the model");
    assert!(cc.contains(&format!("g_model_data_len = {};", model.len())));
    let h = std::fs::read_to_string(out.join("model_data.h")).unwrap();
    assert!(h.contains(&format!(
        "#define TINYNAS_ARENA_BYTES {}",
        r.arena.reserve_mcu32_bytes
    )));
    let net: Network =
        serde_json::from_str(&std::fs::read_to_string(out.join("network.json")).unwrap()).unwrap();
    assert_eq!(
        net,
        tinynas::arch::subnet::from_subnet(&space, &sub).unwrap()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["int8_top1"].as_f64(), Some(r.int8_top1));

    // The written model on the real runtimes, on the test images: TFLM bit for bit as the
    // executor (the same quantization again: export is deterministic), LiteRT the same class.
    let mut ev = run.evaluator(&e, &run.data.test, 500).unwrap();
    let q = extract_and_quantize(&run, &sub, &mut ev, 200).unwrap().q;
    let n = run.data.test.len();
    let test = &run.data.test;
    let inputs: Vec<i8> = (0..n)
        .flat_map(|i| q.input_from_pixels(&test.pixels(i, 24, false)))
        .collect();
    let dir = tmp.join("runtimes");
    std::fs::create_dir_all(&dir).unwrap();
    let rt = run_runtimes(&dir, &model, &inputs, n, 0);
    let size = q.graph.input().len();
    let k = q.graph.classes();
    let (mut same_class, mut correct) = (0, 0);
    for i in 0..n {
        let mine = q.logits(&inputs[i * size..(i + 1) * size]);
        assert_eq!(
            mine,
            rt.tflm[i * k..(i + 1) * k],
            "image {i}: TFLM vs the executor"
        );
        same_class += (argmax(&mine) == argmax(&rt.litert[i * k..(i + 1) * k])) as usize;
        correct += (argmax(&mine) == test.labels[i] as usize) as usize;
    }
    eprintln!(
        "TFLM = executor on {n} test images ({correct} correct); LiteRT same class on {same_class}"
    );
    // LiteRT's optimized kernels round a requantization tie on a negative value upward where
    // the reference arithmetic (TFLM, the executor) rounds it away from zero: one step on a few
    // projection outputs, which flips the class where the two best logits are a step apart
    // (tests/deploy.rs holds every op to within that one step). Measured: 99.35–99.61 % on the
    // full run's subnets, 99.40 % here on the 2,000-image subset (issue 18's 99.5 % is blocked
    // on it); below 99 % would be something else.
    assert!(
        same_class * 100 >= n * 99,
        "LiteRT's optimized kernels agree on the class of {same_class} of {n} images"
    );
    assert_eq!(rt.arena["head"].as_u64(), Some(r.arena.head_bytes));

    // The same subnet with its first stage in 2×2 patches: every test image identical on the
    // host, 20 on the Cortex-M4F, a smaller arena, the linker's SRAM its estimate.
    let patched = ExportOptions {
        out: tmp.join("export-patch"),
        verify: None,
        patches: Some(2),
        ..o
    };
    let p = export(&e, &run, &patched, &Silent).unwrap();
    let fw = &p.firmware;
    let plan = fw.patch.as_ref().expect("a patch stage");
    assert_eq!((plan.patches, plan.patch_count), (2, 4));
    assert!(fw.arena_bytes < plan.whole_arena_bytes);
    assert_eq!(fw.host.as_ref().unwrap().images, p.test_images);
    let dev = fw.device.as_ref().unwrap();
    assert_eq!(dev.images, 20);
    assert_eq!(dev.link.sram_used_bytes, fw.sram_estimate_bytes);
    assert!(dev.link.flash_used_bytes <= fw.flash_estimate_bytes);
    assert!(p.int8_top1 == r.int8_top1, "the same model");
    eprintln!(
        "in 2x2 patches: arena {} B (layer by layer {} B), {} test images identical on the host, 20/20 on the Cortex-M4F, {} instructions",
        fw.arena_bytes, plan.whole_arena_bytes, p.test_images, dev.instructions
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
