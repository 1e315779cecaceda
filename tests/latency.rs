//! Latency as a constraint, on the CPU alone (the committed table `src/mcu/latency.json`, no
//! QEMU): the search and its baselines under `--latency-ms` return only subnets under the limit,
//! the space optimization's ranking changes when the limit binds, `--clock-mhz` scales the
//! milliseconds, and bad limits are refused naming the flag.

mod common;
use common::harden::{refused, tinynas};
use tinynas::arch::SearchSpace;
use tinynas::arch::subnet::from_subnet;
use tinynas::cli::flags::describe;
use tinynas::mcu::device::Core;
use tinynas::mcu::{Device, Scheduler, latency};
use tinynas::search::baselines::{most_macs, random_fitting, uniform};
use tinynas::search::evolution::{EvoOptions, evolve};
use tinynas::search::space::{Rank, SpaceOptions, rank_spaces};
use tinynas::search::{Checker, Limits};

fn space() -> SearchSpace {
    SearchSpace {
        in_channels: 3,
        resolutions: vec![64, 96, 128],
        ..SearchSpace::default()
    }
}

fn limits(device: &str, latency_ms: Option<f64>) -> Limits {
    Limits {
        device: Device::preset(device).unwrap(),
        scheduler: Scheduler::TinyEngine,
        latency_ms,
    }
}

/// The median latency of random subnets of `sp` on `device`: a limit that binds.
fn median_latency(sp: &SearchSpace, device: &str) -> f64 {
    let mut c = Checker::new(limits(device, None));
    let mut rng = common::rng(5);
    let mut ms: Vec<f64> = (0..200)
        .map(|i| {
            let r = sp.resolutions[i % sp.resolutions.len()];
            let s = sp.sample(&mut rng, r);
            c.footprint(sp, &s).unwrap().latency_ms.unwrap()
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

#[test]
fn the_latency_model_prices_every_op_of_the_search_spaces_on_both_cores() {
    let sp = space();
    let net = from_subnet(&sp, &sp.largest(128)).unwrap();
    for core in [Core::CortexM4F, Core::CortexM7] {
        let per_op = latency::per_op(&net, core).unwrap();
        assert!(
            per_op.iter().all(|&v| v.is_finite() && v > 0.0),
            "{per_op:?}"
        );
        let t = latency::core_table(core).unwrap();
        let total = latency::instructions(t, &net).unwrap() as f64;
        let sum: f64 = per_op.iter().sum();
        assert!(
            (total - sum).abs() <= 1.0,
            "the total is the sum of the layers"
        );
        // More MACs cost more: the largest subnet against the smallest.
        let small = from_subnet(&sp, &sp.smallest(64)).unwrap();
        assert!(latency::instructions(t, &small).unwrap() * 5 < total as u64);
        // The table's own held-out check met the target.
        assert!(t.check.subnets >= 50, "{:?}", t.check);
        assert!(t.check.mean_abs_error_pct < 5.0, "{:?}", t.check);
    }
}

#[test]
fn search_and_baselines_under_latency_ms_return_only_subnets_under_the_limit() {
    let sp = space();
    let limit = median_latency(&sp, "stm32f746");
    let mut free = Checker::new(limits("stm32f746", None));
    let unlimited = most_macs(&sp, &mut free, 1).unwrap();
    // The limit binds: without it, the most MACs go over it.
    assert!(unlimited.footprint.latency_ms.unwrap() > limit);

    let mut c = Checker::new(limits("stm32f746", Some(limit)));
    let o = EvoOptions {
        population: 30,
        generations: 10,
        seed: 3,
        ..EvoOptions::default()
    };
    let mut score = |subs: &[tinynas::arch::SubnetConfig]| {
        subs.iter()
            .map(|s| from_subnet(&sp, s).map(|n| tinynas::mcu::walk::build(&n).macs() as f64))
            .collect::<Result<Vec<_>, _>>()
    };
    let r = evolve(&sp, &mut c, &mut score, &o, |_, _| {}).unwrap();
    assert!(r.rejected > 0, "the latency limit rejected candidates");
    for cand in r.population.iter().chain([&r.best]) {
        let ms = cand.footprint.latency_ms.unwrap();
        assert!(ms <= limit, "{ms} ms over the limit {limit}");
    }
    let best = most_macs(&sp, &mut c, 1).unwrap();
    assert!(best.footprint.latency_ms.unwrap() <= limit);
    assert!(best.footprint.macs < unlimited.footprint.macs);
    if let Some(u) = uniform(&sp, &mut c).unwrap() {
        assert!(u.footprint.latency_ms.unwrap() <= limit);
    }
    let random = random_fitting(&sp, &mut c, 20, 4, 100).unwrap();
    assert!(!random.is_empty());
    assert!(
        random
            .iter()
            .all(|x| x.footprint.latency_ms.unwrap() <= limit)
    );
}

#[test]
fn space_ranking_changes_when_the_latency_limit_binds() {
    let base = SearchSpace {
        in_channels: 3,
        ..SearchSpace::default()
    };
    let opts = |latency_ms| SpaceOptions {
        base: base.clone(),
        resolutions: vec![64, 96, 128, 160],
        widths: vec![0.35, 0.5, 0.75],
        samples: 60,
        seed: 0,
        limits: limits("stm32h743", latency_ms),
        rank: Rank::Mean,
        min_fit: 0.1,
        threads: 2,
    };
    let memory_only = rank_spaces(&opts(None)).unwrap();
    let top = &memory_only[0];
    // A limit at the median latency of the memory-only winner's subnets.
    let sp = top.space(&base);
    let limit = median_latency(&sp, "stm32h743") * 0.5;
    let timed = rank_spaces(&opts(Some(limit))).unwrap();
    let order = |r: &[tinynas::search::space::SpaceResult]| -> Vec<(usize, String)> {
        r.iter()
            .map(|s| (s.resolution, s.width.to_string()))
            .collect()
    };
    assert_ne!(order(&memory_only), order(&timed));
    assert_ne!(
        (timed[0].resolution, timed[0].width),
        (top.resolution, top.width),
        "the memory-only winner keeps the lead under a limit half its median latency"
    );
    // Every space has no more fitting subnets with the limit than without.
    for t in &timed {
        let m = memory_only
            .iter()
            .find(|m| m.resolution == t.resolution && m.width == t.width)
            .unwrap();
        assert!(t.fitting <= m.fitting);
    }
}

#[test]
fn clock_mhz_scales_the_latency_and_a_device_without_a_clock_is_refused() {
    let sp = space();
    let s = sp.largest(96);
    let at = |mhz: Option<u32>| {
        let mut l = limits("stm32f412", None);
        l.device = l.device.with_clock(mhz).unwrap();
        Checker::new(l)
            .footprint(&sp, &s)
            .unwrap()
            .latency_ms
            .unwrap()
    };
    let (own, doubled) = (at(None), at(Some(200)));
    assert!((own / doubled - 2.0).abs() < 1e-9, "{own} {doubled}");
    // No clock: the limit cannot be priced.
    let mut l = limits("stm32f412", Some(50.0));
    l.device.clock_mhz = None;
    // (The CLI's words: every setting named by its flag.)
    let e = describe(&l.check_latency().unwrap_err());
    assert!(
        e.contains("--latency-ms") && e.contains("--clock-mhz"),
        "{e}"
    );
    l.device.core = None;
    let e = describe(&l.check_latency().unwrap_err());
    assert!(e.contains("--latency-ms") && e.contains("core"), "{e}");
    // And a Checker asked to price it refuses the footprint instead of passing it.
    assert!(Checker::new(l).footprint(&sp, &s).is_err());
}

#[test]
fn bad_latency_limits_are_refused_naming_the_flag() {
    for bad in ["0", "-5", "NaN", "inf"] {
        refused(
            &["space", "--latency-ms", bad, "--samples", "10"],
            &["--latency-ms"],
        );
    }
    refused(
        &["space", "--clock-mhz", "0", "--samples", "10"],
        &["--clock-mhz"],
    );
    // A limit nothing meets.
    refused(
        &[
            "space",
            "--latency-ms",
            "0.001",
            "--samples",
            "20",
            "--resolutions",
            "64",
            "--widths",
            "0.5",
        ],
        &["--latency-ms"],
    );
}

#[test]
fn mem_prints_a_latency_column_and_total_at_the_devices_clock() {
    let (code, out, err) = tinynas(&[
        "mem",
        "--model",
        "mcunet-in2",
        "--device",
        "stm32h743",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total = v["latency_ms"].as_f64().unwrap();
    let sum: f64 = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["latency_ms"].as_f64().unwrap())
        .sum();
    assert!((total - sum).abs() < 1e-3 * total, "{total} vs {sum}");
    let (code, out2, err) = tinynas(&[
        "mem",
        "--model",
        "mcunet-in2",
        "--device",
        "stm32h743",
        "--clock-mhz",
        "240",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v2: serde_json::Value = serde_json::from_str(&out2).unwrap();
    let half_clock = v2["latency_ms"].as_f64().unwrap();
    assert!((half_clock / total - 2.0).abs() < 1e-6);
}
