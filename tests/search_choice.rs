//! The search's choices: measured evolution against random search under binding limits, the
//! baselines and the final choice.

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
fn the_final_choice_judges_each_row_on_the_images_that_did_not_choose_it() {
    use tinynas::pipeline::search::{ChoiceRow, final_choice, paired_shortfall};
    // 2,000 validation images: even-numbered ones the search's half, odd-numbered the choice
    // half. `split(a, b)`: right on the first `a` images of the search's half and the first `b`
    // of the choice half.
    let n = 2000;
    let split = |search: usize, choice: usize, picked: bool| {
        let answers = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    i / 2 < search
                } else {
                    i / 2 < choice
                }
            })
            .collect();
        ChoiceRow {
            answers,
            chosen_on_search_half: picked,
        }
    };
    let rows = vec![
        // The search: 95 % on the half that chose it, 84 % on the other.
        split(950, 840, true),
        // Most MACs, chosen by its footprint: 85.5 % over the whole split.
        split(870, 840, false),
        // Uniform: 83 % over the whole split.
        split(830, 830, false),
        // The best random subnet: 90 % where it was chosen, 84.5 % on the other half.
        split(900, 845, true),
    ];
    // The search's 95 % on its own half must not count: judged on the choice half it is
    // 84.0 %, below most MACs' 85.5 % on all 2,000 images and the random row's 84.5 %.
    let c = final_choice(&rows).unwrap();
    let est: Vec<(f64, usize)> = c
        .estimates
        .iter()
        .map(|&(p, k)| ((p * 1e4).round() / 1e4, k))
        .collect();
    assert_eq!(
        est,
        vec![(0.84, 1000), (0.855, 2000), (0.83, 2000), (0.845, 1000)]
    );
    assert_eq!(c.chosen, 1, "{c:?}");
    assert!(
        c.why.contains("85.50 % on 2000") && c.why.contains("footprint"),
        "{}",
        c.why
    );
    // Below the chosen on the choice half, paired: the search answers a subset of the chosen
    // one's images there (840 of 840: equal); uniform misses 10 of them.
    assert_eq!(c.below_chosen[0], (0.0, 0.0));
    let (s, se) = c.below_chosen[2];
    let var = (10.0 * (1.0 - 0.01f64).powi(2) + 990.0 * 0.01f64.powi(2)) / 999.0;
    assert!(
        (s - 0.01).abs() < 1e-12 && (se - (var / 1000.0).sqrt()).abs() < 1e-12,
        "{s} {se}"
    );
    assert_eq!(paired_shortfall(&[true, false], &[false, true]).0, 0.0);
    // Had the search been judged on every image (as if its half had not chosen it), its
    // 89.5 % would win: the rule is what stops the winner's curse.
    let mut cursed = rows.clone();
    cursed[0].chosen_on_search_half = false;
    assert_eq!(final_choice(&cursed).unwrap().chosen, 0);
    // Ties keep the earlier row (the search's own).
    let c = final_choice(&[split(900, 850, true), split(850, 850, false)]).unwrap();
    assert_eq!(c.chosen, 0);
    // Rows answering different images cannot be compared.
    let short = ChoiceRow {
        answers: vec![true; 9],
        chosen_on_search_half: false,
    };
    assert!(final_choice(&[split(1, 1, true), short]).is_err());
}
