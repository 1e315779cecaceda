//! The generated C runtime (src/firmware): built with the host's compiler it computes the
//! integer executor's logits bit for bit (hence TF Lite Micro's), touches no arena byte beyond
//! the plan `mem --scheduler tinyengine` reports, and is clean under AddressSanitizer and
//! UndefinedBehaviorSanitizer; cross-compiled for each device's core and linked against its own
//! flash and SRAM, it runs in QEMU with the same logits.

mod common;

use common::models::{calibrated_model, general_path_model, random_inputs};
use common::rng;
use tinynas::arch::Network;
use tinynas::firmware::host::HostBuild;
use tinynas::firmware::{self, generate};
use tinynas::mcu::{Device, EvalOptions, Scheduler, evaluate};

fn tmp(name: &str) -> std::path::PathBuf {
    common::subnets::fresh_tmp("fw", name)
}

fn subnets(seed: u64, n_random: usize) -> Vec<Network> {
    common::subnets::mcunet_subnets(seed, n_random, 32, 36)
}

fn tinyengine(net: &Network) -> tinynas::mcu::Report {
    evaluate(
        net,
        &EvalOptions {
            scheduler: Scheduler::TinyEngine,
            ..EvalOptions::default()
        },
    )
    .unwrap()
}

fn tinyengine_peak(net: &Network) -> u64 {
    tinyengine(net).peak_sram_bytes
}

/// The linker's figures against the estimate the search constrains: SRAM (arena + the runtime's
/// stack) exact, flash within 2 %, never above it.
fn linker_matches_estimate(net: &Network, c: &firmware::DeviceCheck) {
    let est = tinyengine(net);
    assert_eq!(c.link.sram_used_bytes, est.sram_bytes, "{}: SRAM", net.name);
    let (linked, estimate) = (c.link.flash_used_bytes as f64, est.flash_bytes as f64);
    assert!(
        linked <= estimate && estimate / linked - 1.0 < 0.02,
        "{}: flash linked {linked} B, estimated {estimate} B",
        net.name
    );
}

#[test]
fn generated_c_computes_the_executors_logits_on_the_host_within_its_declared_arena() {
    let mut r = rng(27);
    let mut total = 0;
    for (i, net) in subnets(27, 3).iter().enumerate() {
        let q = calibrated_model(net, &mut r, 4);
        let s = generate(&q, net, "test").unwrap();
        // The arena the code declares is the figure the search constrains.
        assert_eq!(s.plan.total_bytes(), tinyengine_peak(net), "{}", net.name);
        assert!(s.model_h.contains(&format!(
            "#define TINYNAS_ARENA_BYTES {}",
            tinyengine_peak(net)
        )));
        let n = if i == 0 { 300 } else { 60 };
        let inputs = random_inputs(&q, &mut r, n);
        let dir = tmp(&format!("host{i}"));
        let c = firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Optimized).unwrap();
        total += c.images;
        // Every region is used, none beyond its size (check_host refuses that).
        assert!(c.touched.activations > 0 && c.touched.scratch > 0 && c.touched.kernel_buffer > 0);
        assert_eq!(
            c.touched.kernel_buffer, c.kernel_buffer_bytes,
            "{}",
            net.name
        );
        eprintln!(
            "{}: {} inputs identical; arena {} B declared (activations {} / scratch {} / kernel {}), touched {} / {} / {}",
            net.name,
            c.images,
            c.arena_bytes,
            c.activation_bytes,
            c.scratch_bytes,
            c.kernel_buffer_bytes,
            c.touched.activations,
            c.touched.scratch,
            c.touched.kernel_buffer
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(total >= 500, "{total} inputs");
}

#[test]
fn generated_c_is_clean_under_address_and_undefined_behaviour_sanitizers() {
    let mut r = rng(5);
    for (i, net) in subnets(5, 1).iter().enumerate() {
        let q = calibrated_model(net, &mut r, 2);
        let s = generate(&q, net, "test").unwrap();
        let inputs = random_inputs(&q, &mut r, 8);
        let dir = tmp(&format!("asan{i}"));
        firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Sanitized).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn generated_c_runs_bit_exact_on_cortex_m4_and_m7_in_qemu() {
    let mut r = rng(11);
    let nets = subnets(11, 1);
    for (device, net) in [("stm32f411", &nets[1]), ("stm32f746", &nets[0])] {
        let q = calibrated_model(net, &mut r, 4);
        let s = generate(&q, net, "test").unwrap();
        let dev = Device::preset(device).unwrap();
        let inputs = random_inputs(&q, &mut r, 20);
        let dir = tmp(&format!("qemu-{device}"));
        let macs = tinynas::mcu::walk::build(net).macs();
        let c = firmware::check_device(&q, &s, &dev, &dir, &inputs, macs).unwrap();
        assert_eq!(c.images, 20);
        linker_matches_estimate(net, &c);
        eprintln!(
            "{device} ({}): 20/20 identical; flash {} B, SRAM {} B (arena {} + stack {}); {} instructions ({:.3} MACs/instruction), stack used {} B",
            c.link.core.name(),
            c.link.flash_used_bytes,
            c.link.sram_used_bytes,
            s.plan.total_bytes(),
            c.link.stack_bytes,
            c.instructions,
            c.macs_per_instruction,
            c.qemu.stack_used_bytes
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Layers outside the kernels' short requantization (a fused activation narrower than int8, a
/// left shift, a bias with no accumulator bound, an ADD shifting past 22) take the general
/// form: bit for bit the executor's on the host, under the sanitizers and on both cores.
#[test]
fn layers_outside_the_short_requantization_take_the_general_form_bit_exact() {
    let mut r = rng(29);
    let net = &subnets(29, 0)[0];
    let q = general_path_model(net, &mut r);
    let s = generate(&q, net, "general").unwrap();
    // The records say which layers take which form: some of each.
    let records: Vec<Vec<i32>> = s
        .model_c
        .lines()
        .filter_map(|l| l.strip_prefix("static const tn_conv_t L"))
        .map(|l| {
            let body = &l[l.find('{').unwrap() + 1..l.find('}').unwrap()];
            body.split(", ")
                .take(15)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    let short = |v: &Vec<i32>| v[10] == 1 && v[13] == -128 && v[14] == 127;
    assert!(records.iter().any(short) && !records.iter().all(short));
    assert!(records.iter().any(|v| v[10] == 0));
    assert!(
        records
            .iter()
            .any(|v| v[10] == 1 && (v[13], v[14]) != (-128, 127))
    );
    // An ADD whose output shift is past the short form's 22.
    assert!(s.model_c.lines().any(|l| {
        l.strip_prefix("static const tn_add_t L").is_some_and(|l| {
            let body = &l[l.find('{').unwrap() + 1..l.find('}').unwrap()];
            body.rsplit(", ").next().unwrap().parse::<i32>().unwrap() < -22
        })
    }));
    let inputs = random_inputs(&q, &mut r, 100);
    let dir = tmp("general");
    firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Optimized).unwrap();
    firmware::check_host(&q, &s, &dir, &inputs[..8], HostBuild::Sanitized).unwrap();
    let macs = tinynas::mcu::walk::build(net).macs();
    for device in ["stm32f412", "stm32h743"] {
        let dev = Device::preset(device).unwrap();
        firmware::check_device(&q, &s, &dev, &dir, &inputs[..10], macs).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A build folder given relative to the working directory (as `export --out runs/x` makes
/// it) links and runs in QEMU, which runs inside that folder.
#[test]
fn a_relative_build_folder_runs_in_qemu() {
    let mut r = rng(31);
    let net = &subnets(31, 0)[1];
    let q = calibrated_model(net, &mut r, 2);
    let s = generate(&q, net, "relative").unwrap();
    let inputs = random_inputs(&q, &mut r, 2);
    let dir = std::path::PathBuf::from(format!("target/tmp/fw-relative-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(dir.is_relative());
    let dev = Device::preset("stm32f412").unwrap();
    let macs = tinynas::mcu::walk::build(net).macs();
    let c = firmware::check_device(&q, &s, &dev, &dir, &inputs, macs).unwrap();
    assert_eq!(c.images, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// MCUNet-in2 (its published architecture, random weights calibrated on random images) links
/// for an STM32F746 with the generated runtime, where TF Lite Micro's 418,864 B arena cannot:
/// SRAM within 5 % of TinyEngine's published 215 kB, flash under its published 830 kB.
#[test]
fn mcunet_in2_links_for_an_stm32f746_and_runs_bit_exact_on_its_cortex_m7() {
    let net = tinynas::arch::models::mcunet_in2();
    let mut r = rng(2);
    let q = calibrated_model(&net, &mut r, 2);
    let s = generate(&q, &net, "mcunet-in2").unwrap();
    assert_eq!(s.plan.total_bytes(), tinyengine_peak(&net));
    let inputs = random_inputs(&q, &mut r, 4);
    let dir = tmp("in2");
    let host = firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Optimized).unwrap();
    let dev = Device::preset("stm32f746").unwrap();
    let macs = tinynas::mcu::walk::build(&net).macs();
    let c = firmware::check_device(&q, &s, &dev, &dir, &inputs, macs).unwrap();
    let sram = c.link.sram_used_bytes as f64;
    eprintln!(
        "mcunet-in2: arena {} B (touched {:?}); links for stm32f746: flash {} B, SRAM {} B; {} instructions an inference ({:.3} MACs/instruction); stack used {} B",
        s.plan.total_bytes(),
        host.touched,
        c.link.flash_used_bytes,
        c.link.sram_used_bytes,
        c.instructions,
        c.macs_per_instruction,
        c.qemu.stack_used_bytes
    );
    linker_matches_estimate(&net, &c);
    assert!((sram / 215_000.0 - 1.0).abs() < 0.05, "SRAM {sram} B");
    assert!(c.link.flash_used_bytes <= 830_000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the generator and the device build refuse, each with a message naming what was wrong:
/// a graph that is not its network's, a device with no known core, a model that does not fit
/// (which memory, by how much), a missing toolchain (the install command).
#[test]
fn firmware_refusals_name_what_was_wrong() {
    let mut r = rng(3);
    let nets = subnets(3, 0);
    let q = calibrated_model(&nets[0], &mut r, 1);
    // The largest subnet's graph described as the smallest network.
    let e = generate(&q, &nets[1], "test").unwrap_err().to_string();
    assert!(e.contains("does not match its network description"), "{e}");

    let s = generate(&q, &nets[0], "test").unwrap();
    let inputs = random_inputs(&q, &mut r, 1);
    let mut coreless = Device::preset("stm32f746").unwrap();
    coreless.core = None;
    let e = firmware::check_device(&q, &s, &coreless, &tmp("coreless"), &inputs, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no core is known") && e.contains("stm32f411"),
        "{e}"
    );

    // 589 KB of model for the F411's 512 KiB of flash.
    let dir = tmp("overflow");
    let e = firmware::check_device(
        &q,
        &s,
        &Device::preset("stm32f411").unwrap(),
        &dir,
        &inputs,
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("does not fit stm32f411") && e.contains("flash by") && e.contains("of 524288 B"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // export --target refuses it up front, by the same estimate the search checks.
    // A library caller reads the device and the estimate's plan; the CLI names the flag and the
    // command that shows the estimate.
    let e = tinynas::pipeline::firmware::check_fits(
        &nets[0],
        &Device::preset("stm32f411").unwrap(),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&e, tinynas::Error::DoesNotFit { device, over, patches: None }
            if device == "stm32f411" && over.starts_with("flash by")),
        "{e:?}"
    );
    let cli = tinynas::cli::flags::describe(&e);
    assert!(
        cli.starts_with(
            "--target stm32f411: the model does not fit: its generated C is over flash by"
        ) && cli.contains("(`tinynas mem --scheduler tinyengine`)"),
        "{cli}"
    );
    assert!(
        e.to_string().starts_with("target stm32f411:") && !e.to_string().contains("--"),
        "{e}"
    );
    tinynas::pipeline::firmware::check_fits(&nets[1], &Device::preset("stm32f411").unwrap(), None)
        .unwrap();

    // Without the toolchain on PATH, export --target refuses before touching anything.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args([
            "export",
            "--run",
            "/nonexistent-run",
            "--out",
            "/nonexistent-out",
            "--target",
            "stm32f746",
        ])
        .env("PATH", "/nonexistent-bin")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--target: arm-none-eabi-gcc and qemu-system-arm not found")
            && err.contains("scripts/setup.sh firmware"),
        "{err}"
    );
    assert!(!std::path::Path::new("/nonexistent-out").exists());
}
