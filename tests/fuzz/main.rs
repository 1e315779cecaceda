//! A fuzz harness over the library's boundaries. Generated network, search-space, subnet,
//! schedule and run-settings JSON (extreme, non-finite, empty, huge and wrong-typed values,
//! deleted and unknown fields, truncated text) and `tinynas mem|space|bench mem` command lines
//! go through the entry points the commands use. Every case ends in Ok, and is then evaluated
//! end to end, or in an error that names the field or flag at fault: no panic, no abort (a
//! huge allocation kills the test), no hang (a case over the time limit fails the test).
//! `TINYNAS_FUZZ_CASES` and `TINYNAS_FUZZ_SEED` set the count and the seed; a failure prints
//! the case index and its input, so it can be replayed.

mod cases;
mod cli;
mod gpu;
#[allow(dead_code)]
#[path = "../common/harden.rs"]
mod harden;
mod mutate;

use cases::*;
use cli::{cli_case, command_line};
use mutate::mutate;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tinynas::arch::SearchSpace;
use tinynas::arch::models::mobilenet_v2;
use tinynas::arch::subnet::from_subnet;
use tinynas::train::config::RunConfig;
use tinynas::train::schedule::Schedule;

/// How one case ended.
pub enum Outcome {
    Accepted,
    Refused,
}

/// A case: what it is (for the failure message) and its verdict.
pub type CaseResult = Result<Outcome, String>;

const HANG_LIMIT: Duration = Duration::from_secs(20);

fn env_usize(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A case: its kind, its input as text (for the failure message), and the run that judges it.
type Case = (&'static str, String, Box<dyn FnOnce() -> CaseResult>);

/// Run `cases` cases made by `make` (case index, its own seeded generator) on a worker thread,
/// each under `hang`; fail with every failing case's input, and unless both verdicts occur
/// (a harness that refuses, or accepts, everything tests little).
fn drive<F>(what: &str, cases: usize, seed: u64, hang: Duration, make: F)
where
    F: Fn(usize, &mut StdRng) -> Case + Send + 'static,
{
    // Panics are caught and counted; their default report would only repeat them.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    type Report = (
        usize,
        &'static str,
        String,
        Duration,
        Result<CaseResult, String>,
    );
    let (tx, rx) = mpsc::channel::<Report>();
    // The case being run, for the message when one hangs.
    let current = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let running = current.clone();
    let worker = std::thread::spawn(move || {
        for i in 0..cases {
            let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
            let (kind, input, run) = make(i, &mut rng);
            *running.lock().unwrap() = format!("case {i} {kind}: {input}");
            let t = Instant::now();
            let verdict = catch_unwind(AssertUnwindSafe(run)).map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            if tx.send((i, kind, input, t.elapsed(), verdict)).is_err() {
                return;
            }
        }
    });
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut panics = 0;
    let mut per_kind = std::collections::BTreeMap::new();
    let start = Instant::now();
    for _ in 0..cases {
        let (i, kind, input, took, verdict) = match rx.recv_timeout(hang) {
            Ok(v) => v,
            Err(_) => {
                std::panic::set_hook(hook);
                panic!(
                    "{what}: a case ran over {hang:?} (a hang) after {} cases; seed {seed:#x}; {}",
                    accepted + refused + failures.len(),
                    current.lock().unwrap()
                );
            }
        };
        *per_kind.entry(kind).or_insert(Duration::ZERO) += took;
        let input: String = input.chars().take(400).collect();
        if took > hang / 10 {
            println!("{what}: case {i} took {:.1} s: {input}", took.as_secs_f64());
        }
        match verdict {
            Ok(Ok(Outcome::Accepted)) => accepted += 1,
            Ok(Ok(Outcome::Refused)) => refused += 1,
            Ok(Err(why)) => failures.push(format!("case {i} {kind}: {why}\n    input: {input}")),
            Err(msg) => {
                panics += 1;
                failures.push(format!("case {i} {kind}: PANIC {msg}\n    input: {input}"));
            }
        }
    }
    worker.join().expect("the worker catches every panic");
    std::panic::set_hook(hook);
    println!(
        "{what}: {cases} cases (seed {seed:#x}) in {:.1} s: {accepted} accepted and run end to end, {refused} refused naming the field or flag, {panics} panics, 0 hangs, {} other failures",
        start.elapsed().as_secs_f64(),
        failures.len() - panics
    );
    println!("{what}: seconds per kind {per_kind:?}");
    assert!(
        failures.is_empty(),
        "{} failing cases; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(15)].join("\n")
    );
    assert!(
        accepted > cases / 10 && refused > cases / 10,
        "{accepted} / {refused}"
    );
}

#[test]
fn fuzz_configs_and_command_lines() {
    let cases = env_usize("TINYNAS_FUZZ_CASES", 10_000) as usize;
    let seed = env_usize("TINYNAS_FUZZ_SEED", 0x5eed_f022);
    drive("fuzz", cases, seed, HANG_LIMIT, |i, rng| {
        let kind = KINDS[i % KINDS.len()];
        let (input, run) = make_case(kind, rng);
        (kind, input, run)
    });
}

/// The GPU commands' command lines, on a tiny run made first (`TINYNAS_FUZZ_GPU_CASES`, default
/// 150; the seed as above). An accepted case trains, measures or exports for real, so the
/// limit per case is longer.
#[test]
fn fuzz_gpu_command_lines() {
    let cases = env_usize("TINYNAS_FUZZ_GPU_CASES", 150) as usize;
    let seed = env_usize("TINYNAS_FUZZ_SEED", 0x5eed_f022);
    let dir = std::env::temp_dir().join(format!("tinynas-fuzz-gpu-{}", std::process::id()));
    let fx = gpu::Fixture::new(&dir);
    drive(
        "fuzz gpu",
        cases,
        seed,
        Duration::from_secs(180),
        move |i, rng| {
            let (args, named) = gpu::gpu_command_line(rng, &fx, i);
            let kind: &'static str = match args[1].as_str() {
                "train" => "train",
                "train-mobilenet" => "train-mobilenet",
                "eval" => "eval",
                "search" => "search",
                "predictor" => "predictor",
                "export" => "export",
                _ => "bench",
            };
            let out = fx.dir.join(format!("out-{i}"));
            (
                kind,
                args.join(" "),
                Box::new(move || {
                    let verdict = gpu::gpu_case(&args, &named);
                    let _ = std::fs::remove_dir_all(&out);
                    verdict
                }),
            )
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const KINDS: [&str; 7] = [
    "network", "space", "subnet", "schedule", "run", "cli", "network",
];

fn make_case(kind: &'static str, rng: &mut StdRng) -> (String, Box<dyn FnOnce() -> CaseResult>) {
    match kind {
        "network" => {
            let base = base_network(rng);
            let (text, field) = mutate(&base, rng);
            (text.clone(), Box::new(move || network_case(&text, &field)))
        }
        "space" => {
            let base = serde_json::to_value(base_space(rng)).unwrap();
            let (text, field) = mutate(&base, rng);
            (text.clone(), Box::new(move || space_case(&text, &field)))
        }
        "subnet" => {
            let space = base_space(rng);
            let r = *space.resolutions.choose(rng).unwrap();
            let base = serde_json::to_value(space.sample(rng, r)).unwrap();
            let (text, field) = mutate(&base, rng);
            (
                text.clone(),
                Box::new(move || subnet_case(&space, &text, &field)),
            )
        }
        "schedule" => {
            let space = base_space(rng);
            let base = serde_json::to_value(Schedule::progressive(&space, 8, 0.1, 4)).unwrap();
            let (text, field) = mutate(&base, rng);
            (
                text.clone(),
                Box::new(move || schedule_case(&space, &text, &field)),
            )
        }
        "run" => {
            let space = base_space(rng);
            let cfg = RunConfig::new("synthetic", space.clone(), Schedule::joint(2, 0.1, 3));
            let base = serde_json::to_value(cfg).unwrap();
            let (text, field) = mutate(&base, rng);
            (text.clone(), Box::new(move || run_case(&text, &field)))
        }
        _ => {
            let (args, flag) = command_line(rng);
            (
                args.join(" "),
                Box::new(move || cli_case(&args, flag.as_deref())),
            )
        }
    }
}

// ---- bases: valid inputs the mutations start from ----

fn base_space(rng: &mut StdRng) -> SearchSpace {
    let mut s = SearchSpace {
        in_channels: [1, 3][rng.random_range(0..2)],
        width_mult: [0.2, 0.35, 0.5, 1.0][rng.random_range(0..4)],
        resolutions: vec![[32, 48, 64, 96][rng.random_range(0..4)]],
        ..SearchSpace::default()
    };
    if rng.random_bool(0.3) {
        s.resolutions.push(128);
    }
    s
}

fn base_network(rng: &mut StdRng) -> Value {
    let net = if rng.random_bool(0.5) {
        mobilenet_v2(
            [0.35, 0.5, 1.0][rng.random_range(0..3)],
            [96, 128, 160][rng.random_range(0..3)],
            [10, 1000][rng.random_range(0..2)],
        )
    } else {
        let space = base_space(rng);
        let r = space.resolutions[0];
        from_subnet(&space, &space.sample(rng, r)).unwrap()
    };
    serde_json::to_value(net).unwrap()
}
