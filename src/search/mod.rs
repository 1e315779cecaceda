//! TinyNAS on top of the supernet: space optimization by the FLOPs of the subnets that fit,
//! the accuracy predictor, and the evolutionary search under SRAM/flash limits.

pub mod baselines;
pub mod choice;
pub mod encoding;
pub mod evolution;
pub mod fit_report;
mod mlp;
pub mod predictor;
pub mod space;

use crate::arch::subnet::from_subnet;
use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::Field;
use crate::mcu::fast::{Evaluator, Summary};
use crate::mcu::latency;
use crate::mcu::{Device, EvalOptions, Scheduler, evaluate};
use crate::{Error, Result};

/// A device's limits under one scheduler: the check every candidate passes first.
#[derive(Clone, Debug)]
pub struct Limits {
    pub device: Device,
    pub scheduler: Scheduler,
    /// The most milliseconds an inference may take on the device's core at its clock, by the
    /// latency model of the generated C (`mcu::latency`).
    pub latency_ms: Option<f64>,
}

impl Limits {
    /// The latency limit's own checks: a positive, finite number of milliseconds, and a device
    /// with a core and a clock to price it on.
    pub fn check_latency(&self) -> Result<()> {
        let Some(ms) = self.latency_ms else {
            return Ok(());
        };
        crate::bounds::positive(Field::LatencyMs, ms, 1e9)?;
        self.pricing().map(|_| ())
    }

    /// The core's table and the clock that turn a network into milliseconds.
    fn pricing(&self) -> Result<Pricing> {
        let d = &self.device;
        let core = d.core.ok_or_else(|| {
            Error::bad_setting(
                Field::LatencyMs,
                format!(
                    "no core is known for device {}: name a {} preset",
                    d.name,
                    Field::Device
                ),
            )
        })?;
        let mhz = d.clock_mhz.ok_or_else(|| {
            Error::bad_setting(
                Field::LatencyMs,
                format!("device {} has no clock: give {}", d.name, Field::ClockMhz),
            )
        })?;
        Ok(Pricing {
            table: latency::core_table(core)?,
            core,
            mhz: mhz as f64,
        })
    }
}

/// What prices a network's latency on the limits' device.
#[derive(Clone, Copy)]
struct Pricing {
    table: &'static latency::CoreTable,
    core: crate::mcu::device::Core,
    mhz: f64,
}

pub struct Checker {
    pub limits: Limits,
    fast: Evaluator,
    pricing: Option<Pricing>,
}

impl Checker {
    pub fn new(limits: Limits) -> Checker {
        Checker {
            pricing: limits.pricing().ok(),
            limits,
            fast: Evaluator::default(),
        }
    }

    /// MACs, params, flash and peak SRAM of `subnet` under the scheduler, and its latency where
    /// the device has a core and a clock.
    pub fn footprint(&mut self, space: &SearchSpace, subnet: &SubnetConfig) -> Result<Summary> {
        let net = from_subnet(space, subnet)?;
        // Under the patch scheduler: the generated C's patch plan, priced per patch.
        let mut patch_plan = None;
        let mut s = match self.fast.summary(&net, self.limits.scheduler, true) {
            Some(s) => s,
            None => {
                let r = evaluate(
                    &net,
                    &EvalOptions {
                        scheduler: self.limits.scheduler,
                        ..EvalOptions::default()
                    },
                )?;
                if let Some(Ok(c)) = r.patch_code {
                    patch_plan = Some((r.graph, c.plan));
                }
                Summary {
                    macs: r.macs,
                    params: r.params,
                    flash_bytes: r.flash_bytes,
                    peak_sram_bytes: r.peak_sram_bytes,
                    sram_bytes: r.sram_bytes,
                    ..Summary::default()
                }
            }
        };
        if let Some(p) = self.pricing {
            s.instructions = match &patch_plan {
                Some((g, plan)) => crate::mcu::latency::patched_instructions(p.table, g, plan),
                None => latency::instructions(p.table, &net),
            };
            s.latency_ms = s.instructions.map(|n| latency::ms(p.core, p.mhz, n as f64));
        }
        if self.limits.latency_ms.is_some() && s.latency_ms.is_none() {
            // Why it cannot be priced, naming the setting (`latency_ms`).
            self.limits.pricing()?;
            latency::per_op(&net, self.pricing.expect("priced above").core)?;
        }
        Ok(s)
    }

    /// Within SRAM, flash and (if set) the latency limit.
    pub fn fits(&self, s: &Summary) -> bool {
        self.limits.device.fits(s.sram_bytes, s.flash_bytes) && self.within_latency(s)
    }

    pub fn within_latency(&self, s: &Summary) -> bool {
        match (self.limits.latency_ms, s.latency_ms) {
            (Some(limit), Some(ms)) => ms <= limit,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }
}

/// "stm32f412 (256 KiB SRAM, 1024 KiB flash, 50 ms at 100 MHz) under tinyengine".
pub fn describe_limits(l: &Limits) -> String {
    let latency = match (l.latency_ms, l.device.clock_mhz) {
        (Some(ms), Some(mhz)) => format!(", {ms:.1} ms at {mhz} MHz"),
        (Some(ms), None) => format!(", {ms:.1} ms"),
        _ => String::new(),
    };
    format!(
        "{} ({:.0} KiB SRAM, {:.0} KiB flash{latency}) under {}",
        l.device.name,
        l.device.sram_bytes as f64 / 1024.0,
        l.device.flash_bytes as f64 / 1024.0,
        l.scheduler.name()
    )
}
