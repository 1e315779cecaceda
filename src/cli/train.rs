//! `tinynas train` / `tinynas demo`: train the small MobileNet and report loss and top-1.

use super::GpuArgs;
use crate::autograd::ops::norm::BnMode;
use crate::data::{Dataset, load_dir};
use crate::nn::mobilenet::{MobileNet, MobileNetConfig};
use crate::nn::{CosineSchedule, Module, Sgd};
use crate::train::checkpoint::{self, restore, snapshot};
use crate::{Engine, Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Clone)]
pub struct TrainArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    /// Dataset folder: MNIST-style idx(.gz) files, CIFAR-10/100 binary batches, or image
    /// folders train/<class>/ and test/<class>/ (default: the bundled Fashion-MNIST subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Image folders: the size images are resized to (default 32; refused for other data).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Peak learning rate (SGD Nesterov, cosine schedule with warm-up).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    #[arg(long, default_value_t = 4e-5)]
    pub weight_decay: f32,
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Profile steps 1..=N (after one warm-up step): per-kernel table, and a Chrome/Perfetto
    /// trace written to this file.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Steps to profile with --profile.
    #[arg(long, default_value_t = 5, requires = "profile")]
    pub profile_steps: usize,
    /// Run directory: checkpoints (safetensors + state.json, written atomically) at every epoch
    /// end, every --checkpoint-every steps, and at --max-steps.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (same settings required).
    #[arg(long, requires = "out")]
    pub resume: bool,
    #[arg(long, default_value_t = 0, requires = "out")]
    pub checkpoint_every: usize,
    /// Stop (with a checkpoint) after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<usize>,
}

/// Top-1 accuracy over a dataset, batch-norm in evaluation mode.
pub fn evaluate(
    e: &std::rc::Rc<Engine>,
    net: &MobileNet,
    ds: &Dataset,
    batch: usize,
) -> Result<f64> {
    let _g = e.no_grad();
    let mut correct = 0;
    let idx: Vec<usize> = (0..ds.len()).collect();
    for chunk in idx.chunks(batch) {
        let (x, y) = ds.batch(chunk);
        let tx = e.tensor(&x, &[chunk.len(), ds.channels, ds.height, ds.width])?;
        let logits = net.forward(&tx, BnMode::Eval)?.to_vec()?;
        let k = net.config.classes;
        for (r, &label) in y.iter().enumerate() {
            let row = &logits[r * k..(r + 1) * k];
            let arg = (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += (arg == label as usize) as usize;
        }
    }
    Ok(correct as f64 / ds.len().max(1) as f64)
}

pub fn run(g: &GpuArgs, a: &TrainArgs, demo: bool) -> Result<()> {
    use crate::bounds::{int, positive, real};
    int("--epochs", a.epochs, 1, 100_000)?;
    positive("--lr", a.lr as f64, f64::MAX)?;
    real("--weight-decay", a.weight_decay as f64, 0.0, 1.0)?;
    real("--label-smoothing", a.label_smoothing as f64, 0.0, 0.99)?;
    let image_size = a.image_size.unwrap_or(32);
    int("--image-size", image_size, 1, crate::bounds::MAX_RESOLUTION)?;
    if a.max_steps == Some(0) {
        return Err(Error::Invalid(
            "--max-steps 0: give at least 1 (or leave it out to train every epoch)".into(),
        ));
    }
    if let Some(p) = &a.profile {
        crate::io::check_trace_path(p, "--profile")?;
    }
    if let Some(out) = &a.out {
        crate::io::check_out_dir(out, "--out")?;
        if a.resume && !out.join("state.json").is_file() {
            return Err(Error::Invalid(format!(
                "--resume: {} holds no run to continue (no state.json): nothing to resume",
                out.display()
            )));
        }
    }
    // Stored absolute, so that the run can be resumed from any folder.
    let dir = std::path::absolute(a.data.clone().unwrap_or_else(super::default_data))?;
    if a.image_size.is_some() && !dir.join("train").is_dir() {
        return Err(Error::Invalid(format!(
            "--image-size applies to image folders (train/<class>/, test/<class>/); {} is not one",
            dir.display()
        )));
    }
    let (train, test) = load_dir(&dir, image_size)?;
    if a.batch < 2 || a.batch > train.len() {
        return Err(Error::Invalid(format!(
            "--batch {} must be between 2 and the {} training images",
            a.batch,
            train.len()
        )));
    }
    if demo {
        println!(
            "tinynas demo: training a small MobileNet (stem + 4 inverted-bottleneck blocks) on {}",
            dir.display()
        );
    }
    println!("data: {}", crate::data::describe_splits(&train, &test));
    let e = g.engine()?;
    let config = MobileNetConfig::small(train.channels, train.classes);
    let net = MobileNet::new(&e, &config, a.seed)?;
    let params = net.param_list();
    let n_params: usize = params.iter().map(|p| p.tensor.numel()).sum();
    println!(
        "model: {} parameters, batch {}, {} epochs",
        n_params, a.batch, a.epochs
    );
    let sgd = Sgd::new(&e, params, 0.9, true, a.weight_decay)?;
    let steps_per_epoch = train.len() / a.batch;
    let total = steps_per_epoch * a.epochs;
    let sched = CosineSchedule {
        base: a.lr,
        min: 0.0,
        warmup: steps_per_epoch.min(total / 10 + 1),
        total,
    };
    let run_config = serde_json::json!({
        "data": dir.display().to_string(), "epochs": a.epochs, "batch": a.batch, "lr": a.lr,
        "weight_decay": a.weight_decay, "label_smoothing": a.label_smoothing, "seed": a.seed,
    });
    let _lock = match &a.out {
        Some(out) => Some(crate::io::lock_dir(out, "--out")?),
        None => None,
    };
    let mut step = 0;
    if !a.resume
        && let Some(out) = &a.out
    {
        checkpoint::refuse_overwrite(out)?;
    }
    if a.resume {
        let out = a.out.as_ref().expect("clap: --resume requires --out");
        let (state, tensors) = checkpoint::load(out)?;
        if state.config != run_config {
            return Err(Error::Invalid(format!(
                "--resume: the run in {} used other settings ({}): {}, this command gives {run_config}; use the same settings",
                out.display(),
                crate::train::run::differing_fields(&state.config, &run_config).join(", "),
                state.config
            )));
        }
        restore(&e, &net, &sgd, tensors)?;
        step = state.step;
        println!(
            "resumed {} at step {step} (epoch {})",
            out.display(),
            state.epoch
        );
    }
    let save = |step: usize, epoch: usize| -> Result<()> {
        match &a.out {
            Some(out) => checkpoint::save(
                out,
                step,
                epoch,
                run_config.clone(),
                &snapshot(&e, &net, &sgd)?,
            ),
            None => Ok(()),
        }
    };
    let bar = super::console::progress(total, true, "");
    bar.set_position(step as u64);
    let first_epoch = step / steps_per_epoch.max(1);
    let mut skip = step % steps_per_epoch.max(1);
    let start = Instant::now();
    let mut acc = 0.0;
    let mut step_secs = Vec::new();
    for epoch in first_epoch..a.epochs {
        let (mut loss_sum, mut count) = (0.0, 0);
        // A resumed run skips the batches of this epoch it has already trained on.
        let batches = train.epoch_batches(a.batch, a.seed * 1000 + epoch as u64);
        for idx in batches.into_iter().skip(std::mem::take(&mut skip)) {
            let step_start = Instant::now();
            if a.profile.is_some() && step == 1 {
                e.gpu.start_profiling(false);
            }
            let (x, y) = train.batch(&idx);
            e.gpu.cpu_span("data", step_start);
            let tx = e.tensor(&x, &[idx.len(), train.channels, train.height, train.width])?;
            let ty = e.tensor(&y, &[idx.len()])?;
            let loss = net
                .forward(
                    &tx,
                    BnMode::Train {
                        momentum: crate::nn::layers::BN_MOMENTUM,
                    },
                )?
                .cross_entropy(&ty, a.label_smoothing)?;
            e.backward(&loss)?;
            sgd.step(&e, sched.lr(step))?;
            sgd.zero_grad(&e);
            let l = loss.item()?;
            if !l.is_finite() {
                bar.abandon();
                return Err(Error::NonFinite {
                    at: format!("step {step} (epoch {epoch})"),
                    value: l,
                });
            }
            loss_sum += l as f64;
            count += 1;
            step += 1;
            step_secs.push(step_start.elapsed().as_secs_f64());
            if let Some(path) = &a.profile
                && step == 1 + a.profile_steps
            {
                let rep = e.gpu.finish_profiling(path)?;
                bar.suspend(|| rep.print_with_trace(path));
            }
            let ips = (step * a.batch) as f64 / start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "epoch {epoch} loss {l:.3} lr {:.4} {ips:.0} img/s",
                sched.lr(step)
            ));
            bar.inc(1);
            if a.max_steps == Some(step) {
                save(step, epoch)?;
                bar.abandon();
                println!(
                    "stopped after step {step} (--max-steps){}",
                    if a.out.is_some() {
                        "; continue with --resume"
                    } else {
                        ""
                    }
                );
                return Ok(());
            }
            if a.checkpoint_every > 0 && step % a.checkpoint_every == 0 {
                save(step, epoch)?;
            }
        }
        save(step, epoch + 1)?;
        acc = evaluate(&e, &net, &test, 250)?;
        // `suspend` prints even when the bar is hidden (output not a terminal).
        bar.suspend(|| {
            println!(
                "epoch {epoch}: train loss {:.4}, test top-1 {:.2} %",
                loss_sum / count.max(1) as f64,
                acc * 100.0
            )
        });
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if a.profile.is_some() && step_secs.len() > 2 * a.profile_steps + 1 {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let profiled = mean(&step_secs[1..=a.profile_steps]);
        let plain = mean(&step_secs[1 + a.profile_steps..]);
        println!(
            "profiler overhead: {:.1} ms per profiled step vs {:.1} ms unprofiled ({:+.0} %)",
            profiled * 1e3,
            plain * 1e3,
            100.0 * (profiled / plain - 1.0)
        );
    }
    println!(
        "trained {step} steps in {secs:.1} s ({:.0} images/s) on {}",
        (step * a.batch) as f64 / secs,
        e.gpu.info.name
    );
    println!(
        "final test top-1: {:.2} % ({} test images)",
        acc * 100.0,
        test.len()
    );
    Ok(())
}
