//! The latency model's table (`src/mcu/latency.json`) from per-layer instruction counts of
//! random subnets in QEMU on both cores, checked on subnets it was not fitted on against QEMU's
//! whole-inference count (`tinynas bench latency`). Needs the Arm toolchain and QEMU.

use crate::arch::Network;
use crate::arch::SearchSpace;
use crate::arch::subnet::from_subnet;
use crate::error::Field;
use crate::export::{QGraph, quantize};
use crate::firmware::{generate, profile, qemu, target, toolchain};
use crate::mcu::device::Core;
use crate::mcu::fast::Evaluator;
use crate::mcu::latency::{self, CoreTable, HeldOut, LatencyTable, core_key, op_class};
use crate::mcu::latency_fit::{Sample, fit};
use crate::mcu::walk::walk_ops;
use crate::mcu::{Device, Scheduler};
use crate::observer::Observer;
use crate::{Error, Result};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct LatencyOptions {
    /// Random subnets whose per-layer instruction counts the table is fitted to.
    pub fit: usize,
    /// Random subnets, not fitted on, whose whole-inference count checks the prediction.
    pub held_out: usize,
    /// The most MACs (millions) of a sampled subnet (bounds QEMU's time).
    pub max_mmacs: f64,
    /// Images per run (the counts are their mean).
    pub images: usize,
    pub seed: u64,
    /// Also write every profiled layer (core, network, class, features, instructions) as CSV.
    pub layers_csv: Option<PathBuf>,
    /// The table written.
    pub out: PathBuf,
}

/// The table fitted and checked, where it was written, and how long it took.
#[derive(Clone, Debug)]
pub struct LatencyReport {
    pub table: LatencyTable,
    pub out: PathBuf,
    pub secs: f64,
}

/// The grid the subnets are drawn from: the MCUNet space of `space`/`search` at the widths and
/// resolutions of the space optimization's grid (up to 160), with 1 or 3 input channels and 10
/// or 100 classes.
const WIDTHS: [f64; 6] = [0.25, 0.35, 0.5, 0.6, 0.75, 1.0];
const RESOLUTIONS: [usize; 9] = [32, 48, 64, 80, 96, 112, 128, 144, 160];

/// One sampled model: its network, the int8 graph (random weights, calibrated), its C and inputs.
struct Model {
    about: String,
    net: Network,
    q: QGraph,
    sources: crate::firmware::Sources,
    inputs: Vec<Vec<i8>>,
}

/// `n` random subnets under `max_macs` that fit the largest preset (STM32H743) under TinyEngine.
fn sample(rng: &mut StdRng, n: usize, max_macs: u64, images: usize) -> Result<Vec<Model>> {
    let h743 = Device::preset("stm32h743")?;
    let mut fast = Evaluator::default();
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        if tries > 1000 * n.max(1) {
            return Err(Error::bad(
                Field::MaxMmacs,
                max_macs as f64 / 1e6,
                "too few subnets of the grid are that small",
            ));
        }
        let space = SearchSpace {
            width_mult: *WIDTHS.choose(rng).unwrap(),
            in_channels: *[1, 3].choose(rng).unwrap(),
            classes: *[10, 100].choose(rng).unwrap(),
            ..SearchSpace::default()
        };
        let res = *RESOLUTIONS.choose(rng).unwrap();
        let s = space.sample(rng, res);
        let Ok(net) = from_subnet(&space, &s) else {
            continue;
        };
        let f = fast
            .summary(&net, Scheduler::TinyEngine, true)
            .expect("TinyEngine is on the fast path");
        if f.macs > max_macs || !h743.fits(f.sram_bytes, f.flash_bytes) {
            continue;
        }
        let about = format!(
            "r{res} w{} {}ch {}cls {:.2} M MACs",
            space.width_mult,
            space.in_channels,
            space.classes,
            f.macs as f64 / 1e6
        );
        let (g, ranges) = crate::export::build::random_calibrated(&net, rng, 2)?;
        let q = quantize(&g, &ranges)?;
        let sources = generate(&q, &net, &about)?;
        let inputs = (0..images)
            .map(|_| {
                let px: Vec<u8> = (0..q.graph.input().len()).map(|_| rng.random()).collect();
                q.input_from_pixels(&px)
            })
            .collect();
        out.push(Model {
            about,
            net,
            q,
            sources,
            inputs,
        });
    }
    Ok(out)
}

/// A device with the QEMU board's memory and `core`.
fn board(core: Core) -> Device {
    Device {
        name: format!("qemu-{}", core_key(core)),
        sram_bytes: 4 << 20,
        flash_bytes: 4 << 20,
        core: Some(core),
        clock_mhz: None,
    }
}

/// The op classes of a model's generated steps (the MCU graph's ops, which they follow one for
/// one) with their features.
fn classes(net: &Network) -> Vec<(Option<&'static str>, latency::Features)> {
    let mut v = Vec::new();
    walk_ops(net, false, |o| {
        v.push((
            op_class(o.kind, o.kernel_size, o.stride),
            latency::op_features(o),
        ))
    });
    v
}

fn fit_core(
    obs: &dyn Observer,
    tc: &toolchain::Toolchain,
    dir: &Path,
    core: Core,
    fit_models: &[Model],
    held: &[Model],
    csv: Option<&mut String>,
) -> Result<CoreTable> {
    let device = board(core);
    let mut samples = Vec::new();
    let t = Instant::now();
    for (i, m) in fit_models.iter().enumerate() {
        let p = profile::profile(tc, dir, &m.q, &m.sources, &device, &m.inputs)?;
        let ops = classes(&m.net);
        if ops.len() != p.layers.len() {
            return Err(Error::Mismatch(format!(
                "{}: the generated C has {} layers, the MCU graph {} ops",
                m.about,
                p.layers.len(),
                ops.len()
            )));
        }
        for ((class, features), &n) in ops.into_iter().zip(&p.layers) {
            let class = class.ok_or_else(|| {
                Error::Invalid(format!("{}: an op the generated C cannot run", m.about))
            })?;
            samples.push(Sample {
                class: class.to_string(),
                features,
                instructions: n,
                network_instructions: p.total,
            });
        }
        obs.message(&format!(
            "  {} fit {}/{}: {} ({:.1} M instructions, {:.0} s so far)",
            core.name(),
            i + 1,
            fit_models.len(),
            m.about,
            p.total / 1e6,
            t.elapsed().as_secs_f64()
        ));
    }
    if let Some(csv) = csv {
        for s in &samples {
            let f = &s.features;
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                core_key(core),
                s.class,
                f.macs,
                f.outputs,
                f.inputs,
                f.channels,
                f.odd_pixel_macs,
                s.instructions,
                s.network_instructions
            ));
        }
    }
    let ops = fit(&samples);
    let mut layers = BTreeMap::new();
    for s in &samples {
        *layers.entry(s.class.clone()).or_insert(0) += 1;
    }
    let mut table = CoreTable {
        ops,
        layers,
        check: HeldOut::default(),
    };
    let mut errors = Vec::new();
    for (i, m) in held.iter().enumerate() {
        let link = target::build(tc, dir, &m.sources, &device)?;
        let run = qemu::run(tc, &link, dir, &m.inputs, m.q.graph.classes())?;
        crate::firmware::compare(&m.q, &m.inputs, &run.logits, "the firmware")?;
        let measured = run.instructions.iter().sum::<u64>() as f64 / m.inputs.len() as f64;
        let predicted = latency::instructions(&table, &m.net)
            .ok_or_else(|| Error::Invalid(format!("{}: an op the table cannot price", m.about)))?
            as f64;
        let err = 100.0 * (predicted - measured) / measured;
        obs.message(&format!(
            "  {} held-out {}/{}: {}: QEMU {:.3} M, predicted {:.3} M ({err:+.2} %)",
            core.name(),
            i + 1,
            held.len(),
            m.about,
            measured / 1e6,
            predicted / 1e6
        ));
        errors.push(err);
    }
    table.check = HeldOut {
        subnets: errors.len(),
        mean_abs_error_pct: errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len() as f64,
        worst_error_pct: errors
            .iter()
            .copied()
            .fold(0.0, |a: f64, e| if e.abs() > a.abs() { e } else { a }),
    };
    Ok(table)
}

fn gcc_version(tc: &toolchain::Toolchain) -> String {
    std::process::Command::new(&tc.gcc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default()
}

/// Fits the table on `b.fit` subnets, checks it on `b.held_out` others and writes it to `b.out`
/// (and every profiled layer to `b.layers_csv`); progress goes to `obs`.
pub fn latency(b: &LatencyOptions, obs: &dyn Observer) -> Result<LatencyReport> {
    let tc = toolchain::Toolchain::find()?;
    let t = Instant::now();
    let mut rng = StdRng::seed_from_u64(b.seed ^ 0x1a7e);
    let max = (b.max_mmacs * 1e6) as u64;
    obs.message(&format!(
        "sampling {} + {} subnets (at most {} M MACs, fitting an STM32H743)",
        b.fit, b.held_out, b.max_mmacs
    ));
    let fit_models = sample(&mut rng, b.fit, max, b.images)?;
    let held = sample(&mut rng, b.held_out, max, b.images)?;
    let dir = std::env::temp_dir().join(format!("tinynas-latency-{}", std::process::id()));
    let mut cores = BTreeMap::new();
    let mut csv = b
        .layers_csv
        .as_ref()
        .map(|_| "core,class,macs,outputs,inputs,channels,odd_pixel_macs,instructions,network_instructions\n".to_string());
    let result = (|| -> Result<()> {
        for core in [Core::CortexM4F, Core::CortexM7] {
            let table = fit_core(obs, &tc, &dir, core, &fit_models, &held, csv.as_mut())?;
            cores.insert(core_key(core).to_string(), table);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    if let (Some(path), Some(text)) = (&b.layers_csv, &csv) {
        std::fs::write(path, text).map_err(|e| Error::Write {
            path: path.display().to_string(),
            source: e,
        })?;
    }
    let table = LatencyTable {
        about: format!(
            "Instructions of the generated C's layers under QEMU (-icount shift=0), fitted per op class by least squares on {} random subnets; checked on {} others (whole inference). Instructions, not cycles: see src/mcu/latency.rs for the cycles-per-instruction constants.",
            b.fit, b.held_out
        ),
        command: format!(
            "tinynas bench latency --fit {} --held-out {} --max-mmacs {} --images {} --seed {}",
            b.fit, b.held_out, b.max_mmacs, b.images, b.seed
        ),
        toolchain: gcc_version(&tc),
        cores,
    };
    let text = serde_json::to_string_pretty(&table).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(&b.out, text + "\n").map_err(|e| Error::Write {
        path: b.out.display().to_string(),
        source: e,
    })?;
    Ok(LatencyReport {
        table,
        out: b.out.clone(),
        secs: t.elapsed().as_secs_f64(),
    })
}
