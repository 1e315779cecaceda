//! `tinynas space`: rank (resolution, width) spaces; the device/scheduler options.

use crate::error::Field;
use crate::mcu::{Device, Scheduler};
use crate::pipeline::space::{base_space, write_space_outputs};
use crate::search::space::{Rank, SpaceOptions, default_resolutions, default_widths, rank_spaces};
use crate::search::{Limits, describe_limits};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

fn rank_arg(s: &str) -> std::result::Result<Rank, String> {
    Rank::parse(s).map_err(|e| super::flags::why(&e))
}

/// Device and scheduler options shared by `space` and `search`.
#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Device preset: stm32f746, stm32f412, stm32h743, nrf52840, stm32f411, nrf52832
    /// (default stm32f412; the demo's default is stm32f411).
    #[arg(long, value_parser = super::device_arg)]
    pub device: Option<Device>,
    /// Override the SRAM budget (KiB).
    #[arg(long)]
    pub sram: Option<u64>,
    /// Override the flash budget (KiB).
    #[arg(long)]
    pub flash: Option<u64>,
    /// The device's clock in MHz, in place of the preset's (latency is priced at it).
    #[arg(long)]
    pub clock_mhz: Option<u32>,
    /// The most milliseconds one inference may take on the device (its core, its clock): the
    /// generated C's instructions as the latency model predicts them (src/mcu/latency.json,
    /// `tinynas bench latency`), times the core's cycles per instruction (the demo's default:
    /// 100, 10 frames/s).
    #[arg(long, allow_negative_numbers = true)]
    pub latency_ms: Option<f64>,
    /// The runtime whose memory a subnet must fit: tinyengine (the generated C runtime `export`
    /// writes: SRAM = its arena + stack, flash = its image), tflm (TF Lite Micro: its arena's
    /// head + tail, the .tflite), patch (the generated C with `export --patch 4`: its arena,
    /// input buffer and stack, its image), or the bound analytic.
    #[arg(long, default_value = "tinyengine", value_parser = super::scheduler_arg)]
    pub scheduler: Scheduler,
}

impl LimitArgs {
    pub fn limits(&self) -> Result<Limits> {
        self.limits_or("stm32f412")
    }

    /// The limits, with `default` as the device preset when --device is not given.
    pub fn limits_or(&self, default: &str) -> Result<Limits> {
        let device = match &self.device {
            Some(d) => d.clone(),
            None => Device::preset(default)?,
        };
        let limits = Limits {
            device: device
                .with_budget(self.sram, self.flash)?
                .with_clock(self.clock_mhz)?,
            scheduler: self.scheduler,
            latency_ms: self.latency_ms,
        };
        limits.check_latency()?;
        Ok(limits)
    }
}

#[derive(Args, Clone, Debug)]
pub struct SpaceArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Input resolutions of the grid (default 48, 64, …, 224, plus the data's own with --data).
    #[arg(long, value_delimiter = ',')]
    pub resolutions: Option<Vec<usize>>,
    /// Width multipliers of the grid (default 0.2, 0.3, …, 1.0).
    #[arg(long, value_delimiter = ',')]
    pub widths: Option<Vec<f64>>,
    /// Dataset: its image size joins the grid, its channels and classes set the space's.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Base search space JSON (kernels, expands, depths, stages) (default: the MCUNet space of BENCHMARKS.md).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Subnets sampled per space.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rank by `mean` MACs of the fitting subnets or a percentile such as `p80`.
    #[arg(long, default_value = "mean", value_parser = rank_arg)]
    pub rank: Rank,
    /// Spaces where fewer than this share of the samples fit are marked and ranked last.
    #[arg(long, default_value_t = 0.05)]
    pub min_fit: f64,
    /// Spaces drawn in the CDF plot (space_cdf.png, with --out).
    #[arg(long, default_value_t = 5, requires = "out", value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,
    /// Folder for space.json, space_cdf.png and chosen_space.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn space_options(a: &SpaceArgs) -> Result<SpaceOptions> {
    let (base, extra) = base_space(a.space.as_deref(), a.data.as_deref())?;
    Ok(SpaceOptions {
        base,
        resolutions: a
            .resolutions
            .clone()
            .unwrap_or_else(|| default_resolutions(&extra)),
        widths: a.widths.clone().unwrap_or_else(default_widths),
        samples: a.samples,
        seed: a.seed,
        limits: a.limits.limits()?,
        rank: a.rank,
        min_fit: a.min_fit,
        threads: a
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    })
}

pub fn space(a: &SpaceArgs) -> Result<()> {
    let o = space_options(a)?;
    // --out checked before the ranking (a folder another writer holds is refused up front),
    // made and locked only once there is something to write.
    if let Some(dir) = &a.out {
        crate::io::check_outputs(dir, Field::Out, &crate::pipeline::space::OUTPUT_FILES)?;
        crate::io::check_lock(dir, Field::Out)?;
    }
    let t = Instant::now();
    let r = rank_spaces(&o)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "space optimization for {}: {} spaces × {} subnets in {:.2} s on {} threads",
        describe_limits(&o.limits),
        r.len(),
        o.samples,
        secs,
        o.threads
    );
    println!("{}", super::table::ranking(&r, 20));
    match r.first() {
        Some(b) if !b.too_few => println!(
            "best space: resolution {}, width {} ({} of {} sampled subnets fit, mean {:.2} M MACs)",
            b.resolution,
            b.width,
            b.fitting,
            b.sampled,
            b.mean_macs / 1e6
        ),
        _ => {
            let hint = match o.limits.latency_ms {
                Some(ms) => format!(
                    "; --latency-ms {ms}: with the limit on latency too, try a longer limit, a faster clock (--clock-mhz) or lower resolutions and widths"
                ),
                None => "; try lower resolutions and widths or a larger device".into(),
            };
            return Err(Error::Invalid(format!(
                "no space of the grid has enough subnets that fit {}{hint}",
                describe_limits(&o.limits)
            )));
        }
    }
    if let Some(dir) = &a.out {
        let _lock = crate::io::lock_dir(dir, Field::Out)?;
        write_space_outputs(
            dir,
            &o,
            &r,
            a.top as usize,
            &super::console::Console::default(),
        )?;
        println!(
            "wrote {0}/space.json, {0}/space_cdf.png, {0}/chosen_space.json (train it with `tinynas train --space {0}/chosen_space.json`)",
            dir.display()
        );
    }
    Ok(())
}
