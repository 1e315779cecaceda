//! Supernet training: progressive-shrinking schedule, channel re-ordering, kernel
//! transformations, batch loading, the training run (metrics, plot, checkpoints, resume to the
//! same weights, NaN stop) and subnet evaluation.

mod common;
use common::*;
use std::path::PathBuf;
use tinynas::arch::SearchSpace;
use tinynas::autograd::ops::norm::BnMode;
use tinynas::data::augment::Augment;
use tinynas::data::{Dataset, synthetic};
use tinynas::nn::{Module, Sgd};
use tinynas::observer::Silent;
use tinynas::supernet::Supernet;
use tinynas::supernet::reorder::{importance, permute_dim};
use tinynas::train::config::RunConfig;
use tinynas::train::loader::{BatchSpec, Loader, prepare};
use tinynas::train::metrics::{Metric, read_metrics};
use tinynas::train::run::load_run;
use tinynas::train::schedule::Schedule;
use tinynas::train::supernet_run::{RunOptions, train_supernet};

/// Three stages, small widths: quick on lavapipe.
fn tiny_space() -> SearchSpace {
    SearchSpace {
        base_widths: vec![8, 8, 16, 16, 24, 32],
        width_mult: 1.0,
        stage_strides: vec![2, 2, 1],
        kernel_choices: vec![3, 5, 7],
        expand_choices: vec![3, 4, 6],
        depth_choices: vec![1, 2],
        resolutions: vec![16],
        in_channels: 1,
        classes: 10,
        last_expand: 4,
        last_kernel: 3,
        kernel_transform: false,
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// OFA's progressive shrinking: full network (largest choices, one subnet a step), then elastic
/// kernel, elastic depth, elastic expand (channels re-ordered first, every choice of the space).
fn assert_ofa_phases(s: &Schedule, sp: &SearchSpace) {
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["full", "kernel", "depth", "expand"]);
    let full = s.phases[0].space(sp);
    assert_eq!(
        (full.kernel_choices, full.expand_choices, full.depth_choices),
        (vec![7], vec![6], vec![4])
    );
    assert_eq!(s.phases[0].subnets_per_step, 1);
    let kernel = s.phases[1].space(sp);
    assert_eq!(
        (kernel.kernel_choices, kernel.depth_choices),
        (vec![3, 5, 7], vec![4])
    );
    let depth = s.phases[2].space(sp);
    assert_eq!(
        (depth.depth_choices, depth.expand_choices),
        (vec![2, 3, 4], vec![6])
    );
    assert!(s.phases[3].reorder_channels);
    assert_eq!(&s.phases[3].space(sp), sp);
}

#[test]
fn progressive_schedule_phases_and_positions() {
    let sp = SearchSpace::default();
    let s = Schedule::progressive(&sp, 8, 0.1, 4);
    assert_ofa_phases(&s, &sp);
    assert_eq!(s.total_epochs(), 8);
    // Five epochs: the extra one goes to the first phase; step positions follow.
    let s = Schedule::progressive(&sp, 5, 0.1, 4);
    assert_eq!(
        s.phases.iter().map(|p| p.epochs).collect::<Vec<_>>(),
        [2, 1, 1, 1]
    );
    let p = s.position(25, 10).unwrap();
    assert_eq!(
        (p.phase, p.epoch, p.step_in_epoch, p.phase_start),
        (1, 0, 5, 20)
    );
    assert!(s.position(50, 10).is_none());
    assert_eq!(s.total_steps(10), 50);
    // Choices outside the space are refused, naming the phase.
    let mut bad = s.clone();
    bad.phases[1].kernel_choices = Some(vec![9]);
    let err = bad.validate(&sp).unwrap_err().to_string();
    assert!(
        err.contains("phases[1] (kernel)") && err.contains("[9]"),
        "{err}"
    );
}

/// A schedule file under `scripts/`, read as `tinynas train --schedule` reads it.
fn shipped_schedule(name: &str, sp: &SearchSpace) -> Schedule {
    let path = format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    Schedule::resolve(&path, sp, 0, 0.0, 0).unwrap()
}

/// The schedule of session 7's full Fashion-MNIST run (BENCHMARKS.md) is read and
/// validated the way `tinynas train --schedule` reads it, and keeps OFA's phase order.
#[test]
fn the_shipped_fashion_mnist_schedule_is_valid_progressive_shrinking() {
    let sp = SearchSpace::default();
    let s = shipped_schedule("fmnist-schedule.json", &sp);
    assert_ofa_phases(&s, &sp);
    assert_eq!(s.total_epochs(), 7);
    assert!(s.phases[1..].iter().all(|p| p.subnets_per_step == 4));
}

/// The session-8 schedule (five full-network epochs, one per elastic phase, three subnets a
/// step: largest, smallest and one sampled) is valid progressive shrinking too.
#[test]
fn the_longer_full_phase_fashion_mnist_schedule_is_valid_progressive_shrinking() {
    let sp = SearchSpace::default();
    let s = shipped_schedule("fmnist-schedule-full5.json", &sp);
    assert_ofa_phases(&s, &sp);
    assert_eq!(
        s.phases.iter().map(|p| p.epochs).collect::<Vec<_>>(),
        [5, 1, 1, 1]
    );
    assert!(s.phases[1..].iter().all(|p| p.subnets_per_step == 3));
}

#[test]
fn channel_reordering_keeps_the_function_and_sorts_by_importance() {
    let e = engine();
    let sp = tiny_space();
    let net = Supernet::new(&e, &sp, 3).unwrap();
    // Make the importances distinct and unsorted, and give BN non-trivial state.
    let mut r = rng(9);
    for p in net.param_list() {
        let v = f32s(&rand_vec(&mut r, p.tensor.numel()));
        p.tensor.write(&v).unwrap();
    }
    for b in net.buffer_list() {
        let v: Vec<f32> = rand_vec(&mut r, b.tensor.numel())
            .iter()
            .map(|x| (x.abs() + 0.5) as f32)
            .collect();
        b.tensor.write(&v).unwrap();
    }
    let sgd = Sgd::new(&e, net.param_list(), 0.9, true, 0.0).unwrap();
    // Known momentum for one block's expand weight: its values are its own indices.
    let (i_exp, p_exp) = sgd
        .params
        .iter()
        .enumerate()
        .find(|(_, p)| p.name == "blocks.0.expand.conv.weight")
        .unwrap();
    let n = p_exp.tensor.numel();
    let before_m: Vec<f32> = (0..n).map(|i| i as f32).collect();
    e.gpu
        .write(&sgd.state_buffers()[i_exp], 0, &before_m)
        .unwrap();

    let x = e
        .tensor(&f32s(&rand_vec(&mut rng(2), 4 * 16 * 16)), &[4, 1, 16, 16])
        .unwrap();
    let big = sp.largest(16);
    let out = |mode| values(&net.forward(&x, &big, mode).unwrap());
    let (eval0, train0) = (out(BnMode::Eval), out(BnMode::BatchStats));
    let imp0 = importance(&net.blocks[0]).unwrap();
    let perms = net.reorder_channels(Some(&sgd)).unwrap();
    let (eval1, train1) = (out(BnMode::Eval), out(BnMode::BatchStats));
    assert_close("eval output", &f32s(&eval1), &eval0, 1e-4, 1e-4);
    assert_close("train output", &f32s(&train1), &train0, 1e-4, 1e-4);
    for b in &net.blocks {
        let imp = importance(b).unwrap();
        assert!(
            imp.windows(2).all(|w| w[0] >= w[1]),
            "importance not descending: {imp:?}"
        );
    }
    // The permutation is the argsort of the old importances, applied to the momentum too.
    let mut want: Vec<usize> = (0..imp0.len()).collect();
    want.sort_by(|&a, &b| imp0[b].total_cmp(&imp0[a]));
    assert_eq!(perms[0], want);
    assert_ne!(
        want,
        (0..imp0.len()).collect::<Vec<_>>(),
        "test needs a real permutation"
    );
    let m = e.gpu.read(&sgd.state_buffers()[i_exp], 0, n).unwrap();
    assert_eq!(
        m,
        permute_dim(&before_m, p_exp.tensor.shape(), 0, &perms[0])
    );
}

#[test]
fn kernel_transforms_start_as_crops_and_have_correct_gradients() {
    let e = engine();
    let plain = tiny_space();
    let ktx = SearchSpace {
        kernel_transform: true,
        ..plain.clone()
    };
    let a = Supernet::new(&e, &plain, 4).unwrap();
    let b = Supernet::new(&e, &ktx, 4).unwrap();
    assert_eq!(b.blocks[0].transforms.len(), 2, "7→5 and 5→3");
    let names: Vec<String> = b.param_list().into_iter().map(|p| p.name).collect();
    assert!(names.contains(&"blocks.0.depthwise.transform.7to5".to_string()));
    let x = e
        .tensor(&f32s(&rand_vec(&mut rng(5), 2 * 16 * 16)), &[2, 1, 16, 16])
        .unwrap();
    let sub = tiny_space().smallest(16); // kernel 3: through both transformations
    let ya = values(&a.forward(&x, &sub, BnMode::BatchStats).unwrap());
    let yb = values(&b.forward(&x, &sub, BnMode::BatchStats).unwrap());
    assert_close("identity transforms", &f32s(&yb), &ya, 1e-5, 1e-5);

    // d(sum of the 3×3 kernel)/d(T₅₃) against central differences, with T perturbed.
    let blk = &b.blocks[0];
    let t53 = &blk.transforms[1].matrix;
    let mut tv = t53.to_vec().unwrap();
    for (i, v) in tv.iter_mut().enumerate() {
        *v += 0.05 * ((i * 7 % 11) as f32 - 5.0) / 5.0;
    }
    t53.write(&tv).unwrap();
    let mid = blk.expand.weight.shape()[0];
    let probe: Vec<f64> = rand_vec(&mut rng(6), mid * 9);
    let weighted =
        |w: &tinynas::Tensor| -> f64 { values(w).iter().zip(&probe).map(|(a, b)| a * b).sum() };
    let w3 = blk.depthwise_weight(mid, 3).unwrap();
    let pr = e.tensor(&f32s(&probe), &[mid * 9, 1]).unwrap();
    let loss = w3
        .reshape(&[1, mid * 9])
        .unwrap()
        .matmul(&pr)
        .unwrap()
        .sum()
        .unwrap();
    e.backward(&loss).unwrap();
    let g = grad_of(t53);
    for &i in &[0usize, 4, 40, 80] {
        let h = 1e-2f32;
        let mut p = tv.clone();
        p[i] += h;
        t53.write(&p).unwrap();
        let up = weighted(&blk.depthwise_weight(mid, 3).unwrap());
        p[i] -= 2.0 * h;
        t53.write(&p).unwrap();
        let down = weighted(&blk.depthwise_weight(mid, 3).unwrap());
        t53.write(&tv).unwrap();
        let fd = (up - down) / (2.0 * h as f64);
        assert!(
            (g[i] as f64 - fd).abs() < 2e-3 + 2e-3 * fd.abs(),
            "T53[{i}]: autograd {} vs finite difference {fd}",
            g[i]
        );
    }
}

#[test]
fn loader_batches_do_not_depend_on_the_worker_count() {
    let ds = std::sync::Arc::new(synthetic(40, 4, 1, 12, 3).unwrap());
    let aug = Augment {
        resolution: None,
        rgb: true,
        crop_pad: 2,
        flip: true,
    };
    let specs: Vec<BatchSpec> = (0..7)
        .map(|s| BatchSpec {
            step: s,
            indices: (s..s + 5).collect(),
            resolution: 8 + 4 * (s % 2),
            seed: 100 + s as u64,
        })
        .collect();
    let one: Vec<_> = Loader::spawn(ds.clone(), aug, specs.clone(), 1, 1).collect();
    let three: Vec<_> = Loader::spawn(ds.clone(), aug, specs.clone(), 3, 2).collect();
    assert_eq!(one.len(), 7);
    assert_eq!(three.len(), one.len(), "zip below must not truncate");
    for (a, b) in one.iter().zip(&three) {
        assert_eq!(
            (a.step, a.resolution, a.channels),
            (b.step, b.resolution, b.channels)
        );
        assert_eq!(a.x, b.x);
        assert_eq!(a.y, b.y);
    }
    assert_eq!(one[1].x.len(), 5 * 3 * 12 * 12, "rgb, resized to 12");
    let direct = prepare(&ds, &aug, &specs[3]);
    assert_eq!(direct.x, one[3].x);
    // A loader dropped early stops and joins its workers (no hang): dropping it on another
    // thread must return, with workers blocked on full channels, well within the limit.
    let mut l = Loader::spawn(ds, aug, specs, 2, 1);
    assert!(l.next().is_some());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(l);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("dropping a loader joins its workers instead of hanging");
}

#[test]
fn synthetic_data_and_validation_split() {
    let ds = synthetic(50, 5, 3, 10, 1).unwrap();
    assert_eq!(
        (ds.len(), ds.channels, ds.height, ds.classes),
        (50, 3, 10, 5)
    );
    assert_eq!(ds.class_counts(), vec![10; 5]);
    assert_eq!(
        synthetic(50, 5, 3, 10, 1).unwrap().images,
        ds.images,
        "seeded"
    );
    let (train, val) = ds.split_off(12, 7).unwrap();
    assert_eq!((train.len(), val.len()), (38, 12));
    // Together they are the original images, each once.
    let mut all: Vec<Vec<u8>> = Vec::new();
    for d in [&train, &val] {
        for i in 0..d.len() {
            all.push(d.images[i * 300..(i + 1) * 300].to_vec());
        }
    }
    let mut orig: Vec<Vec<u8>> = (0..50)
        .map(|i| ds.images[i * 300..(i + 1) * 300].to_vec())
        .collect();
    all.sort();
    orig.sort();
    assert_eq!(all, orig);
    assert!(ds.split_off(50, 1).is_err());
    assert!(synthetic(10, 0, 1, 8, 1).is_err());
}

fn tiny_run() -> RunConfig {
    let sp = tiny_space();
    let mut cfg = RunConfig::new(
        "synthetic",
        sp.clone(),
        Schedule::progressive(&sp, 4, 0.1, 3),
    );
    cfg.train_images = 132;
    cfg.val_images = 36;
    cfg.recal_images = 48;
    cfg.batch = 32; // 3 steps per epoch
    cfg.seed = 5;
    cfg
}

fn params_of(net: &Supernet) -> Vec<Vec<f32>> {
    net.param_list()
        .iter()
        .map(|p| p.tensor.to_vec().unwrap())
        .collect()
}

#[test]
fn a_killed_supernet_run_resumes_to_the_same_weights() {
    let e = engine();
    let cfg = tiny_run();
    let (full_dir, cut_dir) = (tmp("sn-full"), tmp("sn-cut"));
    // The cut run's caller draws its figures (as the command line does); the full run's does not.
    struct Draws;
    impl tinynas::observer::Observer for Draws {
        fn draw(&self, c: &[tinynas::chart::Chart]) -> tinynas::Result<Option<Vec<u8>>> {
            tinynas::cli::plot::png_bytes(c).map(Some)
        }
    }
    let opts = |out: &PathBuf| RunOptions {
        out: out.clone(),
        workers: 2,
        ..RunOptions::default()
    };
    let (full, s) = train_supernet(&e, &cfg, &opts(&full_dir), &Silent).unwrap();
    assert!(s.finished && s.steps == 12, "{s:?}");
    // Killed in the middle of the expand phase's epoch… (step 10), then again right at the
    // start of the expand phase (step 9, before its channel re-ordering).
    for stop in [7usize, 9, 10] {
        let mut o = opts(&cut_dir);
        o.max_steps = Some(stop);
        o.resume = stop != 7;
        let (_, s) = train_supernet(&e, &cfg, &o, &Draws).unwrap();
        assert!(!s.finished && s.steps == stop);
    }
    let mut o = opts(&cut_dir);
    o.resume = true;
    let (cut, s) = train_supernet(&e, &cfg, &o, &Draws).unwrap();
    assert!(s.finished && s.steps == 12);
    assert!(
        params_of(&full) == params_of(&cut),
        "resumed weights differ"
    );
    // Metrics: one line per step and one validation per epoch, none duplicated by the resumes.
    let m = read_metrics(&cut_dir).unwrap();
    let steps: Vec<usize> = m
        .iter()
        .filter_map(|m| match m {
            Metric::Step { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, (1..=12).collect::<Vec<_>>());
    let vals = m
        .iter()
        .filter(|m| matches!(m, Metric::Validation { .. }))
        .count();
    assert_eq!(vals, 4);
    let png = image::open(cut_dir.join("training.png")).unwrap();
    assert!(png.width() > 600 && png.height() > 300);
    // A caller that draws nothing gets no figure, and the run is otherwise the same.
    assert!(!full_dir.join("training.png").exists());
    // The run directory loads back as a supernet with the same weights.
    let (c2, loaded, state) = load_run(&e, &cut_dir).unwrap();
    assert_eq!(c2, cfg);
    assert_eq!(state.step, 12);
    assert!(params_of(&loaded) == params_of(&full));
    // A second run into the same directory without --resume is refused.
    let err = train_supernet(&e, &cfg, &opts(&full_dir), &Silent)
        .err()
        .unwrap();
    assert!(
        matches!(&err, tinynas::Error::Setting { field: tinynas::error::Field::Out, allowed: tinynas::error::Allowed::Words(w), .. }
            if w.fields().any(|f| f == tinynas::error::Field::Resume)),
        "{err:?}"
    );
    let err = tinynas::cli::flags::describe(&err);
    assert!(err.contains("--resume"), "{err}");
    // Resuming with other settings is refused.
    let mut other = cfg.clone();
    other.seed = 6;
    let mut o = opts(&full_dir);
    o.resume = true;
    let err = train_supernet(&e, &other, &o, &Silent)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("other settings"), "{err}");
}

#[test]
fn a_short_run_on_the_bundled_subset_learns_well_above_chance() {
    let e = engine();
    let sp = tiny_space();
    let data = tinynas::data::bundled_fashion_dir();
    let mut cfg = RunConfig::new(
        data.to_str().unwrap(),
        sp.clone(),
        Schedule::joint(2, 0.1, 2),
    );
    cfg.val_images = 200;
    cfg.recal_images = 200;
    cfg.train_images = 1800;
    cfg.batch = 64;
    let out = tmp("sn-learn");
    let (net, s) = train_supernet(
        &e,
        &cfg,
        &RunOptions {
            out,
            workers: 1,
            ..RunOptions::default()
        },
        &Silent,
    )
    .unwrap();
    let (largest, smallest) = (s.largest_val.unwrap(), s.smallest_val.unwrap());
    assert!(largest > 0.55 && smallest > 0.45, "{s:?}");
    // The test split, measured through the evaluator, agrees in level.
    let run = tinynas::train::data::load_data(&cfg).unwrap();
    let mut ev =
        tinynas::train::eval::SubnetEvaluator::new(&e, &run.train, &run.test, 200, 1, 250, 0)
            .unwrap();
    let test = ev.accuracy(&net, &sp.largest(16)).unwrap();
    assert!(test > 0.55, "test top-1 {test}");
    let _: &Dataset = &run.val;
}

#[test]
fn f16_setting_is_part_of_a_runs_identity_only_when_on() {
    // Off, the key is absent, so runs started before the flag existed still resume; on, a
    // resume without --f16 differs from the saved configuration and is refused.
    let mut cfg = tiny_run();
    let off = serde_json::to_value(&cfg).unwrap();
    assert!(off.get("f16_gemm").is_none());
    let back: RunConfig = serde_json::from_value(off.clone()).unwrap();
    assert!(!back.f16_gemm);
    cfg.f16_gemm = true;
    let on = serde_json::to_value(&cfg).unwrap();
    assert_eq!(on["f16_gemm"], serde_json::Value::Bool(true));
    assert_ne!(on, off);
}
