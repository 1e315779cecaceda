//! What a predictor is fit on and vouched for by: the measured pairs' hash, their repeats
//! merged, and the check that a saved predictor still matches the pairs beside it. The pairs
//! and the predictor are each published as a set of the run's manifest (`io::publish`), the
//! predictor's recording the pairs file it was fit on, so a kill leaves each old or new, whole,
//! and a file changed after its writer is refused by its reader.

use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::Field;
use crate::error::Missing;
use crate::search::predictor::{Predictor, Sample};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The run manifest's set of the measured pairs (`accuracy_pairs.jsonl`).
pub const PAIRS_SET: &str = "pairs";
/// The run manifest's set of the fitted predictor (`predictor.json`).
pub const PREDICTOR_SET: &str = "predictor";
pub const PREDICTOR_FILE: &str = "predictor.json";

/// A measured subnet: its validation top-1 after BN recalibration, and its MACs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub subnet: SubnetConfig,
    pub top1: f64,
    pub macs: u64,
    /// Training images its BN statistics were recalibrated on (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recal_images: Option<usize>,
    /// Top-1 on the even- and odd-numbered validation images apart (absent in older files):
    /// two independent measurements, whose rank agreement bounds any predictor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halves: Option<[f64; 2]>,
}

/// The measured subnets of a run of `space` (none when the file is absent); a file other than
/// the run's manifest records, a damaged line, a subnet outside the space or a top-1 outside
/// [0, 1] is an error naming it (a line by its number).
pub fn read_pairs(run: &Path, space: &SearchSpace) -> Result<Vec<Pair>> {
    crate::io::check_set(run, PAIRS_SET, Some(Field::Run))?;
    crate::io::read_jsonl_checked(&run.join(PAIRS_FILE), false, |p: &Pair| {
        let accuracy = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !accuracy(p.top1) {
            return Err(format!("top1 {} is not an accuracy in [0, 1]", p.top1));
        }
        if let Some(h) = p.halves.filter(|h| !h.iter().all(|&v| accuracy(v))) {
            return Err(format!("halves {h:?} are not accuracies in [0, 1]"));
        }
        space.check(&p.subnet).map_err(|e| e.to_string())
    })
}

pub const PAIRS_FILE: &str = "accuracy_pairs.jsonl";

/// `pairs` published whole as the run's pairs set (the caller holds the run's lock).
pub fn publish_pairs(run_dir: &Path, pairs: &[Pair]) -> crate::Result<()> {
    let bytes = crate::io::jsonl_bytes(pairs);
    crate::io::publish(run_dir, PAIRS_SET, &[(PAIRS_FILE.into(), bytes)], &[])
}

/// `p` published whole as the run's predictor set, recording the pairs file it was fit on
/// (the caller holds the run's lock).
pub fn publish_predictor(run_dir: &Path, p: &Predictor) -> crate::Result<()> {
    let bytes = serde_json::to_vec(p).expect("a predictor serialises");
    let pairs = run_dir.join(PAIRS_FILE);
    let inputs = if pairs.exists() {
        vec![crate::io::file_entry(&pairs)?]
    } else {
        Vec::new()
    };
    let files = [(PREDICTOR_FILE.to_string(), bytes)];
    crate::io::publish_from(run_dir, PREDICTOR_SET, &files, &[], inputs)
}

/// SHA-256 (hex) of `pairs` as tinynas writes them, one JSON line each in file order: the
/// evidence a predictor records that it was fit on.
pub fn pairs_sha256(pairs: &[Pair]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in pairs {
        h.update(
            serde_json::to_string(p)
                .expect("a pair serialises")
                .as_bytes(),
        );
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The distinct subnets of `pairs` (by the network they build: slots a depth skips do not
/// count), each with the mean of its measurements, in order of first appearance; and how many
/// lines repeated a subnet of an earlier line. Halves are kept only where every repeat has them.
pub fn merge_duplicates(space: &SearchSpace, pairs: &[Pair]) -> (Vec<Sample>, usize) {
    use crate::search::encoding::canonical;
    let mut index: std::collections::HashMap<SubnetConfig, usize> =
        std::collections::HashMap::new();
    // (sample, measurements, sums of the halves while every measurement had them)
    let mut merged: Vec<(Sample, usize, Option<[f64; 2]>)> = Vec::new();
    for p in pairs {
        let key = canonical(space, &p.subnet);
        match index.get(&key) {
            Some(&i) => {
                let (s, n, halves) = &mut merged[i];
                s.top1 += p.top1;
                *n += 1;
                *halves = halves
                    .zip(p.halves)
                    .map(|(a, b)| [a[0] + b[0], a[1] + b[1]]);
            }
            None => {
                index.insert(key, merged.len());
                let s = Sample {
                    subnet: p.subnet.clone(),
                    top1: p.top1,
                    halves: None,
                };
                merged.push((s, 1, p.halves));
            }
        }
    }
    let repeats = pairs.len() - merged.len();
    let samples = merged
        .into_iter()
        .map(|(mut s, n, halves)| {
            let n = n as f64;
            s.top1 /= n;
            s.halves = halves.map(|h| [h[0] / n, h[1] / n]);
            s
        })
        .collect();
    (samples, repeats)
}

/// The predictor `p` of the run in `run_dir` still vouched for by the pairs there, when the
/// pairs file is present: it records their hash, the hash matches, and it was fit on as many
/// distinct subnets as the file holds; and its file is the one the run's manifest records
/// (where it records one). Else why not.
pub fn check_evidence(run_dir: &Path, space: &SearchSpace, p: &Predictor) -> Result<()> {
    if run_dir.join(PAIRS_FILE).exists() {
        check_pairs_evidence(run_dir, space, p)?;
    }
    crate::io::check_set(run_dir, PREDICTOR_SET, Some(Field::Run))
}

fn check_pairs_evidence(run_dir: &Path, space: &SearchSpace, p: &Predictor) -> Result<()> {
    let file = run_dir.join(PAIRS_FILE);
    let pairs = read_pairs(run_dir, space)?;
    // Each refusal: the predictor no longer matches its pairs, and is fitted again.
    let refit = |why: String| {
        Err(Error::missing(
            run_dir,
            Missing::Refit,
            format!("{}: {why}", run_dir.join(PREDICTOR_FILE).display()),
        ))
    };
    match &p.pairs_sha256 {
        None => {
            return refit(format!(
                "predictor.json records no hash of the pairs it was fit on, so nothing ties it to {}",
                file.display()
            ));
        }
        Some(h) if *h != pairs_sha256(&pairs) => {
            return refit(format!(
                "predictor.json is stale: {} changed since it was fit (its SHA-256 differs from the one the predictor records)",
                file.display()
            ));
        }
        Some(_) => {}
    }
    if let Some(r) = &p.report {
        let (distinct, _) = merge_duplicates(space, &pairs);
        if r.train_pairs + r.heldout_pairs != distinct.len() {
            return refit(format!(
                "predictor.json reports a fit on {} subnets, {} holds {} distinct ones",
                r.train_pairs + r.heldout_pairs,
                file.display(),
                distinct.len()
            ));
        }
    }
    Ok(())
}
