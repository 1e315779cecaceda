//! The cases: each config through the entry point a command uses; accepted ones evaluated end
//! to end under every scheduler and the search's fast path.

use super::mutate::refused;
use super::{CaseResult, Outcome};
use rand::{SeedableRng, rngs::StdRng};
use tinynas::arch::net::Network;
use tinynas::arch::subnet::from_subnet;
use tinynas::arch::{SearchSpace, SubnetConfig};
use tinynas::io::parse_json;
use tinynas::mcu::fast::Evaluator;
use tinynas::mcu::{EvalOptions, Scheduler, evaluate};
use tinynas::train::config::RunConfig;
use tinynas::train::schedule::Schedule;

// ---- the cases ----

/// Accepted networks run end to end: every scheduler, and the search's fast path agreeing with
/// the full evaluation.
pub fn evaluate_all(net: &Network) -> Result<(), String> {
    let mut fast = Evaluator::default();
    for s in Scheduler::ALL {
        let r = evaluate(
            net,
            &EvalOptions {
                scheduler: s,
                ..EvalOptions::default()
            },
        )
        .map_err(|e| format!("accepted, then {s:?} failed: {e}"))?;
        if r.peak_sram_bytes == 0 || r.macs == 0 {
            return Err(format!(
                "{s:?}: peak {} B, {} MACs",
                r.peak_sram_bytes, r.macs
            ));
        }
        if let Some(f) = fast.summary(net, s, true)
            && (f.peak_sram_bytes, f.macs) != (r.peak_sram_bytes, r.macs)
        {
            return Err(format!(
                "{s:?}: fast path {:?} vs full evaluation {:?}",
                (f.peak_sram_bytes, f.macs),
                (r.peak_sram_bytes, r.macs)
            ));
        }
    }
    Ok(())
}

// Fields whose error can surface at a neighbour: a channel count breaks the next block's chain;
// a size limit is crossed at a later layer; a resolution fails at a stride.
pub const NET_NEIGHBOURS: [&str; 6] = [
    "in_channels",
    "MACs",
    "bytes",
    "stride",
    "resolution",
    "kernel_size",
];

pub fn network_case(text: &str, field: &[String]) -> CaseResult {
    match Network::from_json(text) {
        Ok(net) => evaluate_all(&net).map(|_| Outcome::Accepted),
        Err(e) => refused(&e, field, &NET_NEIGHBOURS),
    }
}

/// Fields of a space that its resolution check names when a network of the space fails.
pub const SPACE_NEIGHBOURS: [&str; 3] = ["resolutions", "stage_strides", "base_widths"];

pub fn space_case(text: &str, field: &[String]) -> CaseResult {
    let space = match parse_json::<SearchSpace>(text, "search space").and_then(|s| {
        s.validate()?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => return refused(&e, field, &SPACE_NEIGHBOURS),
    };
    let mut rng = StdRng::seed_from_u64(text.len() as u64);
    for &r in &space.resolutions {
        for s in [
            space.largest(r),
            space.smallest(r),
            space.sample(&mut rng, r),
        ] {
            let net = from_subnet(&space, &s).map_err(|e| format!("accepted, then {e}"))?;
            evaluate_all(&net)?;
        }
    }
    Ok(Outcome::Accepted)
}

pub fn subnet_case(space: &SearchSpace, text: &str, field: &[String]) -> CaseResult {
    let parsed = parse_json::<SubnetConfig>(text, "subnet").and_then(|s| {
        space.check(&s)?;
        Ok(s)
    });
    match parsed {
        Ok(s) => {
            let net = from_subnet(space, &s).map_err(|e| format!("accepted, then {e}"))?;
            evaluate_all(&net).map(|_| Outcome::Accepted)
        }
        // Lists of the wrong length are reported as the subnet's `lengths`.
        Err(e) => refused(&e, field, &["lengths", "resolution"]),
    }
}

pub fn schedule_case(space: &SearchSpace, text: &str, field: &[String]) -> CaseResult {
    let parsed = parse_json::<Schedule>(text, "schedule").and_then(|s| {
        s.validate(space)?;
        Ok(s)
    });
    match parsed {
        Ok(s) => {
            // Accepted: every phase's space is valid and every step has a position.
            for p in &s.phases {
                p.space(space)
                    .validate()
                    .map_err(|e| format!("phase {} accepted, then {e}", p.name))?;
            }
            let spe = 937;
            let total = s.total_steps(spe);
            for step in [0, total / 2, total.saturating_sub(1)] {
                if s.position(step, spe).is_none() {
                    return Err(format!("step {step} of {total} has no position"));
                }
            }
            if s.position(total, spe).is_some() {
                return Err(format!("step {total} is past the end but has a position"));
            }
            Ok(Outcome::Accepted)
        }
        Err(e) => refused(&e, field, &["phases", "epochs"]),
    }
}

pub fn run_case(text: &str, field: &[String]) -> CaseResult {
    let parsed = parse_json::<RunConfig>(text, "run settings").and_then(|c| {
        c.validate()?;
        Ok(c)
    });
    match parsed {
        Ok(cfg) => {
            // The settings `train` accepts give networks that evaluate end to end.
            let r = *cfg.space.resolutions.iter().max().unwrap();
            let net = from_subnet(&cfg.space, &cfg.space.largest(r))
                .map_err(|e| format!("accepted, then {e}"))?;
            evaluate_all(&net).map(|_| Outcome::Accepted)
        }
        // The run settings' flags are named as the command line spells them.
        Err(e) => {
            let flags: Vec<String> = field
                .iter()
                .map(|f| format!("--{}", f.replace('_', "-")))
                .collect();
            let mut extra = vec!["resolutions", "stage_strides", "base_widths", "phases"];
            extra.extend(flags.iter().map(|f| f.as_str()));
            refused(&e, field, &extra)
        }
    }
}
