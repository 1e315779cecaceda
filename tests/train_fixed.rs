//! Training one fixed network from its description (`train::fixed`, `tinynas train-mobilenet
//! --net`): through the library, the report holds every epoch and the network that ran; a run
//! stopped and resumed ends at the uninterrupted run's weights; a description that does not
//! take the data's images is refused by name, before anything is written.

mod common;
use common::harden::{refused, tiny_dataset, tiny_fixed as options, tmp, write_split};
use common::*;
use tinynas::arch::models::tiny_mobilenet;
use tinynas::arch::net::Input;
use tinynas::observer::Silent;
use tinynas::train::fixed::{FixedOptions, train_fixed};

#[test]
fn a_described_network_trains_through_the_library_and_resumes_exactly() {
    let base = tmp("fixed-lib");
    let data = base.join("data");
    tiny_dataset(&data);
    let e = engine();
    let full = base.join("full");
    let r = train_fixed(
        &e,
        &FixedOptions {
            out: Some(full.clone()),
            ..options(&data)
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(r.network.name, "tiny-mobilenet-r28");
    assert_eq!(r.steps, 8, "64 images in batches of 16, two epochs");
    assert_eq!(r.epochs.len(), 2);
    assert!(!r.stopped);
    assert!(r.epochs.iter().all(|e| e.train_loss.is_finite()));
    let acc = r.final_top1().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{acc}");
    assert_eq!(r.test_images, 20);

    let cut = base.join("cut");
    let stopped = train_fixed(
        &e,
        &FixedOptions {
            out: Some(cut.clone()),
            max_steps: Some(5),
            ..options(&data)
        },
        &Silent,
    )
    .unwrap();
    assert!(stopped.stopped && stopped.steps == 5);
    assert_eq!(
        stopped.epochs.len(),
        1,
        "the first epoch ended before step 5"
    );
    let resumed = train_fixed(
        &e,
        &FixedOptions {
            out: Some(cut.clone()),
            resume: true,
            ..options(&data)
        },
        &Silent,
    )
    .unwrap();
    assert_eq!((resumed.resumed_at, resumed.steps), (5, 8));
    let w = |d: &std::path::Path| std::fs::read(d.join("weights-00000008.safetensors")).unwrap();
    assert!(w(&full) == w(&cut), "the resumed run's weights differ");

    // Another network is another run: resuming with it is refused, the run left as it was.
    let mut other = options(&data);
    other.network.as_mut().unwrap().blocks[1].kernel_size = 3;
    let err = train_fixed(
        &e,
        &FixedOptions {
            out: Some(cut.clone()),
            resume: true,
            ..other
        },
        &Silent,
    )
    .expect_err("refused")
    .to_string();
    assert!(
        err.contains("network") && err.contains("same settings"),
        "{err}"
    );
    assert!(w(&full) == w(&cut));
}

#[test]
fn a_network_that_does_not_take_the_data_is_refused_by_name() {
    let base = tmp("fixed-cli");
    let data = base.join("data");
    tiny_dataset(&data);
    let d = data.to_str().unwrap();
    let write = |name: &str, res: usize, ch: usize, classes: usize| {
        let n = tiny_mobilenet(
            Input {
                resolution: res,
                channels: ch,
            },
            classes,
        );
        let p = base.join(name);
        std::fs::write(&p, serde_json::to_string(&n).unwrap()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let out = base.join("run");
    let o = out.to_str().unwrap();
    let rgb = write("rgb.json", 28, 3, 10);
    refused(
        &["train-mobilenet", "--data", d, "--net", &rgb, "--out", o],
        &["--net", "3-channel 28×28", "1-channel 28×28"],
    );
    let small = write("small.json", 32, 1, 10);
    refused(
        &["train-mobilenet", "--data", d, "--net", &small],
        &["--net", "32×32", "28×28"],
    );
    let few = write("few.json", 28, 1, 4);
    refused(
        &["train-mobilenet", "--data", d, "--net", &few],
        &["--net", "4 classes", "labels up to 9"],
    );
    std::fs::write(base.join("bad.json"), "{\"input\": 3}").unwrap();
    refused(
        &[
            "train-mobilenet",
            "--data",
            d,
            "--net",
            base.join("bad.json").to_str().unwrap(),
        ],
        &["bad.json", "input"],
    );
    assert!(!out.exists(), "a refused run creates nothing");
}

/// A resumed run: `--max-steps` at or below its step is refused (not ignored), and the profiled
/// steps count from where it resumed, the trace written into a folder made for it.
#[test]
fn a_resumed_run_honours_max_steps_and_profiles_its_own_steps() {
    let base = tmp("fixed-resume");
    let data = base.join("data");
    tiny_dataset(&data);
    let e = engine();
    let run = base.join("run");
    let first = FixedOptions {
        out: Some(run.clone()),
        max_steps: Some(3),
        ..options(&data)
    };
    assert_eq!(train_fixed(&e, &first, &Silent).unwrap().steps, 3);
    for max in [2, 3] {
        let err = train_fixed(
            &e,
            &FixedOptions {
                resume: true,
                max_steps: Some(max),
                ..FixedOptions {
                    out: Some(run.clone()),
                    ..options(&data)
                }
            },
            &Silent,
        )
        .expect_err("refused");
        let err = tinynas::cli::flags::describe(&err);
        assert!(
            err.contains("--max-steps") && err.contains("already at step 3"),
            "{err}"
        );
    }
    let trace = base.join("traces").join("t.json");
    let r = train_fixed(
        &e,
        &FixedOptions {
            out: Some(run.clone()),
            resume: true,
            profile: Some((trace.clone(), 1)),
            ..options(&data)
        },
        &Silent,
    )
    .unwrap();
    assert_eq!((r.resumed_at, r.steps), (3, 8));
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    assert!(t["traceEvents"].as_array().is_some_and(|v| !v.is_empty()));
    assert!(r.profile_overhead.is_some());
}

/// Options are checked before the GPU is opened, and data the default network cannot take is
/// refused naming the data, not a field of a network the user never wrote.
#[test]
fn options_and_data_are_refused_by_their_own_names() {
    refused(
        &[
            "train-mobilenet",
            "--epochs",
            "0",
            "--adapter",
            "no-such-gpu",
        ],
        &["--epochs"],
    );
    refused(
        &["train-mobilenet", "--lr=-1", "--adapter", "no-such-gpu"],
        &["--lr", "a finite number above 0"],
    );
    let base = tmp("fixed-small");
    let data = base.join("idx");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", [40, 2, 2], |i| (i % 10) as u8);
    write_split(&data, "t10k", [10, 2, 2], |i| (i % 10) as u8);
    refused(
        &[
            "train-mobilenet",
            "--data",
            data.to_str().unwrap(),
            "--batch",
            "8",
        ],
        &["--data", "2×2 images are too small"],
    );
}
