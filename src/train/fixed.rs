//! Training one fixed network from scratch (`tinynas train-mobilenet`): the network of a
//! description (`arch::net::Network`, default the small MobileNet of `arch::models`), SGD
//! Nesterov with a cosine schedule, label smoothing, test top-1 after every epoch, and the
//! supernet run's checkpoints (safetensors + state.json, atomic) from which `resume` continues.

use super::checkpoint::{self, restore, snapshot};
use crate::arch::models::small_mobilenet;
use crate::arch::net::{Input, Network};
use crate::autograd::ops::norm::BnMode;
use crate::data::{Dataset, load_dir};
use crate::nn::net::Net;
use crate::nn::{CosineSchedule, Module, Sgd};
use crate::observer::Observer;
use crate::{Engine, Error, Result};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// What to train and how.
pub struct FixedOptions {
    /// Dataset folder (idx, CIFAR binary batches or image folders), stored absolute in the run.
    pub data: PathBuf,
    /// Image folders are resized to this size; `None`: the network's resolution, else 32.
    pub image_size: Option<usize>,
    /// The network; `None`: `small_mobilenet` at the data's size, channels and classes.
    pub network: Option<Network>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub label_smoothing: f32,
    pub seed: u64,
    /// Run directory for checkpoints (none: nothing is written).
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub checkpoint_every: usize,
    pub max_steps: Option<usize>,
    /// Profile steps 1..=n after one warm-up step, the trace written to this file.
    pub profile: Option<(PathBuf, usize)>,
}

/// One finished epoch.
#[derive(Clone, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_top1: f64,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct FixedReport {
    pub network: Network,
    pub params: usize,
    pub data: String,
    /// The step the run started from (0, or the checkpoint's when resumed).
    pub resumed_at: usize,
    pub steps: usize,
    pub seconds: f64,
    pub images_per_s: f64,
    pub epochs: Vec<EpochReport>,
    /// Stopped by `max_steps` before the last epoch ended.
    pub stopped: bool,
    pub test_images: usize,
    /// Mean step time (s) of the profiled steps and of the steps after them.
    pub profile_overhead: Option<(f64, f64)>,
    pub adapter: String,
}

impl FixedReport {
    pub fn final_top1(&self) -> Option<f64> {
        self.epochs.last().map(|e| e.test_top1)
    }
}

/// Top-1 accuracy of `net` over `ds`, batch norm in evaluation mode.
pub fn evaluate(e: &Rc<Engine>, net: &Net, ds: &Dataset, batch: usize) -> Result<f64> {
    let _g = e.no_grad();
    let mut correct = 0;
    let idx: Vec<usize> = (0..ds.len()).collect();
    let k = net.classes();
    for chunk in idx.chunks(batch) {
        let (x, y) = ds.batch(chunk);
        let tx = e.tensor(&x, &[chunk.len(), ds.channels, ds.height, ds.width])?;
        let logits = net.forward(&tx, BnMode::Eval)?.to_vec()?;
        for (r, &label) in y.iter().enumerate() {
            let row = &logits[r * k..(r + 1) * k];
            let arg = (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += (arg == label as usize) as usize;
        }
    }
    Ok(correct as f64 / ds.len().max(1) as f64)
}

impl FixedOptions {
    /// Every option checked, before any work (the CLI calls it before opening the GPU).
    pub fn validate(&self) -> Result<()> {
        check(self)
    }
}

fn check(o: &FixedOptions) -> Result<()> {
    use crate::bounds::{int, positive, real};
    int("--epochs", o.epochs, 1, 100_000)?;
    positive("--lr", o.lr as f64, f64::MAX)?;
    real("--weight-decay", o.weight_decay as f64, 0.0, 1.0)?;
    real("--label-smoothing", o.label_smoothing as f64, 0.0, 0.99)?;
    if let Some(s) = o.image_size {
        int("--image-size", s, 1, crate::bounds::MAX_RESOLUTION)?;
    }
    if o.max_steps == Some(0) {
        return Err(Error::Invalid(
            "--max-steps 0: give at least 1 (or leave it out to train every epoch)".into(),
        ));
    }
    if let Some((p, n)) = &o.profile {
        crate::io::check_trace_path(p, "--profile")?;
        int("--profile-steps", *n, 1, 100_000)?;
    }
    if let Some(out) = &o.out {
        crate::io::check_out_dir(out, "--out")?;
        crate::io::check_lock(out, "--out")?;
        if o.resume && !out.join("state.json").is_file() {
            return Err(Error::Invalid(format!(
                "--resume: {} holds no run to continue (no state.json): nothing to resume",
                out.display()
            )));
        }
    }
    if let (Some(s), Some(n)) = (o.image_size, &o.network)
        && s != n.input.resolution
    {
        return Err(Error::Invalid(format!(
            "--image-size {s} differs from the --net network's input resolution {}; leave --image-size out (image folders are resized to the network's resolution)",
            n.input.resolution
        )));
    }
    if o.image_size.is_some() && !o.data.join("train").is_dir() {
        return Err(Error::Invalid(format!(
            "--image-size applies to image folders (train/<class>/, test/<class>/); {} is not one",
            o.data.display()
        )));
    }
    Ok(())
}

/// The network to train on images of `ds`: the given one, which must take them as they are,
/// or the small MobileNet at their size.
fn network_for(o: &FixedOptions, ds: &Dataset, test: &Dataset) -> Result<Network> {
    if ds.height != ds.width {
        return Err(Error::Invalid(format!(
            "--data {}: the images are {}×{}; the networks take square images (image folders are resized to a square --image-size)",
            o.data.display(),
            ds.height,
            ds.width
        )));
    }
    let Some(n) = o.network.as_ref() else {
        let input = Input {
            resolution: ds.height,
            channels: ds.channels,
        };
        let n = small_mobilenet(input, ds.classes);
        return n.validate().map(|_| n).map_err(|e| {
            let what = match o.image_size {
                Some(s) => format!("--image-size {s}"),
                None => format!("--data {}", o.data.display()),
            };
            Error::Invalid(format!(
                "{what}: {}×{} images are too small for the small MobileNet ({e})",
                ds.height, ds.width
            ))
        });
    };
    if n.input.channels != ds.channels || n.input.resolution != ds.height {
        return Err(Error::Invalid(format!(
            "--net: the network takes {}-channel {r}×{r} images but the data's are {}-channel {}×{}; set its input to match (image folders are resized to the network's resolution)",
            n.input.channels,
            ds.channels,
            ds.height,
            ds.width,
            r = n.input.resolution,
        )));
    }
    // The labels present, not `classes` (which idx data floors at 10).
    let labels = ds
        .labels
        .iter()
        .chain(&test.labels)
        .max()
        .map_or(0, |&l| l as usize + 1);
    if n.classes < labels {
        return Err(Error::Invalid(format!(
            "--net: the network has {} classes but the data has labels up to {}; set its classes",
            n.classes,
            labels - 1
        )));
    }
    let mut n = n.clone();
    if n.name.is_empty() {
        n.name = "network".into();
    }
    Ok(n)
}

/// Train (or continue, with `resume`) the network of `o` and report every epoch's test top-1.
pub fn train_fixed(e: &Rc<Engine>, o: &FixedOptions, obs: &dyn Observer) -> Result<FixedReport> {
    check(o)?;
    // Stored absolute, so that the run can be resumed from any folder.
    let dir = std::path::absolute(&o.data)?;
    let size = o
        .image_size
        .or(o.network.as_ref().map(|n| n.input.resolution))
        .unwrap_or(32);
    let (train, test) = load_dir(&dir, size)?;
    if o.batch < 2 || o.batch > train.len() {
        return Err(Error::Invalid(format!(
            "--batch {} must be between 2 and the {} training images",
            o.batch,
            train.len()
        )));
    }
    let network = network_for(o, &train, &test)?;
    let net = Net::new(e, &network, o.seed).map_err(|err| match (&o.network, err) {
        (Some(_), Error::Invalid(m)) => Error::Invalid(format!("--net: {m}")),
        (_, err) => err,
    })?;
    let params = net.param_list();
    let n_params: usize = params.iter().map(|p| p.tensor.numel()).sum();
    let data = crate::data::describe_splits(&train, &test);
    obs.message(&format!("data: {data}"));
    obs.message(&format!(
        "model: {} ({n_params} parameters), batch {}, {} epochs",
        network.name, o.batch, o.epochs
    ));
    let sgd = Sgd::new(e, params, 0.9, true, o.weight_decay)?;
    let steps_per_epoch = train.len() / o.batch;
    let total = steps_per_epoch * o.epochs;
    let sched = CosineSchedule {
        base: o.lr,
        min: 0.0,
        warmup: steps_per_epoch.min(total / 10 + 1),
        total,
    };
    let mut run_config = serde_json::json!({
        "data": dir.display().to_string(), "epochs": o.epochs, "batch": o.batch, "lr": o.lr,
        "weight_decay": o.weight_decay, "label_smoothing": o.label_smoothing, "seed": o.seed,
    });
    // A run of the default network keeps the settings runs made before `--net` existed.
    // Its name is not a setting: a renamed description continues the run.
    if o.network.is_some() {
        let mut stored = network.clone();
        stored.name.clear();
        run_config["network"] = serde_json::to_value(&stored).expect("a network serialises");
    }
    let _lock = match &o.out {
        Some(out) => Some(crate::io::lock_dir(out, "--out")?),
        None => None,
    };
    let mut step = 0;
    match (&o.out, o.resume) {
        (Some(out), false) => checkpoint::refuse_overwrite(out)?,
        (Some(out), true) => {
            let (state, tensors) = checkpoint::load(out)?;
            if state.config != run_config {
                return Err(Error::Invalid(format!(
                    "--resume: the run in {} used other settings ({}): {}, this command gives {run_config}; use the same settings",
                    out.display(),
                    super::run::differing_fields(&state.config, &run_config).join(", "),
                    state.config
                )));
            }
            checkpoint::check_max_steps(o.max_steps, out, state.step)?;
            restore(e, &net, &sgd, tensors)?;
            step = state.step;
            obs.message(&format!(
                "resumed {} at step {step} (epoch {})",
                out.display(),
                state.epoch
            ));
        }
        (None, _) => {}
    }
    let save = |step: usize, epoch: usize| -> Result<()> {
        match &o.out {
            Some(out) => checkpoint::save(
                out,
                step,
                epoch,
                run_config.clone(),
                &snapshot(e, &net, &sgd)?,
            ),
            None => Ok(()),
        }
    };
    let mut report = FixedReport {
        network: network.clone(),
        params: n_params,
        data,
        resumed_at: step,
        steps: step,
        seconds: 0.0,
        images_per_s: 0.0,
        epochs: Vec::new(),
        stopped: false,
        test_images: test.len(),
        profile_overhead: None,
        adapter: e.gpu.info.name.clone(),
    };
    obs.start("", total, step);
    let first_epoch = step / steps_per_epoch.max(1);
    let mut skip = step % steps_per_epoch.max(1);
    let start = Instant::now();
    let mut step_secs = Vec::new();
    let shape = |n: usize| [n, train.channels, train.height, train.width];
    'epochs: for epoch in first_epoch..o.epochs {
        let (mut loss_sum, mut count) = (0.0, 0);
        // A resumed run skips the batches of this epoch it has already trained on.
        let order_seed = o.seed.wrapping_mul(1000).wrapping_add(epoch as u64);
        let batches = train.epoch_batches(o.batch, order_seed);
        for idx in batches.into_iter().skip(std::mem::take(&mut skip)) {
            let step_start = Instant::now();
            // Profiled: the steps after this run's first (a warm-up), counted from where it began.
            if o.profile.is_some() && step == report.resumed_at + 1 {
                e.gpu.start_profiling(false);
            }
            let (x, y) = train.batch(&idx);
            e.gpu.cpu_span("data", step_start);
            let tx = e.tensor(&x, &shape(idx.len()))?;
            let ty = e.tensor(&y, &[idx.len()])?;
            let momentum = crate::nn::layers::BN_MOMENTUM;
            let loss = net
                .forward(&tx, BnMode::Train { momentum })?
                .cross_entropy(&ty, o.label_smoothing)?;
            e.backward(&loss)?;
            sgd.step(e, sched.lr(step))?;
            sgd.zero_grad(e);
            let l = loss.item()?;
            if !l.is_finite() {
                obs.end();
                return Err(Error::NonFinite {
                    at: format!("step {step} (epoch {epoch})"),
                    value: l,
                });
            }
            loss_sum += l as f64;
            count += 1;
            step += 1;
            step_secs.push(step_start.elapsed().as_secs_f64());
            if let Some((path, n)) = &o.profile
                && step == report.resumed_at + 1 + n
            {
                obs.profile(&crate::io::finish_profiling(&e.gpu, path)?, path);
            }
            let ips = ((step - report.resumed_at) * o.batch) as f64 / start.elapsed().as_secs_f64();
            obs.step(&format!(
                "epoch {epoch} loss {l:.3} lr {:.4} {ips:.0} img/s",
                sched.lr(step)
            ));
            if o.max_steps == Some(step) {
                save(step, epoch)?;
                report.stopped = true;
                break 'epochs;
            }
            if o.checkpoint_every > 0 && step.is_multiple_of(o.checkpoint_every) {
                save(step, epoch)?;
            }
        }
        save(step, epoch + 1)?;
        let test_top1 = evaluate(e, &net, &test, 250)?;
        let train_loss = loss_sum / count.max(1) as f64;
        obs.message(&format!(
            "epoch {epoch}: train loss {train_loss:.4}, test top-1 {:.2} %",
            test_top1 * 100.0
        ));
        report.epochs.push(EpochReport {
            epoch,
            train_loss,
            test_top1,
        });
    }
    obs.end();
    if let Some((path, n)) = &o.profile {
        // The run ended before its profiled steps did: the trace of those it ran, or a word.
        let ran = (step - report.resumed_at).saturating_sub(1);
        if e.gpu.profiling() {
            obs.profile(&crate::io::finish_profiling(&e.gpu, path)?, path);
            obs.message(&format!(
                "--profile-steps {n}: the run ended after {ran} profiled step(s); the trace holds those"
            ));
        } else if ran == 0 {
            obs.message(&format!(
                "--profile: the run ended after its first (warm-up) step; no step profiled, no trace written to {}",
                path.display()
            ));
        }
    }
    report.steps = step;
    report.seconds = start.elapsed().as_secs_f64();
    report.images_per_s = ((step - report.resumed_at) * o.batch) as f64 / report.seconds;
    if let Some((_, n)) = &o.profile
        && step_secs.len() > 2 * n + 1
    {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        report.profile_overhead = Some((mean(&step_secs[1..=*n]), mean(&step_secs[1 + n..])));
    }
    Ok(report)
}
