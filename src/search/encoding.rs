//! The predictor's encoding of a subnet (as OFA's): for every block slot a one-hot kernel size
//! and a one-hot expand ratio, all zeros for a slot its stage's depth skips; then a one-hot
//! resolution. And the two figures the predictor is judged by: Kendall's τ and RMSE.

use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::{Document, Error, Result};

pub fn encoding_len(space: &SearchSpace) -> usize {
    let slots = space.stages() * space.max_depth();
    slots * (space.kernel_choices.len() + space.expand_choices.len()) + space.resolutions.len()
}

pub fn encode(space: &SearchSpace, s: &SubnetConfig) -> Result<Vec<f32>> {
    space.check(s)?;
    let (nk, ne) = (space.kernel_choices.len(), space.expand_choices.len());
    let md = space.max_depth();
    let mut v = vec![0.0; encoding_len(space)];
    for st in 0..space.stages() {
        for d in 0..s.depth[st] {
            let slot = st * md + d;
            let base = slot * (nk + ne);
            let ki = space
                .kernel_choices
                .iter()
                .position(|&k| k == s.kernel_size[slot]);
            let ei = space
                .expand_choices
                .iter()
                .position(|&e| e == s.expand_ratio[slot]);
            v[base + ki.unwrap()] = 1.0;
            v[base + nk + ei.unwrap()] = 1.0;
        }
    }
    let ri = space
        .resolutions
        .iter()
        .position(|&r| r == s.resolution)
        .ok_or_else(|| {
            Error::entry(
                Document::Subnet,
                "resolution",
                s.resolution,
                format!("is not among the space's {:?}", space.resolutions),
            )
        })?;
    v[encoding_len(space) - space.resolutions.len() + ri] = 1.0;
    Ok(v)
}

/// `s` with the slots its depths skip set to the first choices (what `decode` gives back).
pub fn canonical(space: &SearchSpace, s: &SubnetConfig) -> SubnetConfig {
    let md = space.max_depth();
    let mut c = s.clone();
    for st in 0..space.stages() {
        for d in s.depth[st]..md {
            c.kernel_size[st * md + d] = space.kernel_choices[0];
            c.expand_ratio[st * md + d] = space.expand_choices[0];
        }
    }
    c
}

/// The subnet an encoding describes (inverse of `encode` up to `canonical`).
pub fn decode(space: &SearchSpace, v: &[f32]) -> Result<SubnetConfig> {
    if v.len() != encoding_len(space) {
        return Err(Error::Invalid(format!(
            "encoding of length {}, the space needs {}",
            v.len(),
            encoding_len(space)
        )));
    }
    let (nk, ne) = (space.kernel_choices.len(), space.expand_choices.len());
    let md = space.max_depth();
    let one = |x: &[f32]| -> Option<usize> {
        let hot: Vec<usize> = (0..x.len()).filter(|&i| x[i] == 1.0).collect();
        (hot.len() == 1 && x.iter().all(|&y| y == 0.0 || y == 1.0)).then(|| hot[0])
    };
    let bad = || Error::Invalid("not a valid subnet encoding".into());
    let slots = space.stages() * md;
    let mut s = canonical(
        space,
        &SubnetConfig {
            resolution: 0,
            kernel_size: vec![space.kernel_choices[0]; slots],
            expand_ratio: vec![space.expand_choices[0]; slots],
            depth: vec![0; space.stages()],
        },
    );
    for st in 0..space.stages() {
        let mut depth = 0;
        for d in 0..md {
            let slot = st * md + d;
            let base = slot * (nk + ne);
            let (kv, ev) = (&v[base..base + nk], &v[base + nk..base + nk + ne]);
            if kv.iter().chain(ev).all(|&x| x == 0.0) {
                continue;
            }
            if depth != d {
                return Err(bad()); // a block after a skipped one
            }
            s.kernel_size[slot] = space.kernel_choices[one(kv).ok_or_else(bad)?];
            s.expand_ratio[slot] = space.expand_choices[one(ev).ok_or_else(bad)?];
            depth += 1;
        }
        s.depth[st] = depth;
    }
    let rv = &v[v.len() - space.resolutions.len()..];
    s.resolution = space.resolutions[one(rv).ok_or_else(bad)?];
    space.check(&s)?;
    Ok(s)
}

/// Kendall's τ-b between two rankings (ties in either counted as neither concordant nor
/// discordant, with the τ-b normalisation).
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (mut conc, mut disc, mut ta, mut tb) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..n {
        for j in i + 1..n {
            let (x, y) = (a[i] - a[j], b[i] - b[j]);
            if x == 0.0 && y == 0.0 {
                continue;
            } else if x == 0.0 {
                ta += 1.0;
            } else if y == 0.0 {
                tb += 1.0;
            } else if (x > 0.0) == (y > 0.0) {
                conc += 1.0;
            } else {
                disc += 1.0;
            }
        }
    }
    let denom = ((conc + disc + ta) * (conc + disc + tb)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (conc - disc) / denom
    }
}

pub fn rmse(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / n).sqrt()
}
