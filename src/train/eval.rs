//! Measuring a subnet: batch-norm recalibration on a fixed subset of training images, then
//! top-1 on an evaluation split. Batches are uploaded once per resolution and reused for every
//! subnet measured (the predictor's data collection measures hundreds).

use crate::arch::SubnetConfig;
use crate::autograd::ops::norm::BnMode;
use crate::data::Dataset;
use crate::data::augment::Augment;
use crate::supernet::Supernet;
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
            rgb: crate::data::input_rgb(train.channels, in_channels)?,
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
        Ok(self.measure(net, subnet)?.top1())
    }

    /// Images in the evaluation split.
    pub fn eval_len(&self) -> usize {
        self.eval.len()
    }

    /// Recalibrate `subnet`'s batch norm, then count its correct answers on the evaluation
    /// split, the even- and odd-numbered images apart (two independent measurements).
    pub fn measure(&mut self, net: &Supernet, subnet: &SubnetConfig) -> Result<Measurement> {
        Ok(self.measure_images(net, subnet)?.0)
    }

    /// `measure`, and whether each image of the evaluation split was answered correctly (in
    /// the split's order): what a paired comparison of two subnets on the same images needs.
    pub fn measure_images(
        &mut self,
        net: &Supernet,
        subnet: &SubnetConfig,
    ) -> Result<(Measurement, Vec<bool>)> {
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
        let mut m = Measurement::default();
        let mut right = Vec::new();
        let mut i = 0usize;
        for (l, (_, labels)) in logits.iter().zip(&up.eval) {
            let v = l.to_vec()?;
            for (r, &label) in labels.iter().enumerate() {
                let row = &v[r * classes..(r + 1) * classes];
                let arg = (0..classes)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap();
                m.images[i % 2] += 1;
                m.correct[i % 2] += (arg == label as usize) as usize;
                right.push(arg == label as usize);
                i += 1;
            }
        }
        Ok((m, right))
    }

    /// Plain inference of `subnet` over the same images `measure` touches (the recalibration
    /// images, then the evaluation split), batch norm as it stands, logits read back: what
    /// `measure` would cost without recalibration and counting. Returns the images run.
    pub fn plain_forward(&mut self, net: &Supernet, subnet: &SubnetConfig) -> Result<usize> {
        let up = self.uploaded(subnet.resolution)?;
        let e = net.head.weight.engine().clone();
        let _g = e.no_grad();
        let xs = up.recal.iter().chain(up.eval.iter().map(|(x, _)| x));
        let logits: Vec<Tensor> = xs
            .map(|x| net.forward(x, subnet, BnMode::Eval))
            .collect::<Result<_>>()?;
        let mut n = 0;
        for l in &logits {
            n += l.to_vec()?.len() / net.space.classes;
        }
        Ok(n)
    }

    /// Images `measure` runs through the network: recalibration and evaluation.
    pub fn images_per_measurement(&self) -> usize {
        self.recal.len() + self.eval.len()
    }
}

/// Correct answers of one subnet on an evaluation split, its even- and odd-numbered images
/// counted apart: two measurements on disjoint halves, whose agreement is the noise ceiling of
/// any ranking of subnets by this split.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measurement {
    pub correct: [usize; 2],
    pub images: [usize; 2],
}

impl Measurement {
    pub fn top1(&self) -> f64 {
        let n = self.images[0] + self.images[1];
        (self.correct[0] + self.correct[1]) as f64 / n.max(1) as f64
    }
    /// Top-1 on each half.
    pub fn halves(&self) -> [f64; 2] {
        [0, 1].map(|h| self.correct[h] as f64 / self.images[h].max(1) as f64)
    }
}

/// The binomial standard error of an accuracy `p` measured on `n` images.
pub fn std_error(p: f64, n: usize) -> f64 {
    (p * (1.0 - p) / n.max(1) as f64).sqrt()
}
