//! TinyNAS search: space ranking, the predictor's encoding and fit, evolution under the limits.

mod common;
use common::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tinynas::mcu::net::from_subnet;
use tinynas::mcu::{Device, EvalOptions, Scheduler, evaluate};
use tinynas::search::baselines::{most_macs, random_fitting, uniform};
use tinynas::search::evolution::{EvoOptions, evolve};
use tinynas::search::predictor::{
    FitOptions, Predictor, Sample, canonical, decode, encode, encoding_len, kendall_tau,
};
use tinynas::search::space::{Rank, SpaceOptions, rank_spaces};
use tinynas::search::{Checker, Limits};
use tinynas::supernet::{SearchSpace, SubnetConfig};

fn limits(sram_kib: u64, flash_kib: u64, s: Scheduler) -> Limits {
    Limits {
        device: Device {
            name: "test".into(),
            sram_bytes: sram_kib * 1024,
            flash_bytes: flash_kib * 1024,
        },
        scheduler: s,
    }
}

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

/// A fixed pseudo-random number in [-1, 1] for a network (the same for its canonical twins).
fn noise(sp: &SearchSpace, s: &SubnetConfig, salt: u64) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical(sp, s).hash(&mut h);
    salt.hash(&mut h);
    (h.finish() % 20001) as f64 / 10000.0 - 1.0
}

/// A smooth synthetic "accuracy": more kernel, expand and depth help, with diminishing returns.
fn synthetic_accuracy(sp: &SearchSpace, s: &SubnetConfig) -> f64 {
    let md = sp.max_depth();
    let mut a = 0.0;
    for st in 0..sp.stages() {
        for d in 0..s.depth[st] {
            let slot = st * md + d;
            a += (s.kernel_size[slot] as f64).ln() * 0.01
                + (s.expand_ratio[slot] as f64).ln() * 0.015;
        }
    }
    0.5 + a * 0.3 + s.resolution as f64 * 1e-4
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
    assert_eq!(rep.trust().0, k.kendall_tau);
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
    let err = evolve(&sp, &mut checker, &mut score, &o, |_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no subnet fits")
            && err.contains("smallest footprint")
            && err.contains("KiB SRAM"),
        "{err}"
    );
}

fn flash_of(sp: &SearchSpace, s: &SubnetConfig) -> u64 {
    evaluate(&from_subnet(sp, s).unwrap(), &EvalOptions::default())
        .unwrap()
        .flash_bytes
}

/// A space at two resolutions and a flash budget a third of the way from its smallest to its
/// largest subnet: most of the space does not fit.
fn binding_space() -> (SearchSpace, Limits) {
    let sp = SearchSpace {
        resolutions: vec![96, 128],
        width_mult: 0.5,
        ..SearchSpace::default()
    };
    let (lo, hi) = (
        flash_of(&sp, &sp.smallest(96)),
        flash_of(&sp, &sp.largest(128)),
    );
    let lim = limits(256, (lo + (hi - lo) / 3) / 1024, Scheduler::TinyEngine);
    (sp, lim)
}

#[test]
fn measured_evolution_beats_random_search_at_equal_budget_under_binding_limits() {
    // A noisy "measurement" of the synthetic accuracy, as validation top-1 is; the flash budget
    // a third of the way from the smallest to the largest subnet rejects most of the space.
    let (sp, lim) = binding_space();
    let measured = |s: &SubnetConfig| synthetic_accuracy(&sp, s) + 0.003 * noise(&sp, s, 7);
    let mut seen = std::collections::HashSet::new();
    let mut twice = 0;
    let mut score = |subs: &[SubnetConfig]| {
        for s in subs {
            twice += (!seen.insert(canonical(&sp, s))) as usize;
        }
        Ok(subs.iter().map(measured).collect())
    };
    let mut checker = Checker::new(lim.clone());
    let o = EvoOptions {
        population: 20,
        generations: 1000,
        max_scored: Some(200),
        seed: 3,
        ..EvoOptions::default()
    };
    let res = evolve(&sp, &mut checker, &mut score, &o, |_, _| {}).unwrap();
    assert_eq!(twice, 0, "no network is measured twice");
    assert!(
        (200..200 + 20).contains(&res.scored),
        "budget: {}",
        res.scored
    );
    // The limits bind: most random subnets of the space do not fit.
    let mut r = StdRng::seed_from_u64(5);
    let misfits = (0..400)
        .filter(|i| {
            let s = sp.sample(&mut r, sp.resolutions[i % 2]);
            let f = checker.footprint(&sp, &s).unwrap();
            !checker.fits(&f)
        })
        .count();
    assert!(misfits > 120, "{misfits} of 400 random subnets do not fit");
    assert!(res.rejected > 0);
    for c in &res.population {
        assert!(checker.fits(&c.footprint), "{c:?}");
    }
    // Random search: as many fitting subnets, the best measured one kept; compared on the true
    // (noise-free) accuracy of what each picks.
    let mut wins = 0;
    for seed in 0..5 {
        let rand = random_fitting(&sp, &mut checker, res.scored, seed, 1000).unwrap();
        assert_eq!(rand.len(), res.scored);
        let pick = rand
            .iter()
            .max_by(|a, b| measured(&a.subnet).total_cmp(&measured(&b.subnet)))
            .unwrap();
        wins += (synthetic_accuracy(&sp, &res.best.subnet) > synthetic_accuracy(&sp, &pick.subnet))
            as usize;
    }
    assert_eq!(
        wins, 5,
        "evolution beats every random search of the same budget"
    );
}

#[test]
fn baselines_obey_the_limits_and_order_by_macs() {
    let (sp, lim) = binding_space();
    let mut checker = Checker::new(lim.clone());
    let full = |s: &SubnetConfig| {
        evaluate(&from_subnet(&sp, s).unwrap(), &EvalOptions::default()).unwrap()
    };
    let u = uniform(&sp, &mut checker).unwrap().unwrap();
    // Uniform: one choice everywhere, fits, and no other uniform subnet that fits has more MACs.
    assert!(
        u.subnet
            .kernel_size
            .iter()
            .all(|&k| k == u.subnet.kernel_size[0])
    );
    assert!(
        u.subnet
            .expand_ratio
            .iter()
            .all(|&x| x == u.subnet.expand_ratio[0])
    );
    assert!(u.subnet.depth.iter().all(|&d| d == u.subnet.depth[0]));
    let r = full(&u.subnet);
    assert!(lim.device.fits(r.peak_sram_bytes, r.flash_bytes));
    assert!(
        !lim.device.fits(
            full(&sp.largest(128)).peak_sram_bytes,
            full(&sp.largest(128)).flash_bytes
        ),
        "the largest does not fit"
    );
    let m = most_macs(&sp, &mut checker, 1).unwrap();
    let r = full(&m.subnet);
    assert!(lim.device.fits(r.peak_sram_bytes, r.flash_bytes));
    assert_eq!(r.macs, m.footprint.macs);
    assert!(m.footprint.macs >= u.footprint.macs);
    let rand = random_fitting(&sp, &mut checker, 50, 2, 1000).unwrap();
    assert_eq!(rand.len(), 50);
    let mut distinct = std::collections::HashSet::new();
    for c in &rand {
        let r = full(&c.subnet);
        assert!(lim.device.fits(r.peak_sram_bytes, r.flash_bytes));
        assert!(
            c.footprint.macs <= m.footprint.macs,
            "most MACs is the most"
        );
        assert!(distinct.insert(canonical(&sp, &c.subnet)));
    }
    // Nothing fits: no uniform subnet, and most_macs names the smallest footprint.
    let mut none = Checker::new(limits(1, 1, Scheduler::TinyEngine));
    assert!(uniform(&sp, &mut none).unwrap().is_none());
    assert!(
        most_macs(&sp, &mut none, 1)
            .unwrap_err()
            .to_string()
            .contains("no subnet fits")
    );
    assert!(random_fitting(&sp, &mut none, 5, 1, 10).unwrap().is_empty());
}

#[test]
fn the_final_choice_takes_the_most_macs_within_one_standard_error() {
    use tinynas::pipeline::search::one_se_choice;
    // 1,000 images: the SE at 85 % is 1.13 points.
    let rows = [
        (0.851, 2_000_000),
        (0.850, 3_500_000),
        (0.860, 1_500_000),
        (0.835, 4_000_000),
    ];
    let (i, why) = one_se_choice(&rows, 1000);
    assert_eq!(
        i, 1,
        "85.0 % is within 1.1 points of 86.0 %, and has the most MACs of those"
    );
    assert!(why.contains("one standard error"), "{why}");
    // With 100,000 images the SE is 0.11 points: the best is taken.
    let (i, why) = one_se_choice(&rows, 100_000);
    assert_eq!((i, why.as_str()), (2, "the best on the choice half"));
    // Ties keep the earlier row (the search's own).
    assert_eq!(one_se_choice(&[(0.8, 5), (0.8, 5)], 1000).0, 0);
}
