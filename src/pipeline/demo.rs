//! The main job end to end: space optimization for the device, a short supernet training in the
//! chosen space (within a CPU's budget of resolution and width), predictor data and fit,
//! evolutionary search, and the chosen model measured on the test split. Every option is
//! checked before any work; what happens is told to an `Observer`; the result is a report.

use super::demo_options::{DemoOptions, Settings, settings};
use super::evidence::Pair;
use super::export::{ExportOptions, ExportReport, export};
use super::predictor::{collect, fit};
use super::search::run_search;
use super::search_outputs::SearchReport;
use super::space::write_space_outputs;
use crate::arch::SearchSpace;
use crate::error::Field;
use crate::observer::Observer;
use crate::search::describe_limits;
use crate::search::fit_report::FitReport;
use crate::search::space::{SpaceResult, latency_binding, rank_spaces};
use crate::train::config::RunSummary;
use crate::train::open::open_run;
use crate::train::supernet_run::{RunOptions, train_supernet};
use crate::{Engine, Error, Result};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct DemoReport {
    pub out: PathBuf,
    /// Every space of the grid, best first.
    pub spaces: Vec<SpaceResult>,
    /// The space trained (the best within the training budget) and its rank in `spaces`.
    pub space: SearchSpace,
    pub space_rank: usize,
    pub train: RunSummary,
    pub measured: Vec<Pair>,
    pub predictor: Option<FitReport>,
    pub search: SearchReport,
    /// The chosen subnet exported (in out/export): generated C, .tflite, C array.
    pub export: ExportReport,
    /// Why the export was not linked for the device and run in QEMU (settings as fields).
    pub device_check_skipped: Option<String>,
    pub seconds: f64,
}

/// Run the demo. `engine` is called once the CPU-only space optimization is done.
pub fn demo(
    engine: impl FnOnce() -> Result<Rc<Engine>>,
    o: &DemoOptions,
    observer: &Rc<dyn Observer>,
) -> Result<DemoReport> {
    let t0 = Instant::now();
    let obs = &**observer;
    let out = &o.out;
    crate::io::check_out_dir(out, Field::Out)?;
    crate::io::check_lock(out, Field::Out)?;
    let (train, test) = crate::data::load_any(&o.data, 32)?;
    let base = SearchSpace {
        in_channels: train.channels,
        classes: train.classes,
        ..SearchSpace::default()
    };
    let Settings {
        mut cfg,
        fit_options,
        search_o,
        so,
    } = settings(o, &train, &base)?;
    let _lock = crate::io::lock_dir(out, Field::Out)?;
    if out.join("train").join("state.json").exists() {
        return Err(Error::bad(
            Field::Out,
            out.display(),
            format!("already holds a demo run; choose another {}", Field::Out),
        ));
    }
    obs.message(&format!(
        "tinynas demo: the most accurate model for {} on {} ({})",
        describe_limits(&o.limits),
        o.data.display(),
        crate::data::describe_splits(&train, &test)
    ));

    // 1. Space optimization over the full grid.
    obs.message(
        "\n[1/6] space optimization: which (resolution, width) space holds the most computation that fits",
    );
    let t = Instant::now();
    let ranked = rank_spaces(&so)?;
    obs.ranking(
        &format!(
            "{} spaces × {} subnets in {:.2} s",
            ranked.len(),
            so.samples,
            t.elapsed().as_secs_f64()
        ),
        &ranked,
    );
    {
        // Every writer of a folder holds its lock (a `space --out` there is refused meanwhile).
        let _lock = crate::io::lock_dir(&out.join("space"), Field::Out)?;
        write_space_outputs(&out.join("space"), &so, &ranked, 5, obs)?;
    }
    let (rank, chosen) = ranked
        .iter()
        .enumerate()
        .find(|(_, s)| !s.too_few && s.resolution <= o.max_res && s.width <= o.max_width + 1e-9)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no space within the demo's training budget (resolution ≤ {}, width ≤ {}) fits {}",
                o.max_res,
                o.max_width,
                describe_limits(&o.limits)
            ))
        })?;
    if rank > 0 {
        obs.message(&format!(
            "overall best: resolution {}, width {}; within this demo's training budget for a 2-core CPU (resolution ≤ {}, width ≤ {}): resolution {}, width {} (rank {}).\n  The overall best's space is {}/space/chosen_space.json, to train on a GPU.",
            ranked[0].resolution,
            ranked[0].width,
            o.max_res,
            o.max_width,
            chosen.resolution,
            chosen.width,
            rank + 1,
            out.display()
        ));
    } else {
        obs.message(&format!(
            "chosen: resolution {}, width {}",
            chosen.resolution, chosen.width
        ));
    }
    let space = chosen.space(&base);
    // The search trades accuracy against memory only where the limits bind: say how much.
    let rejected = 1.0 - chosen.fitting as f64 / chosen.sampled.max(1) as f64;
    let timed = o.limits.latency_ms.is_some();
    obs.message(&format!(
        "{}{} rejects {:.0} % of the {} sampled subnets of this space{}",
        o.limits.device.name,
        if timed { " with its latency limit" } else { "" },
        rejected * 100.0,
        chosen.sampled,
        if rejected >= 0.3 && timed {
            ": the search has to trade accuracy against memory and latency".to_string()
        } else if rejected >= 0.3 {
            ": the search has to trade accuracy against memory".to_string()
        } else {
            let device = Field::Device;
            format!(
                "; the limits barely bind at this scale, so the search is nearly unconstrained (a smaller device, e.g. {device} stm32f411, makes them bind)"
            )
        }
    ));

    if let Some(b) = latency_binding(&o.limits, &space, chosen.resolution, chosen.sampled, o.seed)?
    {
        obs.message(&format!(
            "the latency limit of {:.1} ms ({:.1} frames/s) rejects {:.0} % of the {} sampled subnets that fit the memory (the latency model puts them at {:.1} to {:.1} ms){}",
            b.limit_ms,
            1000.0 / b.limit_ms,
            b.share_over * 100.0,
            b.fitting_memory,
            b.fastest_ms,
            b.slowest_ms,
            if b.share_over >= 0.1 {
                ": it binds".to_string()
            } else {
                let shorter = Field::LatencyMs;
                format!("; it barely binds at this scale (a shorter {shorter} makes it bind)")
            }
        ));
    }

    // 2. Supernet training.
    obs.message(&format!(
        "\n[2/6] supernet training: widths {:?}, {:.1e} subnets, {} epochs, {} subnets per step",
        space.widths(),
        space.subnet_count(),
        o.epochs,
        o.subnets
    ));
    let e = engine()?;
    cfg.space = space.clone();
    let run_dir = out.join("train");
    let (_, summary) = train_supernet(
        &e,
        &cfg,
        &RunOptions {
            out: run_dir.clone(),
            workers: 1,
            ..RunOptions::default()
        },
        obs,
    )?;
    obs.message(&format!(
        "trained {} steps in {:.0} s ({:.0} image-subnets/s)",
        summary.steps, summary.seconds, summary.image_subnets_per_s
    ));

    // 3–4. Predictor.
    obs.message(&format!(
        "\n[3/6] predictor data: {} subnets measured (BN recalibration on {} images, validation top-1 on {})",
        o.collect, o.recal_images, o.val_images
    ));
    let run = open_run(&e, &run_dir, obs)?;
    let t = Instant::now();
    let measured = collect(&e, &run, o.collect, o.seed, o.recal_images, obs)?;
    obs.message(&format!(
        "measured in {:.0} s; top-1 from {:.2} % to {:.2} %",
        t.elapsed().as_secs_f64(),
        measured
            .iter()
            .map(|p| p.top1)
            .fold(f64::INFINITY, f64::min)
            * 100.0,
        measured.iter().map(|p| p.top1).fold(0.0, f64::max) * 100.0
    ));
    obs.message("\n[4/6] predictor fit (MLP on the GPU)");
    let t = Instant::now();
    let predictor = fit(&e, &run_dir, &space, &fit_options)?;
    if let Some(r) = &predictor.report {
        obs.message(&super::predictor::describe_fit(r));
    }
    obs.message(&format!("fitted in {:.1} s", t.elapsed().as_secs_f64()));

    // 5. Search.
    obs.message(&format!(
        "\n[5/6] evolutionary search under {}: by the predictor (population {}, {} generations, its top {} measured) if its cross-validated τ ≥ 0.5, else by measurement ({} subnets); the obvious choices measured beside it",
        describe_limits(&o.limits),
        o.population,
        o.generations,
        o.top_k,
        o.budget
    ));
    let t = Instant::now();
    let (res, search) = run_search(&e, &run, &search_o, obs)?;
    obs.message(&format!(
        "{} subnets scored, {} rejected by the limits; {} measured ({:.0} per minute), {:.1} s",
        res.scored,
        res.rejected,
        search.new_measurements,
        search.subnets_per_minute,
        t.elapsed().as_secs_f64()
    ));

    // 6. Export, and the device check where the Arm toolchain and QEMU are present.
    let chosen = crate::arch::subnet::from_subnet(&run.cfg.space, &search.subnet)?;
    let target = match super::firmware::check_target(&o.limits.device)
        .and_then(|()| super::firmware::check_fits(&chosen, &o.limits.device, None))
    {
        Ok(()) => Ok(o.limits.device.clone()),
        Err(e) => Err(format!("no device check: {}", e.render(&|f| f.to_string()))),
    };
    obs.message(&format!(
        "\n[6/6] export: the chosen subnet extracted, int8-quantized on {} training images, written as generated C (TinyEngine's memory plan), model.tflite and a C array{}",
        o.calib_images,
        match &target {
            Ok(d) => format!(", linked for {} and run on its {} in QEMU", d.name, d.core.map_or("core", |c| c.name())),
            Err(why) => format!(" ({why})"),
        }
    ));
    let export = export(
        &e,
        &run,
        &ExportOptions {
            subnet: search.subnet.clone(),
            calib_images: o.calib_images,
            recal_images: o.recal_images,
            out: out.join("export"),
            finetune_epochs: 0,
            finetune_lr: 0.01,
            verify: None,
            verify_images: 0,
            target: target.as_ref().ok().cloned(),
            target_images: 20,
            patches: None,
        },
        obs,
    )?;
    Ok(DemoReport {
        out: out.clone(),
        spaces: ranked.clone(),
        space,
        space_rank: rank,
        train: summary,
        measured,
        predictor: predictor.report,
        search,
        export,
        device_check_skipped: target.err(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
