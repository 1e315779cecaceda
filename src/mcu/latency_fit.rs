//! The least-squares fit behind `latency.json`: per op class, the coefficients of the features
//! `latency::used_features` names, from per-layer instruction counts. Each layer's residual is
//! weighted by 1 / its network's count, so that every network's relative error counts alike
//! (the target is the whole-network prediction's percentage error).

use super::latency::{Coefficients, Features, used_features};
use std::collections::BTreeMap;

/// One profiled layer.
#[derive(Clone, Debug)]
pub struct Sample {
    pub class: String,
    pub features: Features,
    pub instructions: f64,
    /// Its network's total instructions.
    pub network_instructions: f64,
}

fn row(f: &Features) -> [f64; 6] {
    [
        f.macs,
        f.outputs,
        f.inputs,
        f.channels,
        f.odd_pixel_macs,
        1.0,
    ]
}

/// Coefficients per class of `samples`.
pub fn fit(samples: &[Sample]) -> BTreeMap<String, Coefficients> {
    let mut by_class: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_class.entry(&s.class).or_default().push(s);
    }
    by_class
        .into_iter()
        .map(|(class, rows)| (class.to_string(), fit_class(class, &rows)))
        .collect()
}

fn fit_class(class: &str, rows: &[&Sample]) -> Coefficients {
    let used: Vec<usize> = used_features(class)
        .iter()
        .enumerate()
        .filter(|(_, u)| **u)
        .map(|(i, _)| i)
        .collect();
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|s| used.iter().map(|&j| row(&s.features)[j]).collect())
        .collect();
    let y: Vec<f64> = rows.iter().map(|s| s.instructions).collect();
    let w: Vec<f64> = rows
        .iter()
        .map(|s| 1.0 / s.network_instructions.max(1.0))
        .collect();
    let beta = weighted_least_squares(&x, &y, &w);
    let mut full = [0.0; 6];
    for (k, &j) in used.iter().enumerate() {
        full[j] = beta[k];
    }
    Coefficients {
        per_mac: full[0],
        per_output: full[1],
        per_input: full[2],
        per_channel: full[3],
        per_odd_pixel_mac: full[4],
        constant: full[5],
    }
}

/// argmin_β Σ_i (w_i (x_i·β − y_i))², by the normal equations on columns scaled to unit norm;
/// a column the data cannot tell apart from the others (too few distinct layers) gets 0.
pub fn weighted_least_squares(x: &[Vec<f64>], y: &[f64], w: &[f64]) -> Vec<f64> {
    let p = x.first().map_or(0, |r| r.len());
    let mut scale = vec![0.0f64; p];
    for (r, &wi) in x.iter().zip(w) {
        for j in 0..p {
            scale[j] += (wi * r[j]).powi(2);
        }
    }
    let scale: Vec<f64> = scale
        .iter()
        .map(|s| if *s > 0.0 { 1.0 / s.sqrt() } else { 0.0 })
        .collect();
    // A = Xᵀ W² X, b = Xᵀ W² y on the scaled columns.
    let mut a = vec![vec![0.0; p]; p];
    let mut b = vec![0.0; p];
    for ((r, &yi), &wi) in x.iter().zip(y).zip(w) {
        let w2 = wi * wi;
        for i in 0..p {
            let xi = r[i] * scale[i];
            b[i] += w2 * xi * yi;
            for j in 0..p {
                a[i][j] += w2 * xi * r[j] * scale[j];
            }
        }
    }
    let z = solve(a, b);
    z.iter().zip(&scale).map(|(v, s)| v * s).collect()
}

/// Gaussian elimination with partial pivoting; a pivot near zero (a column dependent on the
/// others) leaves its unknown at 0.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    let mut skip = vec![false; n];
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        if a[piv][col].abs() < 1e-10 {
            skip[col] = true;
            continue;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in 0..n {
            if r != col {
                let f = a[r][col] / a[col][col];
                if f != 0.0 {
                    let pivot_row = a[col].clone();
                    for (x, p) in a[r][col..].iter_mut().zip(&pivot_row[col..]) {
                        *x -= f * p;
                    }
                    b[r] -= f * b[col];
                }
            }
        }
    }
    (0..n)
        .map(|i| {
            if skip[i] || a[i][i].abs() < 1e-10 {
                0.0
            } else {
                b[i] / a[i][i]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_coefficients() {
        // y = 2·x0 + 5·x1 + 100, weights uneven.
        let x: Vec<Vec<f64>> = (0..20)
            .map(|i| vec![(i * 37 % 11) as f64 * 1000.0, (i % 7) as f64, 1.0])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] + 5.0 * r[1] + 100.0).collect();
        let w: Vec<f64> = (0..20).map(|i| 1.0 / (1 + i) as f64).collect();
        let b = weighted_least_squares(&x, &y, &w);
        assert!(
            (b[0] - 2.0).abs() < 1e-6 && (b[1] - 5.0).abs() < 1e-6,
            "{b:?}"
        );
        assert!((b[2] - 100.0).abs() < 1e-4, "{b:?}");
    }

    #[test]
    fn a_dependent_column_gets_zero_and_the_fit_stays_exact() {
        let x: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![i as f64, 2.0 * i as f64, 1.0])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 3.0 * r[0] + 1.0).collect();
        let b = weighted_least_squares(&x, &y, &[1.0; 10]);
        for (r, yi) in x.iter().zip(&y) {
            let p: f64 = r.iter().zip(&b).map(|(a, b)| a * b).sum();
            assert!((p - yi).abs() < 1e-6, "{b:?}");
        }
    }
}
