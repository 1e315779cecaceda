//! Validation measurements of a search, cached: a network measured once (by the predictor's
//! collection, by the evolution or for a baseline) is never measured again.

use crate::Result;
use crate::arch::SearchSpace;
use crate::mcu::fast::Summary;
use crate::search::Checker;
use crate::search::predictor::canonical;
use crate::supernet::{SubnetConfig, Supernet};
use crate::train::eval::SubnetEvaluator;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Measurer<'a> {
    ev: SubnetEvaluator,
    space: &'a SearchSpace,
    /// Canonical subnet → index in `order`.
    known: HashMap<SubnetConfig, usize>,
    order: Vec<(SubnetConfig, f64)>,
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

    /// Measurements made earlier the same way (same split, same recalibration).
    pub fn seed<'s>(&mut self, known: impl IntoIterator<Item = (&'s SubnetConfig, f64)>) {
        for (s, v) in known {
            self.insert(s, v);
        }
    }

    fn insert(&mut self, s: &SubnetConfig, v: f64) {
        let k = canonical(self.space, s);
        if !self.known.contains_key(&k) {
            self.known.insert(k, self.order.len());
            self.order.push((s.clone(), v));
        }
    }

    /// `s`'s top-1 after BN recalibration, measured unless it was before.
    pub fn top1(&mut self, net: &Supernet, s: &SubnetConfig) -> Result<f64> {
        if let Some(&i) = self.known.get(&canonical(self.space, s)) {
            return Ok(self.order[i].1);
        }
        let t = Instant::now();
        let v = self.ev.measure(net, s)?.top1();
        self.spent += t.elapsed();
        self.new += 1;
        self.insert(s, v);
        Ok(v)
    }

    /// Subnets measured per minute in this session (0 when none was).
    pub fn per_minute(&self) -> f64 {
        if self.new == 0 {
            0.0
        } else {
            self.new as f64 / self.spent.as_secs_f64().max(1e-9) * 60.0
        }
    }

    /// Every known subnet's footprint and top-1.
    pub fn measured(&self, checker: &mut Checker) -> Result<Vec<(Summary, f64)>> {
        self.order
            .iter()
            .map(|(s, v)| Ok((checker.footprint(self.space, s)?, *v)))
            .collect()
    }
}
