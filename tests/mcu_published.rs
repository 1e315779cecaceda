//! The MCU evaluator against published figures (BENCHMARKS.md) and hand-computed networks.

mod common;
use common::bn_width;
use tinynas::arch::models::mobilenet_v2;
use tinynas::arch::net::{Block, Input, Network, Stem, make_divisible};
use tinynas::mcu::{EvalOptions, Scheduler, evaluate};

fn opts(s: Scheduler) -> EvalOptions {
    EvalOptions {
        scheduler: s,
        ..Default::default()
    }
}

#[test]
fn mobilenet_v2_analytic_peak_is_1372_kib_at_second_block_expand() {
    let net = mobilenet_v2(1.0, 224, 1000);
    let r = evaluate(&net, &opts(Scheduler::Analytic)).unwrap();
    assert_eq!(r.peak_sram_bytes, 112 * 112 * 16 + 112 * 112 * 96);
    assert_eq!(r.peak_sram_bytes, 1_404_928);
    assert_eq!(r.peak_sram_bytes / 1024, 1372);
    assert_eq!(r.peak_layer, "blocks.1.expand");
    // Without in-place depthwise the second block's depthwise (in 112²·96 + out 56²·96) is larger.
    let no_inplace = evaluate(
        &net,
        &EvalOptions {
            inplace_depthwise: false,
            ..opts(Scheduler::Analytic)
        },
    )
    .unwrap();
    assert_eq!(no_inplace.peak_sram_bytes, 112 * 112 * 96 + 56 * 56 * 96);
    assert_eq!(no_inplace.peak_layer, "blocks.1.depthwise");
}

#[test]
fn mobilenet_v2_patch_based_peak_is_172_kib_within_2_percent() {
    let net = mobilenet_v2(1.0, 224, 1000);
    let r = evaluate(&net, &opts(Scheduler::Patch)).unwrap();
    let kib = r.peak_sram_bytes as f64 / 1024.0;
    assert!(
        (kib - 172.0).abs() <= 0.02 * 172.0,
        "patch peak {kib:.1} KiB"
    );
    let plan = r.patch.unwrap();
    assert_eq!(plan.patches, 4);
    assert!(
        plan.stage_peak_bytes < r.peak_sram_bytes
            || plan.after_stage_peak_bytes == r.peak_sram_bytes
    );
    assert!(plan.extra_macs > 0, "overlapping patches recompute");
    // The 28×28 stage after the patches: 28²·32 + 28²·192 bytes.
    assert_eq!(r.peak_sram_bytes, 28 * 28 * 32 + 28 * 28 * 192);
    assert!(plan.stage_peak_bytes <= r.peak_sram_bytes);
}

#[test]
fn mobilenet_v2_macs_and_params_match_the_paper() {
    // Sandler et al.: 300M multiply-adds.
    let r = evaluate(&mobilenet_v2(1.0, 224, 1000), &opts(Scheduler::Analytic)).unwrap();
    assert!(
        (r.macs as f64 - 300e6).abs() < 0.01 * 300e6,
        "MACs {}",
        r.macs
    );
    // torchvision's mobilenet_v2 has 3,504,872 parameters: conv weights, BN γ and β per channel,
    // the classifier. Folding BN leaves one bias per channel, so ours are fewer by the BN width.
    let bn_channels = bn_width(&r);
    assert_eq!(r.params + bn_channels, 3_504_872);
}

/// 8×8×2 input → stem 3×3 s2 → 4 ch at 4×4 → one residual block (expand 2, k3) → pool → 3 classes.
fn toy() -> Network {
    Network {
        name: "toy".into(),
        input: Input {
            resolution: 8,
            channels: 2,
        },
        stem: Stem {
            out_channels: 4,
            kernel_size: 3,
            stride: 2,
        },
        blocks: vec![Block {
            in_channels: 4,
            out_channels: 4,
            kernel_size: 3,
            stride: 1,
            expand_ratio: 2,
            mid_channels: None,
            se_channels: None,
            residual: None,
        }],
        feature_mix_channels: None,
        classes: 3,
    }
}

#[test]
fn toy_network_macs_params_flash_by_hand() {
    let r = evaluate(&toy(), &opts(Scheduler::Analytic)).unwrap();
    // stem 4·4·4·(9·2) = 1152; expand 16·8·4 = 512; dw 16·8·9 = 1152; project 16·4·8 = 512;
    // pool 16·4 = 64; classifier 4·3 = 12.
    assert_eq!(r.macs, 1152 + 512 + 1152 + 512 + 64 + 12);
    // weights + one bias per output channel.
    assert_eq!(
        r.params,
        (72 + 4) + (32 + 8) + (72 + 8) + (32 + 4) + (12 + 3)
    );
    // int8 weights + 4-byte bias + 4-byte scale per output channel.
    assert_eq!(
        r.flash_bytes,
        (72 + 32 + 72 + 32 + 12) + 8 * (4 + 8 + 8 + 4 + 3)
    );
}

#[test]
fn toy_network_peak_under_each_scheduler_by_hand() {
    let net = toy();
    // Tensors: in 128, stem 64, expand 128, dw 128, project 64, add 64, pool 4, logits 3.
    let a = evaluate(&net, &opts(Scheduler::Analytic)).unwrap();
    // stem 128+64=192; expand 64+128=192; dw in place 128 (+64 residual) = 192; project 128+64.
    assert_eq!(a.peak_sram_bytes, 192);
    assert_eq!(a.peak.per_op[..4], [192, 192, 192, 192]);

    // TF Lite Micro: 16-byte aligned, no in-place. Ops: 0 stem, 1 expand, 2 dw, 3 project, 4 add,
    // 5 pool, 6 fc. Lifetimes: in[0,0] stem[0,4] expand[1,2] dw[2,3] proj[3,4] add[4,5] pool[5,6] fc[6,6].
    // Largest first: in 128@0; expand 128@0 (in is dead by op 1); dw 128@128 (overlaps expand);
    // stem 64: overlaps in, expand, dw → @256; proj 64: overlaps dw(128..256) and stem(256..320)
    // → @0; add 64: overlaps stem and proj → @64; pool 16 @0; fc 16 @16 (overlaps pool).
    let t = evaluate(&net, &opts(Scheduler::Tflm)).unwrap();
    assert_eq!(t.peak_sram_bytes, 320);

    // TinyEngine: 4-byte sizes; dw shares the expand buffer (128, ops 1..3). in 128@0, exp/dw 128@0
    // (in dead), stem 64@128, proj 64: overlaps exp/dw(0..128) and stem(128..192) → @192; add 64:
    // overlaps stem and proj → @0; pool 4@64 (overlaps add 0..64); fc 4 @0 (overlaps pool at 64).
    // Arena 256. Scratch: stem im2col 9·2·2·2 = 72, dw 2·6·6 = 72 → 72; kernel 2·72 = 144.
    let te = evaluate(&net, &opts(Scheduler::TinyEngine)).unwrap();
    assert_eq!(te.peak.arena_bytes, 256);
    assert_eq!(te.peak.scratch_bytes, 72);
    assert_eq!(te.peak.kernel_buffer_bytes, 144);
    assert_eq!(te.peak_sram_bytes, 256 + 72 + 144);
}

#[test]
fn make_divisible_follows_the_mcunet_rule() {
    assert_eq!(make_divisible(32.0 * 0.5), 16);
    assert_eq!(make_divisible(24.0 * 0.5), 16); // int(12+4)//8*8 = 16
    assert_eq!(make_divisible(40.0 * 0.5), 24);
    assert_eq!(make_divisible(3.0), 8);
    assert_eq!(make_divisible(96.0 * 0.35), 32); // 33.6 → 32 ≥ 0.9·33.6
    assert_eq!(make_divisible(17.0), 16); // 21//8*8 = 16 ≥ 0.9·17
    assert_eq!(make_divisible(9.5), 16); // 13//8*8 = 8 < 0.9·9.5 → 16
}
