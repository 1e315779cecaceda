//! Helpers of the crash-consistency tests: a folder's visible files and leftover temporaries,
//! the binary stopped after its k-th file operation of a publish, a tiny run's arguments.

use super::harden::{tiny_space, tinynas};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub const HOOK: &str = "TINYNAS_TEST_ABORT_AFTER_FILE_OPS";

/// The folder's visible files (dot files aside: the lock, the records, temporaries) and bytes.
pub fn visible(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

/// Temporaries of a publish or of write_atomic left in the folder.
pub fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.starts_with(".tinynas-new-") || (n.contains(".tinynas-") && n.ends_with(".tmp"))
        })
        .collect()
}

/// `args` run with the abort hook at `k`: true when the process was stopped by it.
pub fn aborted_at(args: &[&str], k: usize) -> bool {
    let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .env(HOOK, k.to_string())
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => false,
        None => true,
        Some(c) => panic!(
            "{args:?} (abort after {k}) failed with {c}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

pub fn ok(args: &[&str]) {
    let (code, _, err) = tinynas(args);
    assert_eq!(code, 0, "{args:?}: {err}");
}

/// The files a set of the manifest in `dir` names, with their SHA-256.
pub fn recorded(dir: &Path, set: &str) -> BTreeMap<String, String> {
    let m = tinynas::io::read_manifest(dir)
        .unwrap()
        .expect("a manifest");
    m.sets[set]
        .files
        .iter()
        .map(|f| (f.name.clone(), f.sha256.clone()))
        .collect()
}

pub fn hashes(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(n, b)| (n.clone(), tinynas::io::sha256_hex(b)))
        .collect()
}

pub fn write_space(dir: &Path) -> String {
    let p = dir.join("space.json");
    std::fs::write(&p, serde_json::to_string(&tiny_space()).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

/// A tiny run's arguments (synthetic data, a checkpoint every step).
pub fn train_args(out: &Path, space: &str, steps: usize) -> Vec<String> {
    tiny_run_args(out, space, Some("synthetic"), 1, Some(steps))
}

/// A tiny run of `epochs` on `data` (None: the bundled subset), 132 training images in batches
/// of 32, a checkpoint every step, up to `max_steps`.
pub fn tiny_run_args(
    out: &Path,
    space: &str,
    data: Option<&str>,
    epochs: usize,
    max_steps: Option<usize>,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "train",
        "--out",
        out.to_str().unwrap(),
        "--space",
        space,
        "--schedule",
        "joint",
        "--epochs",
        &epochs.to_string(),
        "--batch",
        "32",
        "--train-images",
        "132",
        "--val-images",
        "36",
        "--recal-images",
        "48",
        "--checkpoint-every",
        "1",
    ]
    .map(String::from)
    .to_vec();
    if let Some(d) = data {
        a.extend(["--data".into(), d.into()]);
    }
    if let Some(n) = max_steps {
        a.extend(["--max-steps".into(), n.to_string()]);
    }
    a
}

/// `space --out OUT` ranking the two resolutions 64 and 96 at width 0.3 on `samples` samples.
pub fn space_args(out: &Path, samples: &str) -> Vec<String> {
    [
        "space",
        "--samples",
        samples,
        "--resolutions",
        "64,96",
        "--widths",
        "0.3",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// `v` as the `&str`s a command takes.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
