//! The CPU benchmarks. `mem`: MCU evaluations per second (workload 3 of BENCHMARKS.md). `int8`:
//! the integer executor's images/s on one core beside TF Lite Micro's interpreter running the
//! same .tflite (reference kernels, through scripts/runtimes.py), beside the generated C built
//! for the host and beside the exported float network on the CPU (workload 4); the model is a
//! subnet of the MCUNet space with seeded random weights, calibrated on random images: speed
//! does not depend on the values.

use crate::arch::SearchSpace;
use crate::arch::subnet::from_subnet;
use crate::error::Field;
use crate::export::build::Weights;
use crate::export::graph::InputNorm;
use crate::export::{Graph, calibrate, quantize, tflite};
use crate::mcu::fast::Evaluator;
use crate::mcu::{EvalOptions, Scheduler, evaluate};
use crate::{Error, Result};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct MemBenchOptions {
    /// Random subnets evaluated.
    pub count: usize,
    pub res: usize,
    pub width: f64,
}

/// One scheduler's evaluations per second, and the sum of the peaks it found (the same work
/// for every run of the benchmark).
#[derive(Clone, Debug, Serialize)]
pub struct EvalRate {
    pub scheduler: Scheduler,
    pub evals_per_s: f64,
    pub checksum: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemBenchReport {
    pub count: usize,
    pub res: usize,
    pub width: f64,
    /// The fast path (search loops): MACs, params, flash and peak SRAM, no layer table; the
    /// analytic, TF Lite Micro and TinyEngine schedulers.
    pub fast: Vec<EvalRate>,
    /// The full path (the per-layer table and the peak's location as well), every scheduler.
    pub full: Vec<EvalRate>,
}

/// Complete evaluations per second of random subnets on one core (workload 3 of BENCHMARKS.md).
pub fn mem(o: &MemBenchOptions) -> Result<MemBenchReport> {
    let (count, res, width) = (o.count, o.res, o.width);
    let space = SearchSpace {
        in_channels: 3,
        classes: 1000,
        width_mult: width,
        resolutions: vec![res],
        ..SearchSpace::default()
    };
    space.validate().map_err(|e| {
        Error::bad(
            Field::Res,
            res,
            format!("with {} {width}: {e}", Field::Width),
        )
    })?;
    let mut rng = StdRng::seed_from_u64(0);
    let nets: Vec<_> = (0..count)
        .map(|_| from_subnet(&space, &space.sample(&mut rng, res)))
        .collect::<Result<_>>()?;
    let mut ev = Evaluator::default();
    let mut fast = Vec::new();
    for s in [Scheduler::Analytic, Scheduler::Tflm, Scheduler::TinyEngine] {
        let start = Instant::now();
        let mut checksum = 0u64;
        for n in &nets {
            checksum =
                checksum.wrapping_add(ev.summary(n, s, true).expect("fast path").peak_sram_bytes);
        }
        fast.push(EvalRate {
            scheduler: s,
            evals_per_s: count as f64 / start.elapsed().as_secs_f64(),
            checksum,
        });
    }
    let mut full = Vec::new();
    for s in Scheduler::ALL {
        let opts = EvalOptions {
            scheduler: s,
            ..Default::default()
        };
        let start = Instant::now();
        let mut checksum = 0u64;
        for n in &nets {
            checksum = checksum.wrapping_add(evaluate(n, &opts)?.peak_sram_bytes);
        }
        full.push(EvalRate {
            scheduler: s,
            evals_per_s: count as f64 / start.elapsed().as_secs_f64(),
            checksum,
        });
    }
    Ok(MemBenchReport {
        count,
        res,
        width,
        fast,
        full,
    })
}

#[derive(Clone, Debug)]
pub struct Int8BenchOptions {
    pub res: usize,
    pub width: f64,
    /// The space's smallest subnet instead of its largest.
    pub smallest: bool,
    pub images: usize,
    /// A Python with tflite-micro to time TFLM too.
    pub python: Option<PathBuf>,
}

/// The generated C's speed, or the compiler that was not found.
#[derive(Clone, Debug, Serialize)]
pub struct GeneratedC {
    pub compiler: PathBuf,
    /// None: no compiler found, not timed.
    pub images_per_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Int8BenchReport {
    pub res: usize,
    pub width: f64,
    pub smallest: bool,
    pub macs: u64,
    /// Ops of the int8 graph.
    pub ops: usize,
    pub int8_images_per_s: f64,
    pub float_images_per_s: f64,
    pub generated_c: GeneratedC,
    /// TF Lite Micro's interpreter (None without a Python).
    pub tflm_images_per_s: Option<f64>,
}

fn per_s(n: usize, f: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    (0..n).for_each(f);
    n as f64 / t.elapsed().as_secs_f64()
}

/// Images per second of one subnet's int8 executor, float network, generated C and TFLM.
pub fn int8(b: &Int8BenchOptions) -> Result<Int8BenchReport> {
    if let Some(p) = &b.python
        && !p.is_file()
    {
        return Err(Error::bad(
            Field::Python,
            p.display(),
            "no such interpreter (scripts/pyenv.sh prints one with TF Lite Micro installed)",
        ));
    }
    let space = SearchSpace {
        in_channels: 3,
        resolutions: vec![b.res],
        width_mult: b.width,
        ..SearchSpace::default()
    };
    space.validate()?;
    let sub = if b.smallest {
        space.smallest(b.res)
    } else {
        space.largest(b.res)
    };
    let net = space.network(&sub)?;
    let mut rng = StdRng::seed_from_u64(8);
    let norm = InputNorm {
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
    };
    let g = Graph::from_network(&net, norm, |_, [o, i, k, _]| {
        let bound = (3.0 / (i * k * k) as f32).sqrt();
        Ok(Weights {
            weight: (0..o * i * k * k)
                .map(|_| rng.random_range(-bound..bound))
                .collect(),
            bias: (0..o).map(|_| rng.random_range(-0.1..0.1)).collect(),
        })
    })?;
    let pixels: Vec<Vec<u8>> = (0..b.images)
        .map(|_| (0..g.input().len()).map(|_| rng.random()).collect())
        .collect();
    let floats: Vec<Vec<f32>> = pixels.iter().map(|p| g.norm.apply(p)).collect();
    let ranges = calibrate(&g, floats.iter().take(8).map(|v| v.as_slice()));
    let q = quantize(&g, &ranges)?;
    let inputs: Vec<Vec<i8>> = pixels.iter().map(|p| q.input_from_pixels(p)).collect();
    let macs = Evaluator::default()
        .summary(&net, Scheduler::Tflm, false)
        .map_or(0, |s| s.macs);
    let int8 = per_s(b.images, |i| {
        std::hint::black_box(q.logits(&inputs[i]));
    });
    let float = per_s(b.images, |i| {
        std::hint::black_box(g.run_f32(&floats[i]));
    });
    // The generated C runtime of the same model, built with the host's C compiler (-O3) and
    // held to the executor on the same inputs.
    let cc = crate::firmware::host::compiler();
    let c_speed = if crate::firmware::host::compiler_found(&cc) {
        let sources = crate::firmware::generate(&q, &net, "tinynas bench int8")?;
        let dir = std::env::temp_dir().join(format!("tinynas-bench-c-{}", std::process::id()));
        let run = crate::firmware::check_host(
            &q,
            &sources,
            &dir,
            &inputs,
            crate::firmware::host::HostBuild::Optimized,
        );
        let _ = std::fs::remove_dir_all(&dir);
        Some(b.images as f64 / run?.seconds.max(1e-9))
    } else {
        None
    };
    let tflm = match &b.python {
        None => None,
        Some(py) => Some(tflm(py, &q, &inputs, b.images)?),
    };
    Ok(Int8BenchReport {
        res: b.res,
        width: b.width,
        smallest: b.smallest,
        macs,
        ops: q.graph.ops.len(),
        int8_images_per_s: int8,
        float_images_per_s: float,
        generated_c: GeneratedC {
            compiler: cc,
            images_per_s: c_speed,
        },
        tflm_images_per_s: tflm,
    })
}

/// TF Lite Micro's images/s on the same model and inputs, through scripts/runtimes.py.
fn tflm(py: &Path, q: &crate::export::QGraph, inputs: &[Vec<i8>], images: usize) -> Result<f64> {
    let tmp = std::env::temp_dir().join(format!("tinynas-bench-int8-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let model = tmp.join("model.tflite");
    std::fs::write(&model, tflite::write(q, "tinynas bench int8"))?;
    let flat: Vec<u8> = inputs.iter().flatten().map(|&v| v as u8).collect();
    std::fs::write(tmp.join("inputs.bin"), flat)?;
    let out = std::process::Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/runtimes.py"))
        .arg("--time")
        .arg(&model)
        .arg(tmp.join("inputs.bin"))
        .arg(images.to_string())
        .output()?;
    let _ = std::fs::remove_dir_all(&tmp);
    if !out.status.success() {
        return Err(Error::bad(
            Field::Python,
            py.display(),
            format!(
                "the TFLM timing failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    let v: serde_json::Value =
        crate::io::parse_json(&String::from_utf8_lossy(&out.stdout), "TFLM timing output")?;
    Ok(v["images_per_s"].as_f64().unwrap_or(0.0))
}
