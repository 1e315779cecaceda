//! Training one fixed network from its description (`train::fixed`, `tinynas train-mobilenet
//! --net`): through the library, the report holds every epoch and the network that ran; a run
//! stopped and resumed ends at the uninterrupted run's weights; a description that does not
//! take the data's images is refused by name, before anything is written.

mod common;
use common::harden::{refused, tiny_dataset, tmp};
use common::*;
use tinynas::arch::models::tiny_mobilenet;
use tinynas::arch::net::Input;
use tinynas::observer::Silent;
use tinynas::train::fixed::{FixedOptions, train_fixed};

fn options(data: &std::path::Path) -> FixedOptions {
    FixedOptions {
        data: data.to_path_buf(),
        image_size: None,
        network: Some(tiny_mobilenet(
            Input {
                resolution: 28,
                channels: 1,
            },
            10,
        )),
        epochs: 2,
        batch: 16,
        lr: 0.05,
        weight_decay: 4e-5,
        label_smoothing: 0.1,
        seed: 3,
        out: None,
        resume: false,
        checkpoint_every: 0,
        max_steps: None,
        profile: None,
    }
}

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
        &["--net", "4 classes", "10"],
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
