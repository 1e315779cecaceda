//! CIFAR-10 / CIFAR-100 binary batches: records of label byte(s) then 3×32×32 pixels (CHW).
//! CIFAR-10: data_batch_1..5.bin + test_batch.bin; CIFAR-100: train.bin + test.bin (coarse and
//! fine label bytes; the fine label is used).

use super::Dataset;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const PIXELS: usize = 3 * 32 * 32;

/// (training files, test file, label bytes per record) if `dir` holds CIFAR batches.
pub fn detect(dir: &Path) -> Option<(Vec<PathBuf>, PathBuf, usize)> {
    let ten: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .filter(|p| p.is_file())
        .collect();
    if !ten.is_empty() && dir.join("test_batch.bin").is_file() {
        return Some((ten, dir.join("test_batch.bin"), 1));
    }
    if dir.join("train.bin").is_file() && dir.join("test.bin").is_file() {
        return Some((vec![dir.join("train.bin")], dir.join("test.bin"), 2));
    }
    None
}

fn read(files: &[PathBuf], label_bytes: usize, classes: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let rec = label_bytes + PIXELS;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| Error::Data {
            path: f.display().to_string(),
            msg: e.to_string(),
        })?;
        if bytes.is_empty() || bytes.len() % rec != 0 {
            return Err(Error::Data {
                path: f.display().to_string(),
                msg: format!(
                    "{} bytes is not a whole number of {rec}-byte CIFAR records",
                    bytes.len()
                ),
            });
        }
        for r in bytes.chunks_exact(rec) {
            let label = r[label_bytes - 1];
            if label as usize >= classes {
                return Err(Error::Data {
                    path: f.display().to_string(),
                    msg: format!("label {label} out of range for {classes} classes"),
                });
            }
            labels.push(label);
            images.extend_from_slice(&r[label_bytes..]);
        }
    }
    Ok((images, labels))
}

pub fn load(dir: &Path) -> Result<(Dataset, Dataset)> {
    let (train_files, test_file, label_bytes) = detect(dir).ok_or_else(|| Error::Data {
        path: dir.display().to_string(),
        msg: "no CIFAR batches (data_batch_*.bin + test_batch.bin, or train.bin + test.bin)".into(),
    })?;
    let classes = if label_bytes == 1 { 10 } else { 100 };
    let (ti, tl) = read(&train_files, label_bytes, classes)?;
    let (vi, vl) = read(&[test_file], label_bytes, classes)?;
    let (mean, std) = Dataset::channel_stats(&ti, 3, 32 * 32);
    let make = |images, labels| Dataset {
        images,
        labels,
        channels: 3,
        height: 32,
        width: 32,
        classes,
        mean: mean.clone(),
        std: std.clone(),
    };
    Ok((make(ti, tl), make(vi, vl)))
}
