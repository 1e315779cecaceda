//! TinyNAS search: space ranking, the predictor's encoding and fit, evolution under the limits.

mod common;
use common::search::*;
use common::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tinynas::Error;
use tinynas::arch::subnet::from_subnet;
use tinynas::arch::{SearchSpace, SubnetConfig};
use tinynas::cli::flags::describe;
use tinynas::error::{Allowed, Field};
use tinynas::mcu::{Device, EvalOptions, Scheduler, evaluate};
use tinynas::search::Checker;
use tinynas::search::encoding::{canonical, decode, encode, encoding_len, kendall_tau};
use tinynas::search::evolution::{EvoOptions, evolve};
use tinynas::search::predictor::{FitOptions, Predictor, Sample};
use tinynas::search::space::{Rank, SpaceOptions, rank_spaces};

#[test]
fn space_ranking_on_a_hand_checkable_grid() {
    // One choice per gene: every sample of a space is the same subnet, so each space's
    // fitting MACs are exactly that subnet's, or nothing.
    let base = SearchSpace {
        kernel_choices: vec![3],
        expand_choices: vec![3],
        depth_choices: vec![2],
        ..SearchSpace::default()
    };
    let lim = limits(64, 1024, Scheduler::Analytic);
    let o = SpaceOptions {
        base: base.clone(),
        resolutions: vec![48, 96, 160],
        widths: vec![0.3, 0.6],
        samples: 20,
        seed: 1,
        limits: lim.clone(),
        rank: Rank::Mean,
        min_fit: 0.05,
        threads: 2,
    };
    let r = rank_spaces(&o).unwrap();
    assert_eq!(r.len(), 6);
    // The expected figures, computed one by one through the full evaluator.
    let mut want = Vec::new();
    for &res in &o.resolutions {
        for &w in &o.widths {
            let sp = SearchSpace {
                width_mult: w,
                resolutions: vec![res],
                ..base.clone()
            };
            let rep = evaluate(
                &from_subnet(&sp, &sp.smallest(res)).unwrap(),
                &EvalOptions {
                    scheduler: Scheduler::Analytic,
                    ..EvalOptions::default()
                },
            )
            .unwrap();
            let fits = lim.device.fits(rep.peak_sram_bytes, rep.flash_bytes);
            want.push((res, w, fits, rep.macs));
        }
    }
    assert!(
        want.iter().any(|x| x.2) && want.iter().any(|x| !x.2),
        "{want:?}"
    );
    // Fitting spaces first, by MACs descending; then the ones where nothing fits, marked, by
    // resolution and width.
    let mut order: Vec<_> = want.clone();
    order.sort_by(|a, b| {
        b.2.cmp(&a.2).then(if a.2 {
            b.3.cmp(&a.3)
        } else {
            a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
        })
    });
    for (got, w) in r.iter().zip(&order) {
        assert_eq!((got.resolution, got.width), (w.0, w.1), "{r:?}");
        assert_eq!(got.too_few, !w.2);
        assert_eq!(got.fitting, if w.2 { 20 } else { 0 });
        if w.2 {
            assert_eq!(got.mean_macs, w.3 as f64);
            assert_eq!(got.score, w.3 as f64);
        }
    }
    // A percentile of identical values is that value; bad ranks are refused.
    let p = rank_spaces(&SpaceOptions {
        rank: Rank::Percentile(80.0),
        ..o.clone()
    })
    .unwrap();
    assert_eq!(p[0].score, r[0].score);
    assert!(Rank::parse("p101").is_err() && Rank::parse("median").is_err());
    assert_eq!(Rank::parse("p50").unwrap(), Rank::Percentile(50.0));
}

#[test]
fn space_ranking_with_real_choices_is_seeded_and_uses_every_sample() {
    let o = SpaceOptions {
        base: SearchSpace::default(),
        resolutions: vec![96, 128],
        widths: vec![0.5, 0.8],
        samples: 200,
        seed: 3,
        limits: limits(256, 1024, Scheduler::TinyEngine),
        rank: Rank::Mean,
        min_fit: 0.05,
        threads: 2,
    };
    let a = rank_spaces(&o).unwrap();
    let b = rank_spaces(&SpaceOptions {
        threads: 1,
        ..o.clone()
    })
    .unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.resolution, x.width, x.fitting),
            (y.resolution, y.width, y.fitting)
        );
        assert_eq!(
            x.macs, y.macs,
            "the same seed gives the same samples on any thread count"
        );
    }
    for s in &a {
        assert_eq!(s.sampled, 200);
        assert_eq!(s.macs.len(), s.fitting);
        let mean = s.macs.iter().sum::<u64>() as f64 / s.fitting.max(1) as f64;
        assert!((s.mean_macs - mean).abs() < 1e-6);
    }
}

fn random_subnets(sp: &SearchSpace, n: usize, seed: u64) -> Vec<SubnetConfig> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| sp.sample(&mut r, sp.resolutions[i % sp.resolutions.len()]))
        .collect()
}

#[test]
fn encoding_round_trips() {
    let sp = SearchSpace {
        resolutions: vec![32, 48, 64],
        ..SearchSpace::default()
    };
    assert_eq!(encoding_len(&sp), 20 * 6 + 3);
    for s in random_subnets(&sp, 200, 1) {
        let v = encode(&sp, &s).unwrap();
        assert_eq!(
            v.iter().filter(|&&x| x == 1.0).count(),
            2 * s.depth.iter().sum::<usize>() + 1
        );
        let d = decode(&sp, &v).unwrap();
        assert_eq!(d, canonical(&sp, &s));
        assert_eq!(encode(&sp, &d).unwrap(), v);
    }
    // Not encodings: two kernels hot in a slot, a block after a skipped one, wrong length.
    let s = sp.largest(32);
    let mut v = encode(&sp, &s).unwrap();
    v[1] = 1.0;
    assert!(decode(&sp, &v).is_err());
    let mut v = encode(&sp, &sp.smallest(32)).unwrap();
    v[3 * 6] = 1.0; // slot 3 of stage 0 while the depth is 2
    v[3 * 6 + 3] = 1.0;
    assert!(decode(&sp, &v).is_err());
    assert!(decode(&sp, &v[1..]).is_err());
    assert!(
        encode(&sp, &sp.largest(40)).is_err(),
        "resolution outside the space"
    );
}

#[test]
fn kendall_tau_known_values() {
    assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
    assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
    // 4 items, 5 concordant and 1 discordant pair: (5 − 1) / 6.
    let t = kendall_tau(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]);
    assert!((t - 4.0 / 6.0).abs() < 1e-12);
}

#[test]
fn predictor_fits_on_the_gpu_and_search_beats_random_sampling() {
    let e = engine();
    let sp = SearchSpace {
        resolutions: vec![96, 128],
        ..SearchSpace::default()
    };
    let pairs: Vec<Sample> = random_subnets(&sp, 150, 2)
        .into_iter()
        .map(|s| {
            let a = synthetic_accuracy(&sp, &s);
            let halves = Some([a + noise(&sp, &s, 1) * 0.01, a + noise(&sp, &s, 2) * 0.01]);
            Sample {
                subnet: s,
                top1: a,
                halves,
            }
        })
        .collect();
    let p = Predictor::fit(
        &e,
        &sp,
        &pairs,
        &FitOptions {
            folds: 3,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let rep = p.report.clone().unwrap();
    let acc: Vec<f64> = pairs.iter().map(|p| p.top1).collect();
    let spread = acc.iter().cloned().fold(0.0, f64::max) - acc.iter().cloned().fold(1.0, f64::min);
    assert!(rep.heldout_rmse < 0.25 * spread, "{rep:?}");
    assert!(rep.heldout_kendall_tau > 0.75, "{rep:?}");
    // Three folds over all 150, each pair predicted by a predictor that never saw it.
    let k = rep.kfold.clone().unwrap();
    assert_eq!(k.folds, 3);
    assert!(k.rmse < 0.25 * spread && k.kendall_tau > 0.6, "{k:?}");
    // The noise ceiling: τ between the two noisy halves, computed as Kendall's τ-b.
    let h0: Vec<f64> = pairs.iter().map(|p| p.halves.unwrap()[0]).collect();
    let h1: Vec<f64> = pairs.iter().map(|p| p.halves.unwrap()[1]).collect();
    assert_eq!(k.noise_ceiling, Some(kendall_tau(&h0, &h1)));
    assert!(rep.heldout_noise_ceiling.unwrap() < 1.0);
    assert!(rep.steps > 0 && rep.steps <= 2000, "{rep:?}");
    assert_eq!(rep.trust().tau, k.kendall_tau);
    // Saved and loaded, it predicts the same.
    let path = std::env::temp_dir().join(format!("tinynas-pred-{}.json", std::process::id()));
    p.save(&path).unwrap();
    let q = Predictor::load(&path).unwrap();
    let probe = random_subnets(&sp, 10, 9);
    assert_eq!(
        p.predict(&e, &probe).unwrap(),
        q.predict(&e, &probe).unwrap()
    );

    // Search under a device where the largest subnets do not fit.
    let lim = limits(200, 600, Scheduler::TinyEngine);
    let mut checker = Checker::new(lim.clone());
    let o = EvoOptions {
        population: 40,
        generations: 15,
        seed: 4,
        ..EvoOptions::default()
    };
    let mut score = |s: &[SubnetConfig]| p.predict(&e, s);
    let res = evolve(&sp, &mut checker, &mut score, &o, |_, _| {}).unwrap();
    // Every subnet it returns fits, by the full evaluator.
    for c in &res.population {
        let r = evaluate(
            &from_subnet(&sp, &c.subnet).unwrap(),
            &EvalOptions::default(),
        )
        .unwrap();
        assert!(lim.device.fits(r.peak_sram_bytes, r.flash_bytes), "{c:?}");
        assert_eq!(r.peak_sram_bytes, c.footprint.peak_sram_bytes);
    }
    assert!(
        res.rejected > 0,
        "the limits must bind for this test to mean something"
    );
    assert!(
        res.history.windows(2).all(|w| w[1] >= w[0]),
        "elitism: best never drops"
    );
    // Random sampling of fitting subnets with the same number of predictor queries.
    let mut r = StdRng::seed_from_u64(77);
    let mut fitting = Vec::new();
    while fitting.len() < res.scored {
        let res_ = sp.resolutions[fitting.len() % 2];
        let s = sp.sample(&mut r, res_);
        let f = checker.footprint(&sp, &s).unwrap();
        if checker.fits(&f) {
            fitting.push(s);
        }
    }
    let random_best = p
        .predict(&e, &fitting)
        .unwrap()
        .into_iter()
        .fold(f64::MIN, f64::max);
    assert!(
        res.best.score > random_best,
        "evolution {} vs random {random_best}",
        res.best.score
    );
}

#[test]
fn limits_no_subnet_meets_name_the_smallest_footprint() {
    let sp = SearchSpace {
        resolutions: vec![128],
        ..SearchSpace::default()
    };
    let mut checker = Checker::new(limits(4, 1024, Scheduler::TinyEngine));
    let mut score = |s: &[SubnetConfig]| Ok(vec![0.0; s.len()]);
    let o = EvoOptions {
        population: 4,
        generations: 1,
        max_tries: 5,
        ..EvoOptions::default()
    };
    let e = evolve(&sp, &mut checker, &mut score, &o, |_, _| {})
        .err()
        .unwrap();
    // Typed: the smallest footprint in the space as numbers; the settings that could change
    // the device are named by their fields, and the CLI names them by their flags.
    assert!(
        matches!(&e, Error::NothingFits { smallest_sram_bytes, smallest_flash_bytes, .. }
            if *smallest_sram_bytes > 4 * 1024 && *smallest_flash_bytes > 0),
        "{e:?}"
    );
    let err = e.to_string();
    assert!(
        err.contains("no subnet fits")
            && err.contains("smallest footprint")
            && err.contains("KiB SRAM")
            && err.ends_with("(`device`, `sram`, `flash`)"),
        "{err}"
    );
    let cli = describe(&e);
    assert!(
        cli.starts_with("no subnet fits test (4 KiB SRAM, 1024 KiB flash) under tinyengine")
            && cli.ends_with("choose a larger device (--device, --sram, --flash)"),
        "{cli}"
    );
}

/// A library caller can tell which setting a search refused and why; the CLI prints the same
/// error with the field named by its flag.
#[test]
fn search_settings_refused_name_the_field() {
    // A rank that is neither the mean nor a percentile.
    let e = Rank::parse("p101").unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Rank, value: Some(v), .. } if v == "p101"),
        "{e:?}"
    );
    assert_eq!(
        describe(&e),
        "--rank p101: give `mean` or a percentile such as p50, p80"
    );

    // A population of one: out of the evolution's range.
    let e = EvoOptions {
        population: 1,
        ..EvoOptions::default()
    }
    .validate()
    .unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Population, value: Some(v), allowed: Allowed::Ints { lo: 2, .. } } if v == "1"),
        "{e:?}"
    );
    assert!(
        describe(&e).starts_with("--population: 1 is out of range"),
        "{e}"
    );

    // A latency limit on a device with no core, then with a core but no clock.
    let mut lim = limits(256, 1024, Scheduler::TinyEngine);
    lim.latency_ms = Some(10.0);
    let e = lim.check_latency().unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::LatencyMs, value: None, allowed: Allowed::Words(w) }
            if w.fields().eq([Field::Device])),
        "{e:?}"
    );
    assert_eq!(
        describe(&e),
        "--latency-ms: no core is known for device test: name a --device preset"
    );
    lim.device = Device::preset("stm32f412").unwrap();
    lim.device.clock_mhz = None;
    let e = lim.check_latency().unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::LatencyMs, value: None, allowed: Allowed::Words(w) }
            if w.fields().eq([Field::ClockMhz])),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "latency_ms: device stm32f412 has no clock: give `clock_mhz`"
    );
    assert_eq!(
        describe(&e),
        "--latency-ms: device stm32f412 has no clock: give --clock-mhz"
    );

    // A limit no subnet meets: the limit's value, and the clock as what would help.
    let sp = SearchSpace {
        resolutions: vec![128],
        ..SearchSpace::default()
    };
    lim.device = Device::preset("stm32f412").unwrap();
    lim.latency_ms = Some(0.001);
    let e = tinynas::search::evolution::check_any_fits(&sp, &mut Checker::new(lim)).unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::LatencyMs, value: Some(v), .. } if v == "0.001"),
        "{e:?}"
    );
    let cli = describe(&e);
    assert!(
        cli.starts_with("--latency-ms 0.001: no subnet is that fast on stm32f412")
            && cli.contains("a faster clock (--clock-mhz)"),
        "{cli}"
    );

    // A space grid that lists a resolution twice, or no width at all.
    let o = SpaceOptions {
        base: SearchSpace::default(),
        resolutions: vec![96, 96],
        widths: vec![0.5],
        samples: 4,
        seed: 0,
        limits: limits(256, 1024, Scheduler::TinyEngine),
        rank: Rank::Mean,
        min_fit: 0.05,
        threads: 1,
    };
    let e = o.validate().unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Resolutions, value: Some(v), .. } if v == "96"),
        "{e:?}"
    );
    assert_eq!(describe(&e), "--resolutions 96: listed twice");
    let e = SpaceOptions {
        resolutions: vec![96],
        widths: vec![],
        ..o
    }
    .validate()
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Setting {
                field: Field::Widths,
                value: None,
                ..
            }
        ),
        "{e:?}"
    );
}
