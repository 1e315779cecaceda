//! Batches prepared on worker threads ahead of the GPU: each batch is described by its image
//! indices, resolution and seed, so the same plan gives the same tensors whatever the number of
//! workers or where a resumed run starts.

use crate::data::Dataset;
use crate::data::augment::Augment;
use rand::{SeedableRng, rngs::StdRng};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

#[derive(Clone, Debug)]
pub struct BatchSpec {
    pub step: usize,
    pub indices: Vec<usize>,
    pub resolution: usize,
    /// Seed of the augmentation (crop offsets, flips).
    pub seed: u64,
}

/// A batch ready for upload: normalised f32 images [n, channels, resolution, resolution].
pub struct Prepared {
    pub step: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub channels: usize,
    pub resolution: usize,
    /// Seconds the worker spent preparing it.
    pub secs: f64,
}

pub fn prepare(ds: &Dataset, aug: &Augment, spec: &BatchSpec) -> Prepared {
    let t = std::time::Instant::now();
    let aug = Augment {
        resolution: Some(spec.resolution),
        ..*aug
    };
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let (x, y, (channels, resolution)) = ds.augmented_batch(&spec.indices, &aug, &mut rng);
    Prepared {
        step: spec.step,
        x,
        y,
        channels,
        resolution,
        secs: t.elapsed().as_secs_f64(),
    }
}

/// Prepares `specs` in order on `workers` threads, at most `ahead` batches per worker waiting.
pub struct Loader {
    rx: Vec<Receiver<Prepared>>,
    next: usize,
    workers: Vec<JoinHandle<()>>,
}

impl Drop for Loader {
    /// Closes the channels, then waits for every worker to see it and stop: no thread outlives
    /// its loader.
    fn drop(&mut self) {
        self.rx.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Loader {
    pub fn spawn(
        ds: Arc<Dataset>,
        aug: Augment,
        specs: Vec<BatchSpec>,
        workers: usize,
        ahead: usize,
    ) -> Loader {
        let workers = workers.max(1);
        let specs = Arc::new(specs);
        let mut rx = Vec::new();
        let mut handles = Vec::new();
        for w in 0..workers {
            let (tx, r) = sync_channel(ahead.max(1));
            let (ds, specs) = (ds.clone(), specs.clone());
            handles.push(std::thread::spawn(move || {
                for spec in specs.iter().skip(w).step_by(workers) {
                    // The receiver is gone when the run stopped early: stop too.
                    if tx.send(prepare(&ds, &aug, spec)).is_err() {
                        return;
                    }
                }
            }));
            rx.push(r);
        }
        Loader {
            rx,
            next: 0,
            workers: handles,
        }
    }
}

impl Iterator for Loader {
    type Item = Prepared;
    fn next(&mut self) -> Option<Prepared> {
        let w = self.next % self.rx.len();
        self.next += 1;
        self.rx[w].recv().ok()
    }
}
