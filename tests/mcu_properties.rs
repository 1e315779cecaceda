//! MCU evaluator properties over random networks, the search space, and bad input.

mod common;
use common::bn_width;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tinynas::Error;
use tinynas::arch::SearchSpace;
use tinynas::arch::models::proxyless_mobile;
use tinynas::arch::net::Network;
use tinynas::arch::subnet::from_subnet;
use tinynas::cli::flags::describe;
use tinynas::error::{Allowed, Field};
use tinynas::mcu::place::{Order, place};
use tinynas::mcu::sched::buffers;
use tinynas::mcu::walk::build;
use tinynas::mcu::{Device, EvalOptions, Scheduler, evaluate};

fn random_space_net(rng: &mut StdRng) -> Network {
    let space = SearchSpace {
        in_channels: 3,
        width_mult: [0.3, 0.5, 0.7, 1.0][rng.random_range(0..4)],
        ..SearchSpace::default()
    };
    let res = [48, 64, 96, 128, 160][rng.random_range(0..5)];
    from_subnet(&space, &space.sample(rng, res)).unwrap()
}

#[test]
fn planners_never_overlap_two_live_tensors() {
    let mut rng = StdRng::seed_from_u64(5);
    for case in 0..200 {
        let net = random_space_net(&mut rng);
        let g = build(&net);
        for (align, inplace, order) in [
            (16, false, Order::LaterFirst),
            (4, true, Order::EarlierFirst),
        ] {
            let (bufs, tb) = buffers(&g, align, inplace);
            let off = place(&bufs, order);
            for k in 0..g.ops.len() {
                let live: Vec<usize> = (0..bufs.len())
                    .filter(|&i| bufs[i].first <= k && k <= bufs[i].last)
                    .collect();
                for (a, &i) in live.iter().enumerate() {
                    assert_eq!(bufs[i].size % align, 0);
                    for &j in &live[a + 1..] {
                        let space = off[i] < off[j] + bufs[j].extent(k)
                            && off[j] < off[i] + bufs[i].extent(k);
                        assert!(!space, "case {case}: buffers {i} and {j} overlap at op {k}");
                    }
                }
            }
            // Every op's inputs and output are live at that op, within their buffer's extent
            // there; a tensor stays within it wherever it is live.
            for (k, op) in g.ops.iter().enumerate() {
                for &t in op.inputs.iter().chain([&op.output]) {
                    let b = &bufs[tb[t]];
                    assert!(
                        b.first <= k && k <= b.last && g.bytes(t) <= b.extent(k),
                        "case {case}: tensor {t} not live at op {k}"
                    );
                }
            }
            for t in 0..g.tensors.len() {
                let b = &bufs[tb[t]];
                let made = g.ops.iter().position(|o| o.output == t).unwrap_or(0);
                let read = g
                    .ops
                    .iter()
                    .rposition(|o| o.inputs.contains(&t))
                    .unwrap_or(made);
                for k in made..=read {
                    assert!(
                        g.bytes(t) <= b.extent(k),
                        "case {case}: tensor {t} cut short at op {k}"
                    );
                }
            }
        }
        // The arena can never be below the largest op's own working set (TFLM: no in-place).
        let tflm = evaluate(
            &net,
            &EvalOptions {
                scheduler: Scheduler::Tflm,
                ..Default::default()
            },
        )
        .unwrap();
        let ws = g
            .ops
            .iter()
            .map(|o| {
                o.inputs
                    .iter()
                    .chain([&o.output])
                    .map(|&t| g.bytes(t))
                    .sum::<u64>()
            })
            .max()
            .unwrap();
        assert!(tflm.peak_sram_bytes >= ws);
        let analytic = evaluate(
            &net,
            &EvalOptions {
                scheduler: Scheduler::Analytic,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            analytic.peak_sram_bytes <= tflm.peak_sram_bytes,
            "case {case}: in-place analytic bound above the TFLM arena"
        );
    }
}

#[test]
fn search_space_has_7371_to_the_5_subnets_and_extremes_bound_macs() {
    let space = SearchSpace::default();
    assert_eq!(space.subnet_count(), 7371f64.powi(5));
    assert!((space.subnet_count() - 2.0e19).abs() < 0.2e19);
    let big = evaluate(
        &from_subnet(&space, &space.largest(64)).unwrap(),
        &EvalOptions::default(),
    )
    .unwrap();
    let small = evaluate(
        &from_subnet(&space, &space.smallest(64)).unwrap(),
        &EvalOptions::default(),
    )
    .unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..50 {
        let r = evaluate(
            &from_subnet(&space, &space.sample(&mut rng, 64)).unwrap(),
            &EvalOptions::default(),
        )
        .unwrap();
        assert!(small.macs <= r.macs && r.macs <= big.macs);
        assert!(small.flash_bytes <= r.flash_bytes && r.flash_bytes <= big.flash_bytes);
    }
    // Widths of workload 1 of BENCHMARKS.md at w0.5: 16, 8, 16, 24, 40, 48, 96, 160.
    assert_eq!(space.widths(), vec![16, 8, 16, 24, 40, 48, 96, 160]);
}

#[test]
fn proxyless_mobile_parameters_match_the_published_count() {
    // pytorchcv's proxylessnas_mobile: 4,080,512 trainable parameters (conv weights, BN γ and β,
    // classifier). Ours fold BN into one bias per channel.
    let r = evaluate(&proxyless_mobile(224, 1000), &EvalOptions::default()).unwrap();
    let bn = bn_width(&r);
    assert_eq!(r.params + bn, 4_080_512);
}

#[test]
fn malformed_descriptions_name_the_field() {
    let good = serde_json::to_string(&proxyless_mobile(224, 10)).unwrap();
    assert!(Network::from_json(&good).is_ok());
    let cases = [
        (
            good.replacen("\"in_channels\":16", "\"in_channels\":17", 1),
            "blocks[1].in_channels",
        ),
        (good.replacen("\"stride\":2", "\"stride\":0", 2), "stride"),
        (
            good.replacen("\"resolution\":224", "\"resolution\":8", 1),
            "too small",
        ),
        (
            good.replacen("\"classes\":10", "\"classes\":\"ten\"", 1),
            "classes",
        ),
        ("{\"input\": 3}".to_string(), "network description"),
    ];
    for (text, want) in cases {
        let err = Network::from_json(&text).unwrap_err().to_string();
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    // An unknown device or scheduler: the field, the value, the valid names; the CLI names the
    // flags (the budgets that replace a preset too).
    let e = Device::preset("esp32").unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Device, value: Some(v), allowed: Allowed::Words(w) }
            if v == "\"esp32\"" && w.fields().eq([Field::Sram, Field::Flash])),
        "{e:?}"
    );
    let err = describe(&e);
    assert!(
        err.starts_with("--device \"esp32\": unknown device; valid: stm32f746, ")
            && err.contains("nrf52840")
            && err.ends_with("(or give --sram and --flash)"),
        "{err}"
    );
    let e = Scheduler::parse("greedy").unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Scheduler, value: Some(v), .. } if v == "\"greedy\""),
        "{e:?}"
    );
    assert_eq!(
        describe(&e),
        "--scheduler \"greedy\": unknown scheduler; valid: analytic, tflm, tinyengine, patch"
    );
}

#[test]
fn device_verdict_and_margins() {
    let d = Device::preset("stm32f412").unwrap();
    assert_eq!((d.sram_bytes, d.flash_bytes), (256 * 1024, 1024 * 1024));
    assert!(d.fits(256 * 1024, 1024 * 1024));
    assert!(!d.fits(256 * 1024 + 1, 0));
    assert_eq!(d.margins(200 * 1024, 1000 * 1024), (56 * 1024, 24 * 1024));
}

#[test]
fn fast_path_agrees_with_the_full_evaluator() {
    use tinynas::mcu::fast::Evaluator;
    let mut rng = StdRng::seed_from_u64(11);
    let mut ev = Evaluator::default();
    let mut nets: Vec<Network> = (0..100).map(|_| random_space_net(&mut rng)).collect();
    nets.push(tinynas::arch::models::mobilenet_v2(1.0, 224, 1000));
    nets.push(proxyless_mobile(160, 10));
    // Squeeze-and-excite on every other block, with and without expansion and residuals.
    for i in 0..20 {
        let mut net = nets[i].clone();
        for (j, b) in net.blocks.iter_mut().enumerate() {
            if j % 2 == i % 2 {
                b.se_channels = Some((b.mid() / 4).max(8));
            }
        }
        nets.push(net);
    }
    for net in &nets {
        for s in [Scheduler::Analytic, Scheduler::Tflm, Scheduler::TinyEngine] {
            for inplace in [true, false] {
                let full = evaluate(
                    net,
                    &EvalOptions {
                        scheduler: s,
                        inplace_depthwise: inplace,
                        ..Default::default()
                    },
                )
                .unwrap();
                let fast = ev.summary(net, s, inplace).unwrap();
                assert_eq!(
                    (fast.macs, fast.params, fast.flash_bytes),
                    (full.macs, full.params, full.flash_bytes)
                );
                assert_eq!(
                    fast.peak_sram_bytes, full.peak_sram_bytes,
                    "{} under {s:?}",
                    net.name
                );
            }
        }
    }
}

#[test]
fn readme_network_example_parses_and_evaluates() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```json\n")
        .expect("a JSON example in README.md")
        + 8;
    let end = start + readme[start..].find("```").unwrap();
    let net = Network::from_json(&readme[start..end]).unwrap();
    assert_eq!(net.blocks[1].expand_ratio, 5);
    let r = evaluate(&net, &EvalOptions::default()).unwrap();
    assert!(r.graph.ops.iter().any(|o| o.name == "blocks.2.se.mul"));
    assert!(r.peak_sram_bytes > 0 && r.macs > 0);
}
