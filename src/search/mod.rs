//! TinyNAS on top of the supernet: space optimization by the FLOPs of the subnets that fit,
//! the accuracy predictor, and the evolutionary search under SRAM/flash limits.

pub mod baselines;
pub mod choice;
pub mod encoding;
pub mod evolution;
mod mlp;
pub mod predictor;
pub mod space;

use crate::Result;
use crate::arch::{SearchSpace, SubnetConfig};
use crate::mcu::fast::{Evaluator, Summary};
use crate::mcu::net::from_subnet;
use crate::mcu::{Device, EvalOptions, Scheduler, evaluate};

/// A device's limits under one scheduler: the check every candidate passes first.
#[derive(Clone, Debug)]
pub struct Limits {
    pub device: Device,
    pub scheduler: Scheduler,
}

pub struct Checker {
    pub limits: Limits,
    fast: Evaluator,
}

impl Checker {
    pub fn new(limits: Limits) -> Checker {
        Checker {
            limits,
            fast: Evaluator::default(),
        }
    }

    /// MACs, params, flash and peak SRAM of `subnet` under the scheduler.
    pub fn footprint(&mut self, space: &SearchSpace, subnet: &SubnetConfig) -> Result<Summary> {
        let net = from_subnet(space, subnet)?;
        if let Some(s) = self.fast.summary(&net, self.limits.scheduler, true) {
            return Ok(s);
        }
        let r = evaluate(
            &net,
            &EvalOptions {
                scheduler: self.limits.scheduler,
                ..EvalOptions::default()
            },
        )?;
        Ok(Summary {
            macs: r.macs,
            params: r.params,
            flash_bytes: r.flash_bytes,
            peak_sram_bytes: r.peak_sram_bytes,
            sram_bytes: r.sram_bytes,
        })
    }

    pub fn fits(&self, s: &Summary) -> bool {
        self.limits.device.fits(s.sram_bytes, s.flash_bytes)
    }
}

/// "256.0 KiB SRAM / 1024.0 KiB flash".
pub fn describe_limits(l: &Limits) -> String {
    format!(
        "{} ({:.0} KiB SRAM, {:.0} KiB flash) under {}",
        l.device.name,
        l.device.sram_bytes as f64 / 1024.0,
        l.device.flash_bytes as f64 / 1024.0,
        l.scheduler.name()
    )
}
