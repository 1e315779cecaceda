//! Training one fixed network from scratch (`tinynas train-mobilenet`): the network of a
//! description (`arch::net::Network`, default the small MobileNet of `arch::models`), SGD
//! Nesterov with a cosine schedule, label smoothing, test top-1 after every epoch, and the
//! supernet run's checkpoints (safetensors + state.json, atomic) from which `resume` continues:
//! the loop every run shares (`train::runner`), the step `trainee::FixedTrainee`'s.

pub mod trainee;

use super::runner::{LoopOptions, train_loop};
use crate::arch::models::small_mobilenet;
use crate::arch::net::{Input, Network};
use crate::data::{Dataset, load_dir};
use crate::error::Field;
use crate::nn::Module;
use crate::nn::net::Net;
use crate::observer::Observer;
use crate::{Engine, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::rc::Rc;
use trainee::{EpochReport, FixedTrainee};

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

impl FixedOptions {
    /// Every option checked, before any work (the CLI calls it before opening the GPU).
    pub fn validate(&self) -> Result<()> {
        check(self)
    }
}

fn check(o: &FixedOptions) -> Result<()> {
    use crate::bounds::{int, positive, real};
    int(Field::Epochs, o.epochs, 1, 100_000)?;
    positive(Field::Lr, o.lr as f64, f64::MAX)?;
    real(Field::WeightDecay, o.weight_decay as f64, 0.0, 1.0)?;
    real(Field::LabelSmoothing, o.label_smoothing as f64, 0.0, 0.99)?;
    if let Some(s) = o.image_size {
        int(Field::ImageSize, s, 1, crate::bounds::MAX_RESOLUTION)?;
    }
    if o.max_steps == Some(0) {
        return Err(Error::bad(
            Field::MaxSteps,
            0,
            "give at least 1 (or leave it out to train every epoch)",
        ));
    }
    if let Some((p, n)) = &o.profile {
        crate::io::check_trace_path(p, Field::Profile)?;
        int(Field::ProfileSteps, *n, 1, 100_000)?;
    }
    if let Some(out) = &o.out {
        crate::io::check_out_dir(out, Field::Out)?;
        crate::io::check_lock(out, Field::Out)?;
        if o.resume {
            crate::train::checkpoint::check_has_run(out)?;
        }
    }
    if let (Some(s), Some(n)) = (o.image_size, &o.network)
        && s != n.input.resolution
    {
        return Err(Error::bad(
            Field::ImageSize,
            s,
            format!(
                "differs from the {} network's input resolution {}; leave {} out (image folders are resized to the network's resolution)",
                Field::Net,
                n.input.resolution,
                Field::ImageSize
            ),
        ));
    }
    if o.image_size.is_some() && !o.data.join("train").is_dir() {
        return Err(Error::bad_setting(
            Field::ImageSize,
            format!(
                "applies to image folders (train/<class>/, test/<class>/); {} is not one",
                o.data.display()
            ),
        ));
    }
    Ok(())
}

/// The network to train on images of `ds`: the given one, which must take them as they are,
/// or the small MobileNet at their size.
fn network_for(o: &FixedOptions, ds: &Dataset, test: &Dataset) -> Result<Network> {
    if ds.height != ds.width {
        return Err(Error::bad(
            Field::Data,
            o.data.display(),
            format!(
                "the images are {}×{}; the networks take square images (image folders are resized to a square {})",
                ds.height,
                ds.width,
                Field::ImageSize
            ),
        ));
    }
    let Some(n) = o.network.as_ref() else {
        let input = Input {
            resolution: ds.height,
            channels: ds.channels,
        };
        let n = small_mobilenet(input, ds.classes);
        return n.validate().map(|_| n).map_err(|e| {
            let why = format!(
                "{}×{} images are too small for the small MobileNet ({e})",
                ds.height, ds.width
            );
            match o.image_size {
                Some(s) => Error::bad(Field::ImageSize, s, why),
                None => Error::bad(Field::Data, o.data.display(), why),
            }
        });
    };
    if n.input.channels != ds.channels || n.input.resolution != ds.height {
        return Err(Error::bad_setting(
            Field::Net,
            format!(
                "the network takes {}-channel {r}×{r} images but the data's are {}-channel {}×{}; set its input to match (image folders are resized to the network's resolution)",
                n.input.channels,
                ds.channels,
                ds.height,
                ds.width,
                r = n.input.resolution,
            ),
        ));
    }
    // The labels present, not `classes` (which idx data floors at 10).
    let labels = ds
        .labels
        .iter()
        .chain(&test.labels)
        .max()
        .map_or(0, |&l| l as usize + 1);
    if n.classes < labels {
        return Err(Error::bad_setting(
            Field::Net,
            format!(
                "the network has {} classes but the data has labels up to {}; set its classes",
                n.classes,
                labels - 1
            ),
        ));
    }
    let mut n = n.clone();
    if n.name.is_empty() {
        n.name = "network".into();
    }
    Ok(n)
}

/// A fixed network's run settings, saved in its checkpoints and compared on resume (the
/// fields runs have always stored; `network` only for a described one, without its name).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedConfig {
    /// The dataset folder, absolute.
    pub data: String,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub label_smoothing: f32,
    pub seed: u64,
    /// The described network (absent: the small MobileNet at the data's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
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
        return Err(Error::bad(
            Field::Batch,
            o.batch,
            format!("must be between 2 and the {} training images", train.len()),
        ));
    }
    let network = network_for(o, &train, &test)?;
    let net = Net::new(e, &network, o.seed).map_err(|err| match (&o.network, err) {
        (Some(_), Error::Invalid(m)) => Error::bad_setting(Field::Net, m),
        (_, err) => err,
    })?;
    let n_params: usize = net.param_list().iter().map(|p| p.tensor.numel()).sum();
    let data = crate::data::describe_splits(&train, &test);
    obs.message(&format!("data: {data}"));
    obs.message(&format!(
        "model: {} ({n_params} parameters), batch {}, {} epochs",
        network.name, o.batch, o.epochs
    ));
    let config = FixedConfig {
        data: dir.display().to_string(),
        epochs: o.epochs,
        batch: o.batch,
        lr: o.lr,
        weight_decay: o.weight_decay,
        label_smoothing: o.label_smoothing,
        seed: o.seed,
        // A run of the default network keeps the settings runs made before `--net` existed.
        // Its name is not a setting: a renamed description continues the run.
        network: o.network.as_ref().map(|_| Network {
            name: String::new(),
            ..network.clone()
        }),
    };
    let test_images = test.len();
    let mut trainee = FixedTrainee::new(e, net, train, test, o)?;
    let r = train_loop(
        e,
        &mut trainee,
        &LoopOptions {
            label: "",
            out: o.out.as_deref(),
            config: serde_json::to_value(&config).expect("a run's settings serialise"),
            resume: o.resume,
            ranks: 1,
            lead: true,
            checkpoint_every: o.checkpoint_every,
            max_steps: o.max_steps,
            profile: o.profile.clone(),
            metrics: false,
        },
        obs,
    )?;
    Ok(FixedReport {
        network,
        params: n_params,
        data,
        resumed_at: r.resumed_at,
        steps: r.steps,
        seconds: r.seconds,
        images_per_s: r.work as f64 / r.seconds,
        epochs: trainee.reports,
        stopped: !r.finished,
        test_images,
        profile_overhead: r.profile_overhead,
        adapter: e.gpu.info.name.clone(),
    })
}
