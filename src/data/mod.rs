//! Datasets on the CPU: idx (MNIST / Fashion-MNIST) files, shuffled mini-batches, normalisation.

pub mod augment;
pub mod cifar;
pub mod folder;
pub mod idx;

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use std::path::{Path, PathBuf};

/// Images as u8 [n, channels, height, width] with labels 0..classes.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    /// Per-channel mean and standard deviation of pixel/255, for normalisation.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Fashion-MNIST's per-pixel mean and standard deviation (training set).
pub const FASHION_MEAN: f32 = 0.2860;
pub const FASHION_STD: f32 = 0.3530;

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Images `idx` as normalised f32 [n, C, H, W] and labels as f32.
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let sz = self.image_size();
        let mut x = Vec::with_capacity(idx.len() * sz);
        for &i in idx {
            x.extend(
                self.images[i * sz..(i + 1) * sz]
                    .iter()
                    .map(|&p| (p as f32 / 255.0 - FASHION_MEAN) / FASHION_STD),
            );
        }
        (x, idx.iter().map(|&i| self.labels[i] as f32).collect())
    }

    /// Image `i` as normalised f32 [C, H, W].
    pub fn normalized(&self, i: usize) -> Vec<f32> {
        let sz = self.image_size();
        let plane = self.height * self.width;
        self.images[i * sz..(i + 1) * sz]
            .iter()
            .enumerate()
            .map(|(j, &p)| (p as f32 / 255.0 - self.mean[j / plane]) / self.std[j / plane])
            .collect()
    }

    /// Per-channel mean and standard deviation of pixel/255 over all images.
    pub fn channel_stats(images: &[u8], channels: usize, plane: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut s, mut s2, mut n) = (
            vec![0f64; channels],
            vec![0f64; channels],
            vec![0f64; channels],
        );
        for (j, &p) in images.iter().enumerate() {
            let c = (j / plane) % channels;
            let v = p as f64 / 255.0;
            s[c] += v;
            s2[c] += v * v;
            n[c] += 1.0;
        }
        let mean: Vec<f32> = (0..channels)
            .map(|c| (s[c] / n[c].max(1.0)) as f32)
            .collect();
        let std = (0..channels)
            .map(|c| {
                ((s2[c] / n[c].max(1.0) - (mean[c] as f64).powi(2))
                    .max(1e-8)
                    .sqrt()) as f32
            })
            .collect();
        (mean, std)
    }

    /// Mini-batches of one epoch in a seeded random order (the last partial batch dropped).
    pub fn epoch_batches(&self, batch: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        order.chunks_exact(batch).map(|c| c.to_vec()).collect()
    }

    /// Count of images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

/// The training and test splits of an MNIST-layout folder (`train-*` and `t10k-*` idx files,
/// gzipped or not).
pub fn load_mnist_dir(dir: &Path) -> Result<(Dataset, Dataset)> {
    if !dir.is_dir() {
        return Err(Error::Data {
            path: dir.display().to_string(),
            msg: "no such folder; pass --data with a folder holding train-images-idx3-ubyte(.gz) and friends (the repo bundles datasets/fashion-mnist-subset)".into(),
        });
    }
    let find = |stem: &str| -> Result<PathBuf> {
        for name in [format!("{stem}.gz"), stem.to_string()] {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(Error::Data {
            path: dir.join(format!("{stem}.gz")).display().to_string(),
            msg: "missing idx file".into(),
        })
    };
    let split = |prefix: &str| -> Result<Dataset> {
        let images = idx::read(&find(&format!("{prefix}-images-idx3-ubyte"))?)?;
        let labels_path = find(&format!("{prefix}-labels-idx1-ubyte"))?;
        let labels = idx::read(&labels_path)?;
        idx::to_dataset(images, labels, &labels_path)
    };
    Ok((split("train")?, split("t10k")?))
}

/// The folder with the bundled Fashion-MNIST subset, beside the crate.
pub fn bundled_fashion_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/fashion-mnist-subset")
}

/// Load a dataset folder of any supported layout: MNIST-style idx files, CIFAR binary batches, or
/// image folders (`train/<class>/*.png|jpg` and `test/<class>/...`, resized to `image_size`).
pub fn load_dir(dir: &Path, image_size: usize) -> Result<(Dataset, Dataset)> {
    if dir.join("train").is_dir() {
        return folder::load(dir, image_size);
    }
    if cifar::detect(dir).is_some() {
        return cifar::load(dir);
    }
    load_mnist_dir(dir)
}
