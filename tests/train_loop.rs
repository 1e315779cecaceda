//! The one training loop, through each kind of run it trains: a supernet, a fixed network and a
//! subnet's fine-tuning resume, stop at a non-finite loss and report the same way (one helper,
//! `common::loops`, checks them all).

mod common;
use common::engine;
use common::harden::{quiet, tiny_dataset, tiny_fixed, tiny_run, tiny_space, tmp};
use common::loops::{
    Kind, Progress, Ran, resumes_to_the_same_weights, run, stopped_on_a_non_finite_loss,
};
use tinynas::nn::Module;
use tinynas::observer::Silent;
use tinynas::train::fixed::{FixedOptions, train_fixed};
use tinynas::train::schedule::Schedule;
use tinynas::train::supernet_run::RunOptions;
use tinynas::train::supernet_run::train_supernet;

#[test]
fn a_supernet_run_resumes_and_stops_on_a_non_finite_loss() {
    let e = engine();
    let dir = tmp("loop-supernet");
    let cfg = tiny_run(tiny_space());
    let train = |out: &std::path::Path, max_steps, resume, p: &Progress| {
        let (_, s) = train_supernet(&e, &cfg, &quiet(out, max_steps, resume), p)?;
        Ok(Ran {
            resumed_at: s.resumed_at,
            steps: s.steps,
            finished: s.finished,
        })
    };
    let kind = Kind {
        name: "supernet",
        total: 6,
        train: &train,
    };
    resumes_to_the_same_weights(&kind, &dir, 4);

    // A new run stopped before its first checkpoint leaves the folder as it was; one stopped
    // after a checkpoint keeps it.
    let mut diverging = cfg.clone();
    diverging.schedule = Schedule::joint(1, 1e30, 2);
    for (every, name) in [(0, "nan-first"), (1, "nan-later")] {
        let out = dir.join(name);
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let o = RunOptions {
            checkpoint_every: every,
            ..quiet(&out, None, false)
        };
        let err = train_supernet(&e, &diverging, &o, &Silent)
            .err()
            .expect("a non-finite loss");
        stopped_on_a_non_finite_loss(err, Some(&out), &["notes.txt"]);
        assert_eq!(out.join("state.json").is_file(), every == 1);
        if every == 0 {
            // The folder takes a new run at once.
            run(&kind, &out, Some(1), false).unwrap();
        }
    }
}

#[test]
fn a_fixed_network_run_resumes_and_stops_on_a_non_finite_loss() {
    let e = engine();
    let dir = tmp("loop-fixed");
    let data = dir.join("data");
    tiny_dataset(&data);
    let train = |out: &std::path::Path, max_steps, resume, p: &Progress| {
        let o = FixedOptions {
            out: Some(out.to_path_buf()),
            max_steps,
            resume,
            ..tiny_fixed(&data)
        };
        let r = train_fixed(&e, &o, p)?;
        Ok(Ran {
            resumed_at: r.resumed_at,
            steps: r.steps,
            finished: !r.stopped,
        })
    };
    let kind = Kind {
        name: "fixed",
        total: 8,
        train: &train,
    };
    resumes_to_the_same_weights(&kind, &dir, 5);

    for (every, name) in [(0, "nan-first"), (1, "nan-later")] {
        let out = dir.join(name);
        let o = FixedOptions {
            out: Some(out.clone()),
            lr: 1e30,
            checkpoint_every: every,
            ..tiny_fixed(&data)
        };
        let err = train_fixed(&e, &o, &Silent).unwrap_err();
        stopped_on_a_non_finite_loss(err, Some(&out), &[]);
        assert_eq!(out.join("state.json").is_file(), every == 1);
        if every == 0 {
            run(&kind, &out, Some(1), false).unwrap();
        }
    }
    // Without a folder: nothing to name but the step.
    let o = FixedOptions {
        lr: 1e30,
        ..tiny_fixed(&data)
    };
    stopped_on_a_non_finite_loss(train_fixed(&e, &o, &Silent).unwrap_err(), None, &[]);
}

#[test]
fn a_fine_tuning_reports_its_steps_and_stops_on_a_non_finite_loss() {
    use tinynas::pipeline::finetune::finetune;
    use tinynas::train::open::open_run;
    let e = engine();
    let dir = tmp("loop-finetune");
    let cfg = tiny_run(tiny_space());
    let out = dir.join("run");
    train_supernet(&e, &cfg, &quiet(&out, Some(1), false), &Silent).unwrap();
    let run_ = open_run(&e, &out, &Silent).unwrap();
    let subnet = cfg.space.smallest(16);
    // (132 - 36) / 32 = 3 steps an epoch.
    let p = Progress::default();
    finetune(&e, &run_, &subnet, 2, 0.05, &p).unwrap();
    assert_eq!(*p.starts.borrow(), [(6, 0)]);
    assert_eq!((p.steps.get(), p.ends.get()), (6, 1));
    // Weights that hold NaNs: the loss is not finite, and the fine-tuning stops naming it.
    for p in run_.net.param_list() {
        p.tensor.write(&vec![f32::NAN; p.tensor.numel()]).unwrap();
    }
    let err = finetune(&e, &run_, &subnet, 1, 0.05, &Silent).unwrap_err();
    stopped_on_a_non_finite_loss(err, None, &[]);
}
