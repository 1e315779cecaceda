//! How well a fitted predictor ranks subnets it was not fitted on: the held-out and
//! cross-validated figures, their checks, and the τ a search trusts it by.

use serde::{Deserialize, Serialize};

/// How well the predictor ranks subnets it was not fitted on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FitReport {
    pub train_pairs: usize,
    pub heldout_pairs: usize,
    pub train_rmse: f64,
    pub heldout_rmse: f64,
    pub heldout_kendall_tau: f64,
    /// Kendall's τ between the two validation halves of the held-out subnets: what a perfect
    /// predictor could reach against measurements this noisy (absent without halves).
    #[serde(default)]
    pub heldout_noise_ceiling: Option<f64>,
    /// Adam steps of the weights kept (early stopping).
    #[serde(default)]
    pub steps: usize,
    /// k-fold cross-validation over every pair (out-of-fold predictions pooled).
    #[serde(default)]
    pub kfold: Option<CrossValidation>,
    /// Why there is no k-fold cross-validation, where there is none (a setting named as a
    /// field, `` `folds` ``).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kfold_skipped: Option<String>,
    /// Lines of the pairs file that measured a subnet already measured on another line (merged
    /// into it by their mean before the fit: a repeated subnet is one subnet, not more evidence).
    #[serde(default)]
    pub duplicates_merged: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrossValidation {
    pub folds: usize,
    pub rmse: f64,
    pub kendall_tau: f64,
    /// τ between the validation halves of all the pairs.
    pub noise_ceiling: Option<f64>,
}

/// The τ that says how far to trust a predictor, with its noise ceiling, the subnets it was
/// measured on and which figure it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trust {
    pub tau: f64,
    pub ceiling: Option<f64>,
    pub subnets: usize,
    /// "cross-validated" or "held-out".
    pub kind: &'static str,
}

impl FitReport {
    /// Every figure one a fit can produce: τ and noise ceilings in [−1, 1], RMSEs finite and
    /// not negative, at least 2 folds; else what is not.
    pub fn check(&self) -> std::result::Result<(), String> {
        let tau = |name: &str, v: f64| {
            if v.is_finite() && (-1.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} {v} is no Kendall τ (one lies in [-1, 1])"))
            }
        };
        let rmse = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{name} {v} is no RMSE (one is finite and at least 0)"
                ))
            }
        };
        rmse("train_rmse", self.train_rmse)?;
        rmse("heldout_rmse", self.heldout_rmse)?;
        tau("heldout_kendall_tau", self.heldout_kendall_tau)?;
        if let Some(c) = self.heldout_noise_ceiling {
            tau("heldout_noise_ceiling", c)?;
        }
        if self.train_pairs == 0 {
            return Err("train_pairs 0: a predictor is fit on at least one subnet".into());
        }
        if let Some(k) = &self.kfold {
            rmse("kfold.rmse", k.rmse)?;
            tau("kfold.kendall_tau", k.kendall_tau)?;
            if let Some(c) = k.noise_ceiling {
                tau("kfold.noise_ceiling", c)?;
            }
            if k.folds < 2 {
                return Err(format!(
                    "kfold.folds {}: a cross-validation has at least 2 folds",
                    k.folds
                ));
            }
        }
        Ok(())
    }

    /// The pooled k-fold figures where there are any (every pair held out once: steadier than
    /// one held-out share), else the held-out ones.
    pub fn trust(&self) -> Trust {
        match &self.kfold {
            Some(k) => Trust {
                tau: k.kendall_tau,
                ceiling: k.noise_ceiling,
                subnets: self.train_pairs + self.heldout_pairs,
                kind: "cross-validated",
            },
            None => Trust {
                tau: self.heldout_kendall_tau,
                ceiling: self.heldout_noise_ceiling,
                subnets: self.heldout_pairs,
                kind: "held-out",
            },
        }
    }
}
