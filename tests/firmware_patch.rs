//! Patch-based inference in the generated C (`tinynas export --patch N`, MCUNetV2): the first
//! stage runs patch by patch into the whole stage output, the rest layer by layer. The logits
//! are the integer executor's, bit for bit, on the host (also under the sanitizers) and on a
//! Cortex-M in QEMU; the arena the code declares is `mcu::patch_code`'s plan and nothing
//! outside it is touched; it is smaller than the layer-by-layer arena where the first stage
//! holds the peak.

mod common;

use common::models::{calibrated_model, random_inputs};
use common::rng;
use tinynas::arch::net::Network;
use tinynas::firmware::host::HostBuild;
use tinynas::firmware::{self, Stage, generate, generate_staged};
use tinynas::mcu::Device;
use tinynas::mcu::patch_code;

fn tmp(name: &str) -> std::path::PathBuf {
    common::subnets::fresh_tmp("fwp", name)
}

fn subnets(seed: u64, n_random: usize) -> Vec<Network> {
    common::subnets::mcunet_subnets(seed, n_random, 40, 44)
}

#[test]
fn patch_stage_computes_the_executors_logits_within_its_declared_arena() {
    let mut r = rng(41);
    let mut total = 0;
    for (i, net) in subnets(41, 2).iter().enumerate() {
        let q = calibrated_model(net, &mut r, 4);
        let whole = generate(&q, net, "test").unwrap();
        for n in [2, 3, 4] {
            let s = generate_staged(&q, net, "test", Stage::Patches(n)).unwrap();
            let code = patch_code::best(&tinynas::mcu::walk::build(net), n).unwrap();
            assert_eq!(s.plan.total_bytes(), code.total_bytes(), "{}", net.name);
            assert!(s.model_h.contains(&format!(
                "#define TINYNAS_ARENA_BYTES {}",
                code.total_bytes()
            )));
            assert!(s.model_h.contains(&format!("#define TINYNAS_PATCHES {n}")));
            let inputs = random_inputs(&q, &mut r, 45);
            let dir = tmp(&format!("host{i}-{n}"));
            let c = firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Optimized).unwrap();
            total += c.images;
            eprintln!(
                "{} {n}x{n}: {} inputs identical; stage through op {} of {}; arena {} B (layer by layer {} B), touched {:?}; {} extra MACs",
                net.name,
                c.images,
                code.stage_end,
                s.steps,
                c.arena_bytes,
                whole.plan.total_bytes(),
                c.touched,
                code.extra_macs
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    assert!(total >= 500, "{total} inputs");
}

#[test]
fn patch_stage_is_clean_under_address_and_undefined_behaviour_sanitizers() {
    let mut r = rng(42);
    let net = &subnets(42, 0)[0];
    let q = calibrated_model(net, &mut r, 2);
    for n in [2, 3] {
        let s = generate_staged(&q, net, "test", Stage::Patches(n)).unwrap();
        let inputs = random_inputs(&q, &mut r, 6);
        let dir = tmp(&format!("asan{n}"));
        firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Sanitized).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// MCUNet-in2 (random weights) in 4×4 patches: the first stage's peak is gone, the arena is
/// well under the layer-by-layer 214.6 KiB, and the logits are the executor's.
#[test]
fn mcunet_in2_in_patches_declares_a_smaller_arena_and_computes_the_same_logits() {
    let net = tinynas::arch::models::mcunet_in2();
    let mut r = rng(2);
    let q = calibrated_model(&net, &mut r, 2);
    let whole = generate(&q, &net, "mcunet-in2").unwrap();
    let s = generate_staged(&q, &net, "mcunet-in2", Stage::Patches(4)).unwrap();
    let code = s.plan.patch.clone().unwrap();
    let inputs = random_inputs(&q, &mut r, 3);
    let dir = tmp("in2");
    let c = firmware::check_host(&q, &s, &dir, &inputs, HostBuild::Optimized).unwrap();
    eprintln!(
        "mcunet-in2 4x4: stage through op {}; arena {} B (activations {} + scratch {} + kernel {}), layer by layer {} B; touched {:?}; {} extra MACs",
        code.stage_end,
        s.plan.total_bytes(),
        s.plan.activation_bytes,
        s.plan.scratch_bytes,
        s.plan.kernel_bytes,
        whole.plan.total_bytes(),
        c.touched,
        code.extra_macs
    );
    assert!(s.plan.total_bytes() * 2 < whole.plan.total_bytes());
    // Linked for an STM32F746 and run on its Cortex-M7: the linker's figures against the
    // estimate, the instructions the recomputed overlaps cost.
    let dev = Device::preset("stm32f746").unwrap();
    let macs = tinynas::mcu::walk::build(&net).macs();
    let d = firmware::check_device(&q, &s, &dev, &dir, &inputs[..1], macs).unwrap();
    let est = patch_code::estimate(&net, &tinynas::mcu::walk::build(&net), 4).unwrap();
    eprintln!(
        "mcunet-in2 4x4 on the Cortex-M7: identical; flash {} B (estimate {} B), SRAM {} B (estimate {} B), code {} B; {} instructions ({:.3} MACs/instruction)",
        d.link.flash_used_bytes,
        est.flash_bytes,
        d.link.sram_used_bytes,
        est.sram_bytes,
        d.link.code_bytes,
        d.instructions,
        d.macs_per_instruction
    );
    assert_eq!(d.link.sram_used_bytes, est.sram_bytes);
    let (linked, estimate) = (d.link.flash_used_bytes as f64, est.flash_bytes as f64);
    assert!(linked <= estimate && estimate / linked - 1.0 < 0.02);
    // The latency model priced per patch against QEMU's count.
    let t = tinynas::mcu::latency::core_table(d.link.core).unwrap();
    let predicted =
        tinynas::mcu::latency::patched_instructions(t, &tinynas::mcu::walk::build(&net), &est.plan)
            .unwrap();
    let err = predicted as f64 / d.instructions as f64 - 1.0;
    eprintln!(
        "  the latency model per patch: {predicted} instructions ({:+.2} %)",
        100.0 * err
    );
    assert!(
        err.abs() < 0.05,
        "{predicted} predicted, {} counted",
        d.instructions
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn patch_stage_runs_bit_exact_on_a_cortex_m7_in_qemu() {
    let mut r = rng(43);
    let net = &subnets(43, 0)[0];
    let q = calibrated_model(net, &mut r, 4);
    let s = generate_staged(&q, net, "test", Stage::Patches(3)).unwrap();
    let dev = Device::preset("stm32f746").unwrap();
    let inputs = random_inputs(&q, &mut r, 20);
    let dir = tmp("qemu");
    let macs = tinynas::mcu::walk::build(net).macs();
    let c = firmware::check_device(&q, &s, &dev, &dir, &inputs, macs).unwrap();
    assert_eq!(c.images, 20);
    let est = patch_code::estimate(net, &tinynas::mcu::walk::build(net), 3).unwrap();
    let t = tinynas::mcu::latency::core_table(c.link.core).unwrap();
    let predicted =
        tinynas::mcu::latency::patched_instructions(t, &tinynas::mcu::walk::build(net), &est.plan)
            .unwrap();
    let err = predicted as f64 / c.instructions as f64 - 1.0;
    eprintln!(
        "the latency model per patch: {predicted} instructions ({:+.2} %)",
        100.0 * err
    );
    assert!(
        err.abs() < 0.05,
        "{predicted} predicted, {} counted",
        c.instructions
    );
    eprintln!(
        "estimate: flash {} B, SRAM {} B; linked {} B, {} B; code {} B",
        est.flash_bytes,
        est.sram_bytes,
        c.link.flash_used_bytes,
        c.link.sram_used_bytes,
        c.link.code_bytes
    );
    assert_eq!(c.link.sram_used_bytes, est.sram_bytes);
    let (linked, estimate) = (c.link.flash_used_bytes as f64, est.flash_bytes as f64);
    assert!(
        linked <= estimate && estimate / linked - 1.0 < 0.02,
        "flash linked {linked} B, estimated {estimate} B"
    );
    eprintln!(
        "{} 3x3 on the Cortex-M7: 20/20 identical; flash {} B, SRAM {} B (arena {} B + input {} B); {} instructions",
        net.name,
        c.link.flash_used_bytes,
        c.link.sram_used_bytes,
        s.plan.total_bytes(),
        q.graph.shapes[0].len(),
        c.instructions
    );
    let _ = std::fs::remove_dir_all(&dir);
}
