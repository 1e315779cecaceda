//! Measuring a subnet: batch-norm recalibration on a fixed subset of training images, then
//! top-1 on an evaluation split. Batches are uploaded once per resolution and reused for every
//! subnet measured (the predictor's data collection measures hundreds).

use crate::autograd::ops::norm::BnMode;
use crate::data::Dataset;
use crate::data::augment::Augment;
use crate::supernet::{SubnetConfig, Supernet};
use crate::{Engine, Error, Result, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use std::collections::HashMap;
use std::rc::Rc;

struct Uploaded {
    recal: Vec<Tensor>,
    eval: Vec<(Tensor, Vec<u8>)>,
}

pub struct SubnetEvaluator {
    e: Rc<Engine>,
    recal: Dataset,
    eval: Dataset,
    rgb: bool,
    batch: usize,
    cache: HashMap<usize, Uploaded>,
}

impl SubnetEvaluator {
    /// `recal_images` images of `train` (a seeded choice, the same for every subnet) recalibrate
    /// batch norm; accuracy is measured on all of `eval`.
    pub fn new(
        e: &Rc<Engine>,
        train: &Dataset,
        eval: &Dataset,
        recal_images: usize,
        in_channels: usize,
        batch: usize,
        seed: u64,
    ) -> Result<SubnetEvaluator> {
        if recal_images == 0 || eval.is_empty() {
            return Err(Error::Invalid(
                "evaluation needs at least one recalibration image and one test image".into(),
            ));
        }
        let recal = if recal_images >= train.len() {
            train.clone()
        } else {
            train.split_off(recal_images, seed ^ 0x5eed)?.1
        };
        Ok(SubnetEvaluator {
            e: e.clone(),
            recal,
            eval: eval.clone(),
            rgb: input_rgb(train.channels, in_channels)?,
            batch: batch.max(1),
            cache: HashMap::new(),
        })
    }

    fn uploaded(&mut self, resolution: usize) -> Result<&Uploaded> {
        if !self.cache.contains_key(&resolution) {
            let aug = Augment {
                resolution: Some(resolution),
                rgb: self.rgb,
                crop_pad: 0,
                flip: false,
            };
            let mut rng = StdRng::seed_from_u64(0);
            let mut up = |ds: &Dataset| -> Result<Vec<(Tensor, Vec<u8>)>> {
                let idx: Vec<usize> = (0..ds.len()).collect();
                idx.chunks(self.batch)
                    .map(|c| {
                        let (x, _, (ch, r)) = ds.augmented_batch(c, &aug, &mut rng);
                        let t = self.e.tensor(&x, &[c.len(), ch, r, r])?;
                        Ok((t, c.iter().map(|&i| ds.labels[i]).collect()))
                    })
                    .collect()
            };
            let recal = up(&self.recal)?.into_iter().map(|b| b.0).collect();
            let eval = up(&self.eval)?;
            self.cache.insert(resolution, Uploaded { recal, eval });
        }
        Ok(&self.cache[&resolution])
    }

    /// Recalibrate `subnet`'s batch norm, then its top-1 accuracy on the evaluation split.
    pub fn accuracy(&mut self, net: &Supernet, subnet: &SubnetConfig) -> Result<f64> {
        let classes = net.space.classes;
        let up = self.uploaded(subnet.resolution)?;
        net.recalibrate_bn(subnet, up.recal.iter())?;
        let e = net.head.weight.engine().clone();
        let _g = e.no_grad();
        // Record every batch, then read the logits back in one wait.
        let logits: Vec<Tensor> = up
            .eval
            .iter()
            .map(|(x, _)| net.forward(x, subnet, BnMode::Eval))
            .collect::<Result<_>>()?;
        let mut correct = 0usize;
        for (l, (_, labels)) in logits.iter().zip(&up.eval) {
            let v = l.to_vec()?;
            for (r, &label) in labels.iter().enumerate() {
                let row = &v[r * classes..(r + 1) * classes];
                let arg = (0..classes)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap();
                correct += (arg == label as usize) as usize;
            }
        }
        Ok(correct as f64 / self.eval.len() as f64)
    }
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
