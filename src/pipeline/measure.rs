//! Validation measurements of a search, cached: a network measured once (by the predictor's
//! collection, by the evolution or for a baseline) is never measured again. Each measurement
//! keeps the split's two halves apart: the search chooses on the first, and the final choice
//! judges its best on the second, which did not choose it (choosing the best of many noisy
//! measurements and comparing it on the same ones favours it unfairly). A subnet measured here
//! keeps its answer on every image, for paired comparisons.

use crate::Result;
use crate::arch::SearchSpace;
use crate::arch::SubnetConfig;
use crate::mcu::fast::Summary;
use crate::search::Checker;
use crate::search::encoding::canonical;
use crate::supernet::Supernet;
use crate::train::eval::{Measurement, SubnetEvaluator};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Measurer<'a> {
    ev: SubnetEvaluator,
    space: &'a SearchSpace,
    /// Canonical subnet → index in `order`.
    known: HashMap<SubnetConfig, usize>,
    /// Each subnet's measurement and, where it was made here, its per-image answers.
    order: Vec<(SubnetConfig, Measurement, Option<Vec<bool>>)>,
    /// Measurements made (not found in the cache) and the time they took.
    pub new: usize,
    spent: Duration,
}

impl<'a> Measurer<'a> {
    pub fn new(ev: SubnetEvaluator, space: &'a SearchSpace) -> Measurer<'a> {
        Measurer {
            ev,
            space,
            known: HashMap::new(),
            order: Vec::new(),
            new: 0,
            spent: Duration::ZERO,
        }
    }

    /// Measurements made earlier the same way (same split, same recalibration): each subnet's
    /// top-1 on the two halves.
    pub fn seed<'s>(&mut self, known: impl IntoIterator<Item = (&'s SubnetConfig, [f64; 2])>) {
        let n = self.ev.eval_len();
        let images = [n.div_ceil(2), n / 2];
        for (s, h) in known {
            let correct = [0, 1].map(|i| (h[i] * images[i] as f64).round() as usize);
            self.insert(s, Measurement { correct, images }, None);
        }
    }

    fn insert(&mut self, s: &SubnetConfig, v: Measurement, right: Option<Vec<bool>>) {
        let k = canonical(self.space, s);
        match self.known.get(&k) {
            Some(&i) => {
                if self.order[i].2.is_none() {
                    self.order[i].2 = right;
                }
            }
            None => {
                self.known.insert(k, self.order.len());
                self.order.push((s.clone(), v, right));
            }
        }
    }

    /// `s` measured after BN recalibration, unless it was before.
    pub fn measure(&mut self, net: &Supernet, s: &SubnetConfig) -> Result<Measurement> {
        if let Some(&i) = self.known.get(&canonical(self.space, s)) {
            return Ok(self.order[i].1);
        }
        Ok(self.measure_new(net, s)?.0)
    }

    fn measure_new(
        &mut self,
        net: &Supernet,
        s: &SubnetConfig,
    ) -> Result<(Measurement, Vec<bool>)> {
        let t = Instant::now();
        let (m, right) = self.ev.measure_images(net, s)?;
        self.spent += t.elapsed();
        self.new += 1;
        self.insert(s, m, Some(right.clone()));
        Ok((m, right))
    }

    /// `s`'s answer on every image of the split (right or wrong, in the split's order);
    /// measured again where only its counts were known.
    pub fn answers(&mut self, net: &Supernet, s: &SubnetConfig) -> Result<Vec<bool>> {
        let known = self
            .known
            .get(&canonical(self.space, s))
            .and_then(|&i| self.order[i].2.clone());
        match known {
            Some(r) => Ok(r),
            None => Ok(self.measure_new(net, s)?.1),
        }
    }

    /// Top-1 on the search's half of the split.
    pub fn search_top1(&mut self, net: &Supernet, s: &SubnetConfig) -> Result<f64> {
        Ok(self.measure(net, s)?.halves()[0])
    }

    /// Subnets measured per minute in this session (0 when none was).
    pub fn per_minute(&self) -> f64 {
        if self.new == 0 {
            0.0
        } else {
            self.new as f64 / self.spent.as_secs_f64().max(1e-9) * 60.0
        }
    }

    /// Every known subnet's footprint and top-1 on the whole split.
    pub fn measured(&self, checker: &mut Checker) -> Result<Vec<(Summary, f64)>> {
        self.order
            .iter()
            .map(|(s, m, _)| Ok((checker.footprint(self.space, s)?, m.top1())))
            .collect()
    }
}
