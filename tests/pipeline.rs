//! The pipeline through the library API, not the binary: space optimization → supernet training
//! → predictor data and fit → search, and the demo as one call; progress arrives at an observer
//! and the results are typed reports.

mod common;
use common::engine;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tinynas::arch::{SearchSpace, SubnetConfig};
use tinynas::mcu::{Device, Scheduler};
use tinynas::observer::Observer;
use tinynas::pipeline::demo::demo;
use tinynas::pipeline::demo_options::DemoOptions;
use tinynas::pipeline::evidence::read_pairs;
use tinynas::pipeline::predictor::{collect, fit};
use tinynas::pipeline::search::{SearchOptions, Strategy, run_search};
use tinynas::search::Limits;
use tinynas::search::evolution::EvoOptions;
use tinynas::search::predictor::FitOptions;
use tinynas::search::space::{Rank, SpaceOptions, rank_spaces};
use tinynas::train::config::RunConfig;
use tinynas::train::open::open_run;
use tinynas::train::schedule::Schedule;
use tinynas::train::supernet_run::{RunOptions, train_supernet};

/// Records what the library tells it.
#[derive(Default)]
struct Recorder {
    messages: RefCell<Vec<String>>,
    started: Cell<usize>,
    steps: Cell<usize>,
    ended: Cell<usize>,
}

impl Observer for Recorder {
    fn message(&self, text: &str) {
        self.messages.borrow_mut().push(text.to_string());
    }
    fn start(&self, _: &str, _: usize, _: usize) {
        self.started.set(self.started.get() + 1);
    }
    fn step(&self, _: &str) {
        self.steps.set(self.steps.get() + 1);
    }
    fn end(&self) {
        self.ended.set(self.ended.get() + 1);
    }
    fn draw(&self, c: &[tinynas::chart::Chart]) -> tinynas::Result<Option<Vec<u8>>> {
        tinynas::cli::plot::png_bytes(c).map(Some)
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-pipe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn limits() -> Limits {
    Limits {
        device: Device::preset("stm32f412").unwrap(),
        scheduler: Scheduler::TinyEngine,
        latency_ms: None,
    }
}

#[test]
fn space_train_predictor_search_through_the_library() {
    let e = engine();
    // 1. Space optimization over a small grid of a small space.
    let base = SearchSpace {
        base_widths: vec![8, 8, 16, 16, 24, 32],
        stage_strides: vec![2, 2, 1],
        depth_choices: vec![1, 2],
        in_channels: 1,
        ..SearchSpace::default()
    };
    let so = SpaceOptions {
        base: base.clone(),
        resolutions: vec![16, 24],
        widths: vec![0.5, 1.0],
        samples: 40,
        seed: 1,
        limits: limits(),
        rank: Rank::Mean,
        min_fit: 0.05,
        threads: 2,
    };
    let ranked = rank_spaces(&so).unwrap();
    assert_eq!(ranked.len(), 4);
    let best = &ranked[0];
    assert!(!best.too_few && best.fitting > 0);
    let space = SearchSpace {
        resolutions: vec![16],
        ..best.space(&base)
    };

    // 2. Training, told to an observer.
    let out = tmp("run");
    let mut cfg = RunConfig::new("synthetic", space.clone(), Schedule::joint(1, 0.1, 2));
    cfg.train_images = 264;
    cfg.val_images = 64;
    cfg.recal_images = 64;
    cfg.batch = 32;
    let rec = Rc::new(Recorder::default());
    let (_, summary) = train_supernet(
        &e,
        &cfg,
        &RunOptions {
            out: out.clone(),
            workers: 1,
            ..RunOptions::default()
        },
        &*rec,
    )
    .unwrap();
    assert!(summary.finished);
    assert_eq!(summary.steps, (264 - 64) / 32);
    assert_eq!(
        rec.steps.get(),
        summary.steps,
        "one step told per training step"
    );
    assert!(rec.started.get() == 1 && rec.ended.get() >= 1);
    let msgs = rec.messages.borrow().join("\n");
    assert!(msgs.contains("validation top-1 largest"), "{msgs}");
    let largest = summary.largest_val.unwrap();
    assert!((0.0..=1.0).contains(&largest));

    // 3. Predictor data and fit.
    let run = open_run(&e, &out, &*rec).unwrap();
    let pairs = collect(&e, &run, 10, 0, 64, &*rec).unwrap();
    assert_eq!(pairs.len(), 10);
    assert!(pairs.iter().all(|p| p.halves.is_some()));
    assert_eq!(
        read_pairs(&out, &space).unwrap().len(),
        10,
        "every pair on disk"
    );
    assert_eq!(pairs[0].subnet, space.largest(16));
    let p = fit(
        &e,
        &out,
        &space,
        &FitOptions {
            hidden: 16,
            iterations: 60,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let fr = p.report.as_ref().unwrap();
    assert_eq!(fr.train_pairs + fr.heldout_pairs, 10);
    assert_eq!(
        fr.kfold.as_ref().unwrap().folds,
        5,
        "10 pairs: 5 folds of 2"
    );
    assert!(fr.train_rmse.is_finite());

    // 4. Search, predicted (trusted whatever its τ); the report is typed and its files are
    // written. The flash budget halfway between the smallest and the largest subnet binds.
    let flash = |s: &SubnetConfig| {
        tinynas::mcu::evaluate(
            &tinynas::arch::subnet::from_subnet(&space, s).unwrap(),
            &Default::default(),
        )
        .unwrap()
        .flash_bytes
    };
    let mut lim = limits();
    lim.device.flash_bytes = (flash(&space.smallest(16)) + flash(&space.largest(16))) / 2;
    let o = SearchOptions {
        limits: lim.clone(),
        strategy: Strategy::Predictor,
        evo: EvoOptions {
            population: 8,
            generations: 3,
            seed: 2,
            ..EvoOptions::default()
        },
        measure_evo: EvoOptions {
            population: 4,
            generations: 100,
            max_scored: Some(8),
            seed: 2,
            ..EvoOptions::default()
        },
        top_k: 3,
        min_tau: -1.0,
        random: Some(5),
        recal_images: Some(64),
        out: out.join("search"),
    };
    let (res, report) = run_search(&e, &run, &o, &*rec).unwrap();
    assert!(res.rejected > 0, "the flash budget binds");
    assert_eq!(report.per_scheduler.len(), Scheduler::ALL.len());
    let row = report.row(Scheduler::TinyEngine);
    assert!(row.fits && row.flash_bytes <= lim.device.flash_bytes);
    assert!((0.0..=1.0).contains(&report.test_top1));
    assert!(
        report.scored_by.starts_with("predictor"),
        "{}",
        report.scored_by
    );
    assert!(report.fallback.is_none());
    // The search and its baselines: every one fits, the chosen is the best on validation.
    let names: Vec<&str> = report.rows.iter().map(|r| r.name).collect();
    assert_eq!(names, ["search", "most MACs", "uniform", "random"]);
    for r in &report.rows {
        assert!(
            lim.device
                .fits(r.footprint.peak_sram_bytes, r.footprint.flash_bytes),
            "{r:?}"
        );
        assert!(r.val_se > 0.0 && r.test_se > 0.0, "{r:?}");
    }
    let chosen = report
        .rows
        .iter()
        .find(|r| r.name == report.chosen_from)
        .unwrap();
    assert_eq!(chosen.subnet, report.subnet);
    // The final choice: the highest accuracy as the validation split reads it; each row
    // measured on the images that chose none of it — the choice half for the search's and the
    // random rows, the whole split for the others.
    for r in &report.rows {
        assert!(r.posterior <= chosen.posterior, "{r:?}");
        let want = if matches!(r.name, "search" | "random") {
            report.val_images
        } else {
            report.val_images + report.search_images
        };
        assert_eq!(r.val_images, want, "{r:?}");
    }
    assert_eq!(chosen.test_top1, report.test_top1);
    // The most-MACs baseline has at least the MACs of every other fitting subnet seen.
    let mm = report.rows[1].footprint.macs;
    assert!(res.population.iter().all(|c| c.footprint.macs <= mm));
    assert_eq!(
        report.search_measured,
        10 + 3,
        "10 pairs fitted the predictor, 3 measured"
    );
    let written: SubnetConfig =
        serde_json::from_str(&std::fs::read_to_string(o.out.join("best_subnet.json")).unwrap())
            .unwrap();
    assert_eq!(written, report.subnet);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(o.out.join("search.json")).unwrap()).unwrap();
    assert_eq!(
        json["report"]["per_scheduler"][2]["scheduler"],
        "tinyengine"
    );
    assert_eq!(json["report"]["rows"].as_array().unwrap().len(), 4);
    assert!(o.out.join("population.png").is_file());

    // 5. A predictor below the τ threshold is not trusted: the search says so and measures,
    // within its budget.
    rec.messages.borrow_mut().clear();
    let o2 = SearchOptions {
        min_tau: 1.01,
        out: out.join("search2"),
        ..o.clone()
    };
    assert!(o2.validate().is_err(), "--min-tau above 1 is refused");
    let o2 = SearchOptions { min_tau: 1.0, ..o2 };
    let (res2, r2) = run_search(&e, &run, &o2, &*rec).unwrap();
    let msgs = rec.messages.borrow().join("\n");
    assert!(
        msgs.contains("cannot be trusted") && msgs.contains("searching by measurement"),
        "{msgs}"
    );
    assert!(r2.fallback.as_deref().unwrap().contains("Kendall τ"));
    assert_eq!(r2.scored_by, "measured validation top-1");
    assert!(r2.predictor.is_none());
    assert!(
        (8..8 + 4 * 3).contains(&res2.scored),
        "budget 8: {}",
        res2.scored
    );
    assert_eq!(r2.search_measured, res2.scored);
    assert!(
        r2.new_measurements <= res2.scored + 5 + 2,
        "each network measured at most once: {} new",
        r2.new_measurements
    );
    for c in &res2.population {
        assert!(
            lim.device
                .fits(c.footprint.peak_sram_bytes, c.footprint.flash_bytes)
        );
    }
    assert!(o.out.join("population.png").is_file());
}

#[test]
fn the_demo_is_one_library_call_with_a_typed_report() {
    let out = tmp("demo");
    let o = DemoOptions {
        limits: limits(),
        data: "synthetic".into(),
        out: out.clone(),
        max_res: 28,
        max_width: 0.5,
        epochs: 1,
        subnets: 2,
        lr: 0.05,
        train_images: 360,
        val_images: 96,
        recal_images: 64,
        collect: 6,
        population: 6,
        generations: 2,
        budget: 8,
        top_k: 3,
        samples: 20,
        seed: 0,
        f16_gemm: false,
        f16_activations: false,
        calib_images: 32,
    };
    let rec = Rc::new(Recorder::default());
    let obs: Rc<dyn Observer> = rec.clone();
    let r = demo(|| Ok(engine()), &o, &obs).unwrap();
    let msgs = rec.messages.borrow().join("\n");
    for step in ["[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"] {
        assert!(msgs.contains(step), "{step} told: {msgs}");
    }
    // The trained space is the best one within the budget, and everything landed under out/.
    let chosen = &r.spaces[r.space_rank];
    assert!(chosen.resolution <= 28 && chosen.width <= 0.5 && !chosen.too_few);
    assert!(
        r.spaces[..r.space_rank]
            .iter()
            .all(|s| s.too_few || s.resolution > 28 || s.width > 0.5)
    );
    assert!(r.train.finished);
    assert_eq!(r.measured.len(), 6);
    assert!(r.predictor.is_some());
    assert!(r.search.row(Scheduler::TinyEngine).fits);
    // The demo ends with the chosen subnet exported.
    assert_eq!(r.export.subnet, r.search.subnet);
    assert!((0.0..=1.0).contains(&r.export.int8_top1));
    for f in [
        "space/space.json",
        "train/state.json",
        "train/accuracy_pairs.jsonl",
        "train/predictor.json",
        "search/best_subnet.json",
        "export/model.tflite",
        "export/model_data.cc",
        "export/report.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // A second demo into the same folder is refused before any work.
    let err = demo(|| Ok(engine()), &o, &obs).unwrap_err().to_string();
    assert!(err.contains("already holds a demo run"), "{err}");
}
