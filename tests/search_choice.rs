//! The search's choices: measured evolution against random search under binding limits, the
//! baselines and the final one-standard-error rule.

mod common;
use common::search::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tinynas::mcu::net::from_subnet;
use tinynas::mcu::{EvalOptions, Scheduler, evaluate};
use tinynas::search::baselines::{most_macs, random_fitting, uniform};
use tinynas::search::evolution::{EvoOptions, evolve};
use tinynas::search::predictor::canonical;
use tinynas::search::{Checker, Limits};
use tinynas::supernet::{SearchSpace, SubnetConfig};

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
