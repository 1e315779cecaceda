//! Datasets on the CPU: idx (MNIST / Fashion-MNIST) files, shuffled mini-batches, normalisation.

pub mod augment;
pub mod cifar;
pub mod folder;
pub mod idx;

use crate::error::Field;
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

    /// Images `idx` as normalised f32 [n, C, H, W] (each channel by the training split's
    /// statistics, as `normalized`) and labels as f32.
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::with_capacity(idx.len() * self.image_size());
        for &i in idx {
            x.extend(self.normalized(i));
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

/// "N training / M test images, CxHxW, K classes": what a command says of its data.
pub fn describe_splits(train: &Dataset, test: &Dataset) -> String {
    format!(
        "{} training / {} test images, {}x{}x{}, {} classes",
        train.len(),
        test.len(),
        train.channels,
        train.height,
        train.width,
        train.classes
    )
}

/// The training and test splits of an MNIST-layout folder (`train-*` and `t10k-*` idx files,
/// gzipped or not).
pub fn load_mnist_dir(dir: &Path) -> Result<(Dataset, Dataset)> {
    if !dir.is_dir() {
        return Err(Error::bad(
            Field::Data,
            dir.display(),
            "no such folder; give a folder holding train-images-idx3-ubyte(.gz) and friends (the repo bundles datasets/fashion-mnist-subset)",
        ));
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
    let (train, test) = if dir.join("train").is_dir() {
        crate::bounds::int(
            Field::ImageSize,
            image_size,
            1,
            crate::bounds::MAX_RESOLUTION,
        )?;
        folder::load(dir, image_size)?
    } else if cifar::detect(dir).is_some() {
        cifar::load(dir)?
    } else {
        load_mnist_dir(dir)?
    };
    check_splits(dir, &train, &test)?;
    Ok((train, test))
}

/// Both splits hold images of one shape, and no test label lies outside the training classes.
fn check_splits(dir: &Path, train: &Dataset, test: &Dataset) -> Result<()> {
    let bad = |msg: String| {
        Err(Error::Data {
            path: dir.display().to_string(),
            msg,
        })
    };
    if train.is_empty() || test.is_empty() {
        return bad(format!(
            "{} training and {} test images; both splits need images",
            train.len(),
            test.len()
        ));
    }
    let dims = |d: &Dataset| (d.channels, d.height, d.width);
    if dims(train) != dims(test) {
        return bad(format!(
            "training images are {:?} (channels, height, width) but test images {:?}",
            dims(train),
            dims(test)
        ));
    }
    let max = crate::bounds::MAX_RESOLUTION;
    if train.height == 0 || train.width == 0 || train.height > max || train.width > max {
        return bad(format!(
            "images of {}x{} pixels; give images of 1 to {max} pixels a side",
            train.height, train.width
        ));
    }
    let counts = train.class_counts();
    let empty: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == 0).collect();
    if train.classes > 10 && !empty.is_empty() {
        return bad(format!(
            "the training labels name {} classes but {} of them have no image (labels {}…); a damaged label file?",
            train.classes,
            empty.len(),
            empty
                .iter()
                .take(5)
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if test.classes > train.classes {
        return bad(format!(
            "a test label is {} but the training labels stop at {}; the splits do not match",
            test.classes - 1,
            train.classes - 1
        ));
    }
    Ok(())
}

/// A synthetic classification set: each class is a grating of its own orientation and
/// frequency, at a random phase and contrast, plus noise; learnable, and made without files.
pub fn synthetic(
    n: usize,
    classes: usize,
    channels: usize,
    size: usize,
    seed: u64,
) -> Result<Dataset> {
    use rand::Rng;
    if classes == 0 || classes > 256 || channels == 0 || size == 0 {
        return Err(Error::Invalid(format!(
            "synthetic data: {classes} classes (1..=256), {channels} channels, size {size} must be positive"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let plane = size * size;
    let mut images = Vec::with_capacity(n * channels * plane);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        let angle = std::f32::consts::PI * c as f32 / classes as f32;
        let freq = 2.0 + (c % 3) as f32;
        let phase = rng.random_range(0.0..std::f32::consts::TAU);
        let contrast = rng.random_range(0.5..1.0f32);
        let (s, co) = angle.sin_cos();
        for ch in 0..channels {
            let tint = 1.0 - 0.2 * ch as f32;
            for y in 0..size {
                for x in 0..size {
                    let u = (x as f32 * co + y as f32 * s) / size as f32;
                    let v = (u * freq * std::f32::consts::TAU + phase).sin() * contrast * tint;
                    let noise = rng.random_range(-0.25..0.25f32);
                    images.push((((v + noise) * 0.5 + 0.5).clamp(0.0, 1.0) * 255.0) as u8);
                }
            }
        }
        labels.push(c as u8);
    }
    let (mean, std) = Dataset::channel_stats(&images, channels, plane);
    Ok(Dataset {
        images,
        labels,
        channels,
        height: size,
        width: size,
        classes,
        mean,
        std,
    })
}

impl Dataset {
    /// The images `idx` as a new dataset (statistics kept from this one).
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let sz = self.image_size();
        let mut images = Vec::with_capacity(idx.len() * sz);
        for &i in idx {
            images.extend_from_slice(&self.images[i * sz..(i + 1) * sz]);
        }
        Dataset {
            images,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            ..self.clone_meta()
        }
    }

    fn clone_meta(&self) -> Dataset {
        Dataset {
            images: Vec::new(),
            labels: Vec::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            classes: self.classes,
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }

    /// A held-out split: `n` images drawn (seeded) from this set, and the rest, each in
    /// ascending index order.
    pub fn split_off(&self, n: usize, seed: u64) -> Result<(Dataset, Dataset)> {
        if n >= self.len() {
            return Err(Error::Invalid(format!(
                "a validation split of {n} images leaves none of the {} to train on",
                self.len()
            )));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let (mut held, mut rest) = (order[..n].to_vec(), order[n..].to_vec());
        held.sort_unstable();
        rest.sort_unstable();
        Ok((self.subset(&rest), self.subset(&held)))
    }
}

/// The dataset as a run records it: `synthetic`, or the folder as an absolute path (so that
/// the run can be evaluated from any folder).
pub fn recorded_spec(spec: &Path) -> Result<String> {
    if spec.as_os_str() == "synthetic" {
        return Ok("synthetic".into());
    }
    Ok(std::path::absolute(spec)?.display().to_string())
}

/// `load_dir`, plus `synthetic` for a generated set (6,000 / 1,000 images, 10 classes, 28×28
/// grey).
pub fn load_any(spec: &Path, image_size: usize) -> Result<(Dataset, Dataset)> {
    if spec.as_os_str() == "synthetic" {
        return Ok((
            synthetic(6000, 10, 1, 28, 1)?,
            synthetic(1000, 10, 1, 28, 2)?,
        ));
    }
    load_dir(spec, image_size)
}

/// Whether grey images must be replicated into RGB for a space with `in_channels`.
pub fn input_rgb(data_channels: usize, in_channels: usize) -> Result<bool> {
    match (data_channels, in_channels) {
        (a, b) if a == b => Ok(false),
        (1, 3) => Ok(true),
        (a, b) => Err(Error::Invalid(format!(
            "the data has {a} channel(s) but the search space takes {b}; set the space's in_channels to {a}"
        ))),
    }
}
