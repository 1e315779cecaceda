//! Helpers of the hardening tests: the binary run with arguments, refusals, run folders, tiny
//! runs and idx datasets.

use std::path::{Path, PathBuf};
use std::process::Command;
use tinynas::arch::SearchSpace;
use tinynas::arch::models::tiny_mobilenet;
use tinynas::arch::net::Input;
use tinynas::train::checkpoint::State;
use tinynas::train::config::RunConfig;
use tinynas::train::fixed::FixedOptions;
use tinynas::train::schedule::Schedule;
use tinynas::train::supernet_run::RunOptions;

pub fn tinynas(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The command exits 2 with a message holding every one of `want`, and does not panic.
pub fn refused(args: &[&str], want: &[&str]) {
    let (code, _, err) = tinynas(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?} should name {w:?}: {err}");
    }
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-hard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn tiny_space() -> SearchSpace {
    SearchSpace {
        base_widths: vec![8, 8, 16, 16, 24, 32],
        width_mult: 1.0,
        stage_strides: vec![2, 2, 1],
        kernel_choices: vec![3, 5],
        expand_choices: vec![3, 4],
        depth_choices: vec![1, 2],
        resolutions: vec![16],
        in_channels: 1,
        classes: 10,
        last_expand: 4,
        last_kernel: 3,
        kernel_transform: false,
    }
}

pub fn tiny_run(space: SearchSpace) -> RunConfig {
    let mut cfg = RunConfig::new("synthetic", space, Schedule::joint(2, 0.1, 2));
    cfg.train_images = 132;
    cfg.val_images = 36;
    cfg.recal_images = 48;
    cfg.batch = 32;
    cfg
}

pub fn quiet(out: &Path, max_steps: Option<usize>, resume: bool) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        checkpoint_every: 1,
        max_steps,
        resume,
        no_validation: true,
        workers: 1,
        ..RunOptions::default()
    }
}

/// An MNIST-layout split `name` (train / t10k) of black images of `dims`, labels `label(i)`.
pub fn write_split(dir: &Path, name: &str, dims: [u32; 3], label: impl Fn(u32) -> u8) {
    let idx = |rank: u8, dims: &[u32], data: Vec<u8>| {
        let mut b = vec![0u8, 0, 8, rank];
        dims.iter()
            .for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
        b.extend(data);
        b
    };
    let pixels = (dims[0] * dims[1] * dims[2]) as usize;
    std::fs::write(
        dir.join(format!("{name}-images-idx3-ubyte")),
        idx(3, &dims, vec![0; pixels]),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}-labels-idx1-ubyte")),
        idx(1, &[dims[0]], (0..dims[0]).map(label).collect()),
    )
    .unwrap();
}

pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

pub fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

/// 64 training and 20 test images from the bundled subset, as uncompressed idx files in `dir`.
pub fn tiny_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let (train, test) =
        tinynas::data::load_mnist_dir(&tinynas::data::bundled_fashion_dir()).unwrap();
    for (name, ds, n) in [("train", &train, 64usize), ("t10k", &test, 20)] {
        write_idx(
            &dir.join(format!("{name}-images-idx3-ubyte")),
            &[n as u32, 28, 28],
            &ds.images[..n * 784],
        );
        write_idx(
            &dir.join(format!("{name}-labels-idx1-ubyte")),
            &[n as u32],
            &ds.labels[..n],
        );
    }
}

/// A run folder as far as the commands' checks read it: its state.json (no weights needed,
/// for tests whose refusals come before the weights are read).
pub fn fake_run(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let state = State {
        step: 2,
        epoch: 0,
        weights: "weights-00000002.safetensors".into(),
        config: serde_json::to_value(tiny_run(tiny_space())).unwrap(),
    };
    std::fs::write(
        run.join("state.json"),
        serde_json::to_string(&state).unwrap(),
    )
    .unwrap();
    run
}

/// A fixed-network run of the tiny MobileNet on `data` (a `tiny_dataset`): two epochs of four
/// steps, nothing written.
pub fn tiny_fixed(data: &Path) -> FixedOptions {
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
