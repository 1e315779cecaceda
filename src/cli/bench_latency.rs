//! `tinynas bench latency`: its flags, and the latency model's table as printed. The fit (per-layer
//! instruction counts of random subnets in QEMU on both cores, checked on held-out subnets) is
//! `pipeline::bench::latency`.

use crate::error::Field;
use crate::mcu::latency::LatencyTable;
use crate::observer::Observer;
use crate::pipeline::bench::latency::{LatencyOptions, latency};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone, Debug)]
pub struct LatencyBench {
    /// Random subnets whose per-layer instruction counts the table is fitted to.
    #[arg(long, default_value_t = 40)]
    pub fit: usize,
    /// Random subnets, not fitted on, whose whole-inference count checks the prediction.
    #[arg(long, default_value_t = 50)]
    pub held_out: usize,
    /// The most MACs (millions) of a sampled subnet (bounds QEMU's time).
    #[arg(long, default_value_t = 60.0)]
    pub max_mmacs: f64,
    /// Images per run (the counts are their mean).
    #[arg(long, default_value_t = 2)]
    pub images: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write every profiled layer (core, network, class, features, instructions) as CSV.
    #[arg(long)]
    pub layers_csv: Option<PathBuf>,
    /// The table written (default: the repository's, read by the build).
    #[arg(long, default_value = "src/mcu/latency.json")]
    pub out: PathBuf,
}

impl LatencyBench {
    pub fn validate(&self) -> Result<()> {
        use crate::bounds::{int, positive};
        int(Field::Fit, self.fit, 5, 10_000)?;
        int(Field::HeldOut, self.held_out, 1, 10_000)?;
        int(Field::Images, self.images, 1, 100)?;
        positive(Field::MaxMmacs, self.max_mmacs, 1000.0)?;
        if let Some(dir) = self.out.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::Invalid(format!(
                "--out {}: no folder {} (run it from the repository's root, or name a file)",
                self.out.display(),
                dir.display()
            )));
        }
        Ok(())
    }
}

pub fn run(b: &LatencyBench) -> Result<()> {
    b.validate()?;
    let o = LatencyOptions {
        fit: b.fit,
        held_out: b.held_out,
        max_mmacs: b.max_mmacs,
        images: b.images,
        seed: b.seed,
        layers_csv: b.layers_csv.clone(),
        out: b.out.clone(),
    };
    let r = latency(&o, &Stderr)?;
    let table = &r.table;
    print_table(table);
    println!("wrote {} in {:.0} s", r.out.display(), r.secs);
    let line: Vec<String> = table
        .cores
        .iter()
        .map(|(k, c)| {
            format!(
                "{k} mean |error| {:.2} %, worst {:+.2} % on {} held-out subnets",
                c.check.mean_abs_error_pct, c.check.worst_error_pct, c.check.subnets
            )
        })
        .collect();
    println!("bench-latency: {}", line.join("; "));
    Ok(())
}

/// The fit's progress, line by line on stderr (stdout holds the table and the headline).
struct Stderr;

impl Observer for Stderr {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// The table as printed: per core, per class, the coefficients and the layers fitted.
pub fn print_table(t: &LatencyTable) {
    for (core, c) in &t.cores {
        println!(
            "{core}: {:<18} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "op", "layers", "per MAC", "per out", "per in", "per chan", "odd MAC", "constant"
        );
        for (class, k) in &c.ops {
            println!(
                "{:<width$} {:<18} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.2} {:>9.3} {:>10.1}",
                "",
                class,
                c.layers.get(class).copied().unwrap_or(0),
                k.per_mac,
                k.per_output,
                k.per_input,
                k.per_channel,
                k.per_odd_pixel_mac,
                k.constant,
                width = core.len() + 1
            );
        }
    }
}
