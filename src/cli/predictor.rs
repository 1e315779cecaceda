//! `tinynas predictor collect|fit`: one library call each (`crate::pipeline::predictor`), the
//! report printed.

use super::console::Console;
use crate::Result;
use crate::error::Field;
use crate::pipeline::predictor::{collect_run, fit_run};
use crate::search::predictor::{FitOptions, Predictor};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum PredictorCommand {
    /// Measure random subnets of a trained run (BN recalibration, validation top-1) into
    /// RUN/accuracy_pairs.jsonl.
    Collect(CollectArgs),
    /// Fit the MLP on RUN/accuracy_pairs.jsonl (on the GPU) into RUN/predictor.json.
    Fit(FitArgs),
}

#[derive(Args, Clone)]
pub struct CollectArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[arg(long)]
    pub run: PathBuf,
    /// Subnets to measure (those already in the file count).
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
}

#[derive(Args, Clone)]
pub struct FitArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[arg(long)]
    pub run: PathBuf,
    /// Units in each of the MLP's two hidden layers (OFA's predictor, fitted on thousands of
    /// measured subnets: 400).
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Full-batch Adam steps at most; early stopping on 15 % of the training pairs usually
    /// ends sooner.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Adam's weight decay on the MLP's weights (OFA's: 1e-4, for thousands of subnets).
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f32,
    /// Share of the pairs held out for the reported RMSE and Kendall's τ.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Folds of the cross-validation reported beside the held-out figures (0: none).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Early stopping: checks (every 10 steps) without improvement before the fit stops.
    #[arg(long, default_value_t = 20)]
    pub patience: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn print_fit(p: &Predictor) {
    if let Some(r) = &p.report {
        println!(
            "{}",
            super::flags::words(&crate::pipeline::predictor::describe_fit(r))
        );
    }
}

pub fn predictor(c: PredictorCommand) -> Result<()> {
    match c {
        PredictorCommand::Collect(a) => {
            // Under mpirun, the ranks measure the subnets between them; rank 0 writes.
            let comm = crate::train::dist::join()?;
            let result = collect_cmd(&a, &comm);
            super::end_ranks(comm, result)
        }
        PredictorCommand::Fit(a) => {
            let o = FitOptions {
                hidden: a.hidden,
                iterations: a.iterations,
                lr: a.lr,
                weight_decay: a.weight_decay,
                holdout: a.holdout,
                folds: a.folds,
                patience: a.patience,
                seed: a.seed,
            };
            let p = fit_run(|| a.gpu.engine(), &a.run, &o)?;
            print_fit(&p);
            println!("wrote {}", a.run.join("predictor.json").display());
            Ok(())
        }
    }
}

/// `predictor collect` on this rank (alone, or one of several under mpirun).
fn collect_cmd(
    a: &CollectArgs,
    comm: &std::rc::Rc<dyn crate::train::dist::Collective>,
) -> Result<()> {
    let lead = comm.rank() == 0;
    crate::bounds::int(Field::N, a.n, 1, 1_000_000)?;
    crate::bounds::recal_images(a.recal_images)?;
    let console: std::rc::Rc<dyn crate::observer::Observer> = if lead {
        Console::new()
    } else {
        std::rc::Rc::new(crate::observer::Silent)
    };
    let t = Instant::now();
    let pairs = collect_run(
        || super::rank_engine(&a.gpu, &**comm),
        &a.run,
        a.n,
        a.seed,
        a.recal_images,
        &*console,
        &**comm,
    )?;
    if lead {
        println!(
            "{} measured subnets in {} ({:.1} s this time{}); top-1 from {:.2} % to {:.2} %",
            pairs.len(),
            a.run.join("accuracy_pairs.jsonl").display(),
            t.elapsed().as_secs_f64(),
            if comm.size() > 1 {
                format!(", {} ranks", comm.size())
            } else {
                String::new()
            },
            pairs.iter().map(|p| p.top1).fold(f64::INFINITY, f64::min) * 100.0,
            pairs.iter().map(|p| p.top1).fold(0.0, f64::max) * 100.0
        );
    }
    Ok(())
}
