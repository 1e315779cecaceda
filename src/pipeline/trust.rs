//! Whether a search may trust the run's predictor: fitted for this space, vouched for by the
//! measured pairs beside it, its Kendall τ high enough and measured on enough subnets.

use crate::arch::SearchSpace;
use crate::error::Missing;
use crate::search::fit_report::Trust;
use crate::search::predictor::Predictor;
use crate::{Error, Result};
use std::path::Path;

/// The least τ for a predictor to be trusted (issue 19: below it, the search measures).
pub const MIN_TAU: f64 = 0.5;

/// The fewest subnets a predictor's τ must be measured on to be trusted.
pub const MIN_TAU_SUBNETS: usize = 10;

/// The run's predictor if it is there and trusted; else why not (none there:
/// [`Error::Missing`]). An error: a predictor that is there but broken or stale.
pub fn trusted_predictor(
    run_dir: &Path,
    space: &SearchSpace,
    min_tau: f64,
) -> Result<std::result::Result<Predictor, Error>> {
    let p = run_dir.join("predictor.json");
    if !p.is_file() {
        return Ok(Err(Error::missing(
            run_dir,
            Missing::Predictor,
            format!("{} has no predictor.json", run_dir.display()),
        )));
    }
    let p = Predictor::load(&p)?;
    if &p.space != space {
        return Err(Error::missing(
            run_dir,
            Missing::Refit,
            "predictor.json was fitted for another search space",
        ));
    }
    // A predictor the pairs beside it no longer vouch for is refused, not trusted.
    super::evidence::check_evidence(run_dir, space, &p)?;
    let Some(r) = &p.report else {
        return Ok(Err(Error::Invalid(
            "predictor.json has no fit report to trust".into(),
        )));
    };
    let Trust {
        tau,
        ceiling,
        subnets: n,
        kind,
    } = r.trust();
    if n < MIN_TAU_SUBNETS {
        return Ok(Err(Error::Invalid(format!(
            "the predictor's τ was measured on {n} subnet{}, too few to trust (at least {MIN_TAU_SUBNETS}: collect more)",
            if n == 1 { "" } else { "s" }
        ))));
    }
    if tau < min_tau {
        return Ok(Err(Error::Invalid(format!(
            "the predictor's {kind} Kendall τ is {tau:.3}{}, below {min_tau}: it cannot be trusted to rank subnets",
            ceiling.map_or(String::new(), |c| format!(
                " (noise ceiling of the validation split {c:.3})"
            ))
        ))));
    }
    Ok(Ok(p))
}
