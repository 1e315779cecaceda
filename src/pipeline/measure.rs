//! Validation measurements of a search, cached: a network measured once (by the predictor's
//! collection, by the evolution or for a baseline) is never measured again. Each measurement
//! keeps the split's two halves apart: the search chooses on the first, the final choice among
//! its best and the baselines is made on the second, which no candidate was chosen by (choosing
//! the best of many noisy measurements and comparing it on the same ones favours it unfairly).

use crate::Result;
use crate::arch::SearchSpace;
use crate::mcu::fast::Summary;
use crate::search::Checker;
use crate::search::predictor::canonical;
use crate::supernet::{SubnetConfig, Supernet};
use crate::train::eval::{Measurement, SubnetEvaluator};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Measurer<'a> {
    ev: SubnetEvaluator,
    space: &'a SearchSpace,
    /// Canonical subnet → index in `order`.
    known: HashMap<SubnetConfig, usize>,
    order: Vec<(SubnetConfig, Measurement)>,
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
            self.insert(s, Measurement { correct, images });
        }
    }

    fn insert(&mut self, s: &SubnetConfig, v: Measurement) {
        let k = canonical(self.space, s);
        if !self.known.contains_key(&k) {
            self.known.insert(k, self.order.len());
            self.order.push((s.clone(), v));
        }
    }

    /// `s` measured after BN recalibration, unless it was before.
    pub fn measure(&mut self, net: &Supernet, s: &SubnetConfig) -> Result<Measurement> {
        if let Some(&i) = self.known.get(&canonical(self.space, s)) {
            return Ok(self.order[i].1);
        }
        let t = Instant::now();
        let m = self.ev.measure(net, s)?;
        self.spent += t.elapsed();
        self.new += 1;
        self.insert(s, m);
        Ok(m)
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
            .map(|(s, m)| Ok((checker.footprint(self.space, s)?, m.top1())))
            .collect()
    }
}
