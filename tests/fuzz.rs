//! A fuzz harness over the library's boundaries. Generated network, search-space, subnet,
//! schedule and run-settings JSON (extreme, non-finite, empty, huge and wrong-typed values,
//! deleted and unknown fields, truncated text) and `tinynas mem|space|bench mem` command lines
//! go through the entry points the commands use. Every case ends in Ok, and is then evaluated
//! end to end, or in an error that names the field or flag at fault: no panic, no abort (a
//! huge allocation kills the test), no hang (a case over the time limit fails the test).
//! `TINYNAS_FUZZ_CASES` and `TINYNAS_FUZZ_SEED` set the count and the seed; a failure prints
//! the case index and its input, so it can be replayed.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tinynas::mcu::fast::Evaluator;
use tinynas::mcu::net::{Network, from_subnet, mobilenet_v2, parse_json};
use tinynas::mcu::{EvalOptions, Scheduler, evaluate};
use tinynas::supernet::{SearchSpace, SubnetConfig};
use tinynas::train::run::RunConfig;
use tinynas::train::schedule::Schedule;

/// How one case ended.
enum Outcome {
    Accepted,
    Refused,
}

/// A case: what it is (for the failure message) and its verdict.
type CaseResult = Result<Outcome, String>;

const HANG_LIMIT: Duration = Duration::from_secs(20);

fn env_usize(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fuzz_configs_and_command_lines() {
    let cases = env_usize("TINYNAS_FUZZ_CASES", 10_000) as usize;
    let seed = env_usize("TINYNAS_FUZZ_SEED", 0x5eed_f022);
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
    let worker = std::thread::spawn(move || {
        for i in 0..cases {
            let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
            let kind = KINDS[i % KINDS.len()];
            let (input, run) = make_case(kind, &mut rng);
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
        let (i, kind, input, took, verdict) = match rx.recv_timeout(HANG_LIMIT) {
            Ok(v) => v,
            Err(_) => {
                std::panic::set_hook(hook);
                panic!(
                    "fuzz: a case ran over {HANG_LIMIT:?} (a hang) after {} cases; seed {seed:#x}",
                    accepted + refused + failures.len()
                );
            }
        };
        *per_kind.entry(kind).or_insert(Duration::ZERO) += took;
        let input: String = input.chars().take(400).collect();
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
        "fuzz: {cases} cases (seed {seed:#x}) in {:.1} s: {accepted} accepted and evaluated end to end, {refused} refused naming the field or flag, {panics} panics, 0 hangs, {} other failures",
        start.elapsed().as_secs_f64(),
        failures.len() - panics
    );
    println!("fuzz: seconds per kind {per_kind:?}");
    assert!(
        failures.is_empty(),
        "{} failing cases; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(15)].join("\n")
    );
    // Both branches are exercised: a harness that refuses (or accepts) everything tests little.
    assert!(
        accepted > cases / 10 && refused > cases / 10,
        "{accepted} / {refused}"
    );
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

// ---- mutations ----

fn extreme(rng: &mut StdRng) -> Value {
    let pool = [
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(3),
        json!(4),
        json!(7),
        json!(1000),
        json!(65_535),
        json!(100_000),
        json!(1u64 << 31),
        json!(1u64 << 53),
        json!(u64::MAX),
        json!(1e300),
        json!(-1e300),
        json!(0.5),
        json!(1e-300),
        json!(-0.0),
        json!("x"),
        json!(""),
        Value::Null,
        json!(true),
        json!([]),
        json!({}),
        json!([0]),
        json!([1_000_000_000]),
    ];
    pool.choose(rng).unwrap().clone()
}

/// Every path in `v` (object keys and array indices).
fn paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                here.push(Seg::Key(k.clone()));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Seg::Index(i));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Seg::Key(k) => &mut v[k.as_str()],
        Seg::Index(i) => &mut v[*i],
    })
}

/// The field a path names: its last key (an index names the list it is in).
fn field_of(path: &[Seg]) -> String {
    path.iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(k) => Some(k.clone()),
            Seg::Index(_) => None,
        })
        .unwrap_or_default()
}

/// One to three mutations of `base`; returns the text and the fields mutated (none for
/// text-level damage, where the error must give a position instead).
fn mutate(base: &Value, rng: &mut StdRng) -> (String, Vec<String>) {
    let mut v = base.clone();
    let mut field = Vec::new();
    if rng.random_bool(0.08) {
        // Untouched: the valid base itself must be accepted.
        return (v.to_string(), field);
    }
    for _ in 0..rng.random_range(1..=3) {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let Some(path) = all.choose(rng).cloned() else {
            break;
        };
        field.push(field_of(&path));
        let (parent, last) = path.split_at(path.len() - 1);
        match rng.random_range(0..10) {
            0 => {
                // Delete the field (or the list element).
                match (&last[0], at(&mut v, parent)) {
                    (Seg::Key(k), Value::Object(m)) => {
                        m.remove(k);
                    }
                    (Seg::Index(i), Value::Array(a)) => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
            1 => {
                // An unknown field beside it.
                if let Value::Object(m) = at(&mut v, parent) {
                    m.insert("zz_unknown".into(), json!(1));
                    field.push("zz_unknown".into());
                }
            }
            2 => {
                // A list emptied or made huge.
                let target = at(&mut v, &path);
                if let Value::Array(a) = target {
                    if rng.random_bool(0.5) || a.is_empty() {
                        a.clear();
                    } else {
                        let x = a[0].clone();
                        a.extend(std::iter::repeat_n(x, 5000));
                    }
                } else {
                    *target = extreme(rng);
                }
            }
            3 => {
                // A number moved a little: off by one, doubled, halved.
                let target = at(&mut v, &path);
                if let Some(x) = target.as_u64() {
                    *target =
                        json!([x.saturating_sub(1), x + 1, x * 2, x / 2][rng.random_range(0..4)]);
                } else {
                    *target = extreme(rng);
                }
            }
            _ => *at(&mut v, &path) = extreme(rng),
        }
    }
    let mut text = v.to_string();
    if rng.random_bool(0.1) {
        // Text-level damage: a truncated file or a non-finite literal JSON cannot hold.
        if rng.random_bool(0.5) && !text.is_empty() {
            let cut = rng.random_range(0..text.len());
            text.truncate(cut);
        } else if let Some(pos) = text.find(|c: char| c.is_ascii_digit()) {
            let lit = [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e999",
                "18446744073709551616",
            ]
            .choose(rng)
            .unwrap();
            text.replace_range(pos..pos + 1, lit);
        }
        field.clear();
    }
    (text, field)
}

/// A refusal passes when its message names a mutated field, or a field the mutation breaks
/// (`extra`), or for text-level damage a position.
fn refused(err: &tinynas::Error, field: &[String], extra: &[&str]) -> CaseResult {
    let msg = err.to_string();
    let named = if field.is_empty() {
        msg.contains("line ") || msg.contains("EOF") || extra.iter().any(|f| msg.contains(f))
    } else {
        field.iter().any(|f| msg.contains(f.as_str())) || extra.iter().any(|f| msg.contains(f))
    };
    if named {
        Ok(Outcome::Refused)
    } else {
        Err(format!("refused without naming {field:?}: {msg}"))
    }
}

// ---- the cases ----

/// Accepted networks run end to end: every scheduler, and the search's fast path agreeing with
/// the full evaluation.
fn evaluate_all(net: &Network) -> Result<(), String> {
    let mut fast = Evaluator::default();
    for s in Scheduler::ALL {
        let r = evaluate(
            net,
            &EvalOptions {
                scheduler: s,
                ..EvalOptions::default()
            },
        )
        .map_err(|e| format!("accepted, then {s:?} failed: {e}"))?;
        if r.peak_sram_bytes == 0 || r.macs == 0 {
            return Err(format!(
                "{s:?}: peak {} B, {} MACs",
                r.peak_sram_bytes, r.macs
            ));
        }
        if let Some(f) = fast.summary(net, s, true)
            && (f.peak_sram_bytes, f.macs) != (r.peak_sram_bytes, r.macs)
        {
            return Err(format!(
                "{s:?}: fast path {:?} vs full evaluation {:?}",
                (f.peak_sram_bytes, f.macs),
                (r.peak_sram_bytes, r.macs)
            ));
        }
    }
    Ok(())
}

// Fields whose error can surface at a neighbour: a channel count breaks the next block's chain;
// a size limit is crossed at a later layer; a resolution fails at a stride.
const NET_NEIGHBOURS: [&str; 6] = [
    "in_channels",
    "MACs",
    "bytes",
    "stride",
    "resolution",
    "kernel_size",
];

fn network_case(text: &str, field: &[String]) -> CaseResult {
    match Network::from_json(text) {
        Ok(net) => evaluate_all(&net).map(|_| Outcome::Accepted),
        Err(e) => refused(&e, field, &NET_NEIGHBOURS),
    }
}

/// Fields of a space that its resolution check names when a network of the space fails.
const SPACE_NEIGHBOURS: [&str; 3] = ["resolutions", "stage_strides", "base_widths"];

fn space_case(text: &str, field: &[String]) -> CaseResult {
    let space = match parse_json::<SearchSpace>(text, "search space").and_then(|s| {
        s.validate()?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => return refused(&e, field, &SPACE_NEIGHBOURS),
    };
    let mut rng = StdRng::seed_from_u64(text.len() as u64);
    for &r in &space.resolutions {
        for s in [
            space.largest(r),
            space.smallest(r),
            space.sample(&mut rng, r),
        ] {
            let net = from_subnet(&space, &s).map_err(|e| format!("accepted, then {e}"))?;
            evaluate_all(&net)?;
        }
    }
    Ok(Outcome::Accepted)
}

fn subnet_case(space: &SearchSpace, text: &str, field: &[String]) -> CaseResult {
    let parsed = parse_json::<SubnetConfig>(text, "subnet").and_then(|s| {
        space.check(&s)?;
        Ok(s)
    });
    match parsed {
        Ok(s) => {
            let net = from_subnet(space, &s).map_err(|e| format!("accepted, then {e}"))?;
            evaluate_all(&net).map(|_| Outcome::Accepted)
        }
        // Lists of the wrong length are reported as the subnet's `lengths`.
        Err(e) => refused(&e, field, &["lengths", "resolution"]),
    }
}

fn schedule_case(space: &SearchSpace, text: &str, field: &[String]) -> CaseResult {
    let parsed = parse_json::<Schedule>(text, "schedule").and_then(|s| {
        s.validate(space)?;
        Ok(s)
    });
    match parsed {
        Ok(s) => {
            // Accepted: every phase's space is valid and every step has a position.
            for p in &s.phases {
                p.space(space)
                    .validate()
                    .map_err(|e| format!("phase {} accepted, then {e}", p.name))?;
            }
            let spe = 937;
            let total = s.total_steps(spe);
            for step in [0, total / 2, total.saturating_sub(1)] {
                if s.position(step, spe).is_none() {
                    return Err(format!("step {step} of {total} has no position"));
                }
            }
            if s.position(total, spe).is_some() {
                return Err(format!("step {total} is past the end but has a position"));
            }
            Ok(Outcome::Accepted)
        }
        Err(e) => refused(&e, field, &["phases", "epochs"]),
    }
}

fn run_case(text: &str, field: &[String]) -> CaseResult {
    let parsed = parse_json::<RunConfig>(text, "run settings").and_then(|c| {
        c.validate()?;
        Ok(c)
    });
    match parsed {
        Ok(cfg) => {
            // The settings `train` accepts give networks that evaluate end to end.
            let r = *cfg.space.resolutions.iter().max().unwrap();
            let net = from_subnet(&cfg.space, &cfg.space.largest(r))
                .map_err(|e| format!("accepted, then {e}"))?;
            evaluate_all(&net).map(|_| Outcome::Accepted)
        }
        // The run settings' flags are named as the command line spells them.
        Err(e) => {
            let flags: Vec<String> = field
                .iter()
                .map(|f| format!("--{}", f.replace('_', "-")))
                .collect();
            let mut extra = vec!["resolutions", "stage_strides", "base_widths", "phases"];
            extra.extend(flags.iter().map(|f| f.as_str()));
            refused(&e, field, &extra)
        }
    }
}

// ---- command lines of the CPU-only commands ----

fn command_line(rng: &mut StdRng) -> (Vec<String>, Option<String>) {
    let cmd = ["mem", "mem", "mem", "space", "bench-mem"]
        .choose(rng)
        .unwrap();
    let mut args: Vec<String> = vec!["tinynas".into()];
    let flags: &[(&str, &[&str])] = match *cmd {
        "mem" => {
            args.push("mem".into());
            args.extend(
                [
                    ["--model", "mbv2"],
                    ["--model", "proxyless"],
                    ["--model", "mcunet-space"],
                ]
                .choose(rng)
                .unwrap()
                .iter()
                .map(|s| s.to_string()),
            );
            &[
                (
                    "--res",
                    &["32", "0", "1", "7", "224", "100000", "-1", "abc"],
                ),
                ("--width", &["0.5", "0", "-1", "nan", "inf", "1e9", "2.0"]),
                ("--classes", &["10", "0", "1", "4294967296"]),
                ("--scheduler", &["tflm", "all", "patch", "nope"]),
                ("--device", &["stm32f412", "nope", ""]),
                ("--sram", &["256", "0", "18014398509481984", "-5"]),
                ("--flash", &["1024", "0", "99999999999"]),
                ("--runtime-flash", &["100", "18446744073709551615"]),
                ("--patches", &["4", "0", "1000"]),
                ("--subnet", &["min", "max", "/nonexistent.json"]),
            ]
        }
        "space" => {
            args.push("space".into());
            args.extend(["--samples", "8", "--top", "2"].map(String::from));
            &[
                ("--resolutions", &["48,64", "0", "100000", "48,,64", ""]),
                ("--widths", &["0.3,0.5", "0", "nan", "-1", "1e9"]),
                ("--rank", &["mean", "p80", "p101", "pnan", "x"]),
                ("--min-fit", &["0.1", "-1", "nan", "2"]),
                ("--sram", &["128", "0", "18014398509481984"]),
                ("--scheduler", &["analytic", "nope"]),
                ("--top", &["0", "3", "100000"]),
            ]
        }
        _ => {
            // Always a small count: the default (20,000 evaluations) is a benchmark's.
            let count = ["20", "0", "3", "-1"].choose(rng).unwrap();
            args.extend(["bench", "mem", "--count", count].map(String::from));
            &[
                ("--res", &["64", "0", "1", "100000"]),
                ("--width", &["0.5", "0", "nan", "1e9"]),
            ]
        }
    };
    let mut first = None;
    for (flag, values) in flags {
        if rng.random_bool(0.3) {
            args.push(flag.to_string());
            args.push(values.choose(rng).unwrap().to_string());
            first.get_or_insert(flag.to_string());
        }
    }
    (args, first)
}

fn cli_case(args: &[String], flag: Option<&str>) -> CaseResult {
    use clap::Parser;
    let cli = match tinynas::cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        // clap's refusals name the argument and exit 2 (`Error::exit_code`).
        Err(e) => {
            let msg = e.to_string();
            return if e.exit_code() == 2 && (msg.contains("--") || msg.contains('<')) {
                Ok(Outcome::Refused)
            } else {
                Err(format!("clap refused without naming a flag: {msg}"))
            };
        }
    };
    match tinynas::cli::run(cli) {
        Ok(()) => Ok(Outcome::Accepted),
        Err(e) => {
            let msg = e.to_string();
            let named = msg.contains("--") || flag.is_some_and(|f| msg.contains(f));
            if e.exit_code() == 2 && named {
                Ok(Outcome::Refused)
            } else {
                Err(format!("exit {}: {msg}", e.exit_code()))
            }
        }
    }
}
