//! The final choice among a search's best subnet and the baselines beside it, from validation
//! measurements that cannot tell them apart on their own.
//!
//! The validation split is measured in two halves: the search and the random baseline chose
//! their subnets on the even-numbered images (the search's half), so only the odd-numbered ones
//! (the choice half) measure those fairly — the best of many noisy measurements, judged on the
//! same images, wins by its noise. The most-MACs and uniform subnets were chosen by their
//! footprint alone, so the whole split measures them.
//!
//! Those measurements are then read the empirical-Bayes way: every row's accuracy is what its
//! MACs predict — a line fitted through random subnets measured the same way — plus its own
//! measured departure from that line, shrunk by how much of such departures is real. Both parts
//! are measured, not assumed: the real spread is the covariance of the random subnets' departures
//! on the two halves (noise on disjoint images does not covary), the noise is half the variance
//! of their difference (the images' common difficulty cancels in it, as it does between subnets
//! of one supernet). Where MACs explain accuracy and the rest is noise (the Fashion-MNIST run:
//! 0.29 points of real spread beyond MACs against 0.40 of noise on a half), the choice leans on
//! MACs; where subnets truly differ (the demo's short training: 1.1 points against 0.8), on the
//! measurements.

use crate::{Error, Result};

/// The fewest random subnets, measured on both halves, the prior is fitted on.
pub const MIN_PRIOR_SUBNETS: usize = 10;

/// What a random subnet's MACs predict of its top-1 on each half, and how much of the rest is
/// real.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prior {
    /// top-1 on half h ≈ intercept[h] + slope[h] · ln(MACs).
    pub intercept: [f64; 2],
    pub slope: [f64; 2],
    /// Variance of the subnets' real departures from the line (the covariance of their
    /// departures on the two halves, at least 0).
    pub signal_var: f64,
    /// Variance of one half's measurement noise relative to other subnets (half the variance
    /// of the difference between a subnet's two departures).
    pub half_noise_var: f64,
    /// Random subnets it was fitted on.
    pub subnets: usize,
}

impl Prior {
    /// Fitted on random subnets' (MACs, top-1 on each half); None with fewer than
    /// `MIN_PRIOR_SUBNETS`.
    pub fn fit(cloud: &[(u64, [f64; 2])]) -> Option<Prior> {
        let n = cloud.len();
        if n < MIN_PRIOR_SUBNETS {
            return None;
        }
        let x: Vec<f64> = cloud.iter().map(|c| (c.0.max(1) as f64).ln()).collect();
        let mx = x.iter().sum::<f64>() / n as f64;
        let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
        let mut intercept = [0.0; 2];
        let mut slope = [0.0; 2];
        let mut resid = [vec![0.0; n], vec![0.0; n]];
        for h in 0..2 {
            let y: Vec<f64> = cloud.iter().map(|c| c.1[h]).collect();
            let my = y.iter().sum::<f64>() / n as f64;
            // All subnets of one size: the line is flat at their mean.
            slope[h] = if sxx > 0.0 {
                x.iter()
                    .zip(&y)
                    .map(|(a, b)| (a - mx) * (b - my))
                    .sum::<f64>()
                    / sxx
            } else {
                0.0
            };
            intercept[h] = my - slope[h] * mx;
            for i in 0..n {
                resid[h][i] = y[i] - intercept[h] - slope[h] * x[i];
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
        let (m0, m1) = (mean(&resid[0]), mean(&resid[1]));
        let cov = (0..n)
            .map(|i| (resid[0][i] - m0) * (resid[1][i] - m1))
            .sum::<f64>()
            / (n - 1) as f64;
        let d: Vec<f64> = (0..n).map(|i| resid[0][i] - resid[1][i]).collect();
        let md = mean(&d);
        let var_d = d.iter().map(|v| (v - md).powi(2)).sum::<f64>() / (n - 1) as f64;
        Some(Prior {
            intercept,
            slope,
            signal_var: cov.max(0.0),
            half_noise_var: var_d / 2.0,
            subnets: n,
        })
    }

    /// The predicted top-1 on half `h` of a subnet with `macs`.
    pub fn at(&self, macs: u64, h: usize) -> f64 {
        self.intercept[h] + self.slope[h] * (macs.max(1) as f64).ln()
    }

    /// The predicted top-1 on the whole split.
    pub fn whole(&self, macs: u64) -> f64 {
        (self.at(macs, 0) + self.at(macs, 1)) / 2.0
    }

    /// How much of a departure measured with noise variance `noise` is believed.
    pub fn weight(&self, noise: f64) -> f64 {
        let t = self.signal_var + noise;
        if t > 0.0 { self.signal_var / t } else { 1.0 }
    }
}

/// A row as the final choice sees it: its answers on every validation image (in the split's
/// order: the even-numbered images are the search's half, the odd-numbered the choice half),
/// whether the search's half chose it (the search's best and the best random subnet were; the
/// most-MACs and uniform subnets were chosen by their footprint alone) and its MACs.
#[derive(Clone, Debug)]
pub struct ChoiceRow {
    pub answers: Vec<bool>,
    pub chosen_on_search_half: bool,
    pub macs: u64,
}

impl ChoiceRow {
    /// Right answers and images among every `step`-th answer from `skip`.
    fn count(&self, skip: usize, step: usize) -> (usize, usize) {
        let part = self.answers.iter().skip(skip).step_by(step);
        part.fold((0, 0), |(r, n), &a| (r + a as usize, n + 1))
    }

    /// Top-1 on each half.
    pub fn halves(&self) -> [f64; 2] {
        [0, 1].map(|h| {
            let (right, n) = self.count(h, 2);
            right as f64 / n.max(1) as f64
        })
    }

    /// Top-1 on the images that did not choose it, and how many those are.
    pub fn estimate(&self) -> (f64, usize) {
        let (right, n) = if self.chosen_on_search_half {
            self.count(1, 2)
        } else {
            self.count(0, 1)
        };
        (right as f64 / n.max(1) as f64, n)
    }

    /// The noise variance of its fair measurement, relative to other subnets: one half's, or
    /// half of it over the whole split.
    fn noise_var(&self, p: &Prior) -> f64 {
        if self.chosen_on_search_half {
            p.half_noise_var
        } else {
            p.half_noise_var / 2.0
        }
    }

    /// Answers on the choice half (the odd-numbered images).
    pub fn choice_half(&self) -> Vec<bool> {
        self.answers.iter().skip(1).step_by(2).copied().collect()
    }

    /// Its accuracy on the whole split's scale as the prior and its fair measurement give it
    /// (without a prior: its top-1 on the choice half, where every row answered the same
    /// images).
    pub fn posterior(&self, prior: Option<&Prior>) -> f64 {
        let h = self.halves();
        let Some(p) = prior else { return h[1] };
        let line = p.whole(self.macs);
        // Its departure from the line of the images it was measured on.
        let departure = if self.chosen_on_search_half {
            h[1] - p.at(self.macs, 1)
        } else {
            (h[0] + h[1]) / 2.0 - line
        };
        line + p.weight(self.noise_var(p)) * departure
    }
}

/// The final choice among the rows.
#[derive(Clone, Debug)]
pub struct FinalChoice {
    pub chosen: usize,
    /// Each row's top-1 on the validation images that did not choose it, and their number.
    pub estimates: Vec<(f64, usize)>,
    /// Each row's accuracy as the rule reads the measurements (see `ChoiceRow::posterior`).
    pub posterior: Vec<f64>,
    /// Each row's shortfall to the chosen one on the choice half, and its paired standard
    /// error: how sure the choice is.
    pub below_chosen: Vec<(f64, f64)>,
    /// How the rule picked `chosen`.
    pub why: String,
}

/// The row with the highest posterior accuracy (ties: the earlier row, the search's own).
pub fn final_choice(rows: &[ChoiceRow], prior: Option<&Prior>) -> Result<FinalChoice> {
    let n = rows.first().map_or(0, |r| r.answers.len());
    if n < 2 || rows.iter().any(|r| r.answers.len() != n) {
        return Err(Error::Invalid(format!(
            "the final choice needs every row's answers on the same validation images, at least 2 (got {:?})",
            rows.iter().map(|r| r.answers.len()).collect::<Vec<_>>()
        )));
    }
    let estimates: Vec<(f64, usize)> = rows.iter().map(ChoiceRow::estimate).collect();
    let posterior: Vec<f64> = rows.iter().map(|r| r.posterior(prior)).collect();
    let chosen = (0..rows.len())
        .max_by(|&a, &b| posterior[a].total_cmp(&posterior[b]).then(b.cmp(&a)))
        .expect("at least the search's row");
    let half = rows[chosen].choice_half();
    let below_chosen = rows
        .iter()
        .map(|r| paired_shortfall(&half, &r.choice_half()))
        .collect();
    let (top1, images) = estimates[chosen];
    let why = match prior {
        Some(p) => format!(
            "the highest accuracy the validation split gives: {:.2} % on the {images} images that did not choose it, read against what its MACs predict ({:.2} %) with {:.0} % of its departure believed (real spread beyond MACs {:.2} points, noise {:.2} a half, from {} random subnets)",
            top1 * 100.0,
            p.whole(rows[chosen].macs) * 100.0,
            100.0 * p.weight(rows[chosen].noise_var(p)),
            p.signal_var.sqrt() * 100.0,
            p.half_noise_var.sqrt() * 100.0,
            p.subnets
        ),
        None => format!(
            "the best on the choice half, which chose none of the rows ({:.2} %; fewer than {MIN_PRIOR_SUBNETS} random subnets measured to read it against their MACs)",
            posterior[chosen] * 100.0
        ),
    };
    Ok(FinalChoice {
        chosen,
        estimates,
        posterior,
        below_chosen,
        why,
    })
}

/// How far `b`'s accuracy falls short of `a`'s on the same images, and the standard error of
/// that difference from the per-image differences (paired: the images both answer alike
/// cancel out).
pub fn paired_shortfall(a: &[bool], b: &[bool]) -> (f64, f64) {
    let n = a.len().min(b.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| x as i32 as f64 - y as i32 as f64)
        .collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    (mean, (var / n as f64).sqrt())
}
