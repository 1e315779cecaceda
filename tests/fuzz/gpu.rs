//! Command lines of the GPU commands (`train`, `train-mobilenet`, `eval`, `search`, `predictor
//! collect|fit`, `export`, `bench train`) with extreme, non-finite, negative, missing-file and
//! conflicting values, through clap and `tinynas::cli::run` in this process, on a tiny trained
//! run made once. Each starts from a command line that runs in seconds and replaces the values
//! of a few of its flags (or adds flags it does not have); accepted ones run to the end.

use super::cli::cli_case;
use super::{CaseResult, Outcome};
use rand::seq::IndexedRandom;
use rand::{Rng, rngs::StdRng};
use std::path::{Path, PathBuf};

/// What every case reads: a tiny supernet run with measured subnets, an idx dataset for
/// `train-mobilenet`, a search space and files that are not what their flag wants.
pub struct Fixture {
    pub dir: PathBuf,
    pub run: PathBuf,
    pub data: PathBuf,
    pub space: PathBuf,
}

const SPACE: &str = r#"{"base_widths": [8, 8, 16, 16, 24, 32], "width_mult": 1.0,
 "stage_strides": [2, 2, 1], "kernel_choices": [3, 5], "expand_choices": [3, 4],
 "depth_choices": [1, 2], "resolutions": [16], "in_channels": 1, "classes": 10,
 "last_expand": 4, "last_kernel": 3, "kernel_transform": false}"#;

fn run_cli(args: &[&str]) {
    use clap::Parser;
    let mut v = vec!["tinynas"];
    v.extend_from_slice(args);
    let cli = tinynas::cli::Cli::try_parse_from(&v).unwrap();
    tinynas::cli::run(cli).unwrap_or_else(|e| panic!("fixture {args:?}: {e}"));
}

impl Fixture {
    pub fn new(dir: &Path) -> Fixture {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let space = dir.join("space.json");
        std::fs::write(&space, SPACE).unwrap();
        std::fs::write(dir.join("garbage.json"), "{\"not\": [1, 2").unwrap();
        std::fs::write(dir.join("empty.json"), "").unwrap();
        let run = dir.join("run");
        let s = |p: &Path| p.to_str().unwrap().to_string();
        run_cli(&[
            "train",
            "--data",
            "synthetic",
            "--space",
            &s(&space),
            "--out",
            &s(&run),
            "--schedule",
            "joint",
            "--epochs",
            "1",
            "--batch",
            "16",
            "--train-images",
            "164",
            "--val-images",
            "36",
            "--recal-images",
            "32",
            "--workers",
            "1",
        ]);
        run_cli(&[
            "predictor",
            "collect",
            "--run",
            &s(&run),
            "--n",
            "12",
            "--recal-images",
            "32",
        ]);
        let data = dir.join("idx");
        super::harden::tiny_dataset(&data);
        Fixture {
            dir: dir.to_path_buf(),
            run,
            data,
            space,
        }
    }
}

/// One command line: its base flags (each with the value the case may replace) and the values
/// to try per flag.
type Flags = Vec<(&'static str, Vec<String>)>;

fn vals(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A command line, and the flags it changed with the files it named (what a refusal may name).
pub fn gpu_command_line(rng: &mut StdRng, fx: &Fixture, case: usize) -> (Vec<String>, Vec<String>) {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = s(&fx.dir.join(format!("out-{case}")));
    let trace = format!("{out}/trace.json");
    let under_a_file = format!("{}/t.json", fx.dir.join("garbage.json").display());
    let (run, data, space) = (s(&fx.run), s(&fx.data), s(&fx.space));
    let missing = s(&fx.dir.join("missing.json"));
    let garbage = s(&fx.dir.join("garbage.json"));
    let empty = s(&fx.dir.join("empty.json"));
    let files = |v: &mut Vec<String>| v.extend([missing.clone(), garbage.clone(), empty.clone()]);
    let cmd = *[
        "train",
        "train-mobilenet",
        "eval",
        "search",
        "collect",
        "fit",
        "export",
        "bench-train",
    ]
    .choose(rng)
    .unwrap();
    // (flag, base value or "" for none, candidate values)
    let (words, base, extra): (Vec<&str>, Vec<(&str, &str)>, Flags) = match cmd {
        "train" => (
            vec!["train"],
            vec![
                ("--data", "synthetic"),
                ("--space", ""),
                ("--out", ""),
                ("--max-steps", "1"),
                ("--batch", "8"),
                ("--train-images", "64"),
                ("--val-images", "16"),
                ("--recal-images", "16"),
                ("--workers", "1"),
                ("--epochs", "1"),
            ],
            vec![
                ("--epochs", vals(&["0", "1", "-3", "1000000000", "nan"])),
                ("--lr", vals(&["0.1", "0", "-1", "nan", "inf", "1e30"])),
                ("--subnets", vals(&["1", "0", "100000"])),
                ("--batch", vals(&["2", "1", "0", "100000000"])),
                ("--resolution", vals(&["16", "0", "7", "100000", "16,24"])),
                ("--width", vals(&["0.35", "0", "-1", "nan", "1e9"])),
                ("--train-images", vals(&["0", "3", "18446744073709551615"])),
                ("--val-images", vals(&["0", "1", "1000000"])),
                ("--recal-images", vals(&["0", "1", "1000000"])),
                ("--image-size", vals(&["16", "0", "100000"])),
                ("--weight-decay", vals(&["0", "-1", "nan", "2"])),
                ("--label-smoothing", vals(&["0", "1", "-0.5", "nan"])),
                ("--distill-weight", vals(&["0", "-1", "nan", "1e9"])),
                ("--crop-pad", vals(&["0", "2", "100000"])),
                ("--checkpoint-every", vals(&["0", "1", "100000"])),
                ("--max-steps", vals(&["0", "1", "2"])),
                ("--workers", vals(&["0", "1", "100000"])),
                ("--schedule", vals(&["joint", "progressive", "nope"])),
                ("--space", vals(&[space.as_str(), "max"])),
                (
                    "--data",
                    vals(&["synthetic", data.as_str(), "/nonexistent"]),
                ),
                ("--profile-steps", vals(&["0", "1"])),
            ],
        ),
        "train-mobilenet" => (
            vec!["train-mobilenet"],
            vec![
                ("--data", data.as_str()),
                ("--epochs", "1"),
                ("--batch", "16"),
                ("--out", ""),
            ],
            vec![
                ("--epochs", vals(&["0", "1", "-1", "1000000000"])),
                ("--batch", vals(&["1", "2", "64", "65", "100000000"])),
                ("--lr", vals(&["0.1", "0", "-1", "nan", "1e30"])),
                ("--weight-decay", vals(&["0", "-1", "nan"])),
                ("--label-smoothing", vals(&["0", "1", "nan"])),
                ("--image-size", vals(&["16", "0", "100000"])),
                ("--max-steps", vals(&["0", "1", "3"])),
                ("--checkpoint-every", vals(&["0", "1"])),
                ("--net", {
                    let mut v = vals(&[]);
                    files(&mut v);
                    v
                }),
                ("--resume", vals(&[""])),
                ("--profile", vals(&[trace.as_str(), under_a_file.as_str()])),
                ("--profile-steps", vals(&["0", "1", "5"])),
            ],
        ),
        "eval" => (
            vec!["eval"],
            vec![
                ("--run", run.as_str()),
                ("--subnet", "min"),
                ("--recal-images", "16"),
            ],
            vec![
                ("--subnet", {
                    let mut v = vals(&["max", "min", "mid"]);
                    files(&mut v);
                    v
                }),
                ("--resolution", vals(&["16", "0", "24", "100000"])),
                ("--recal-images", vals(&["0", "1", "1000000"])),
                ("--split", vals(&["val", "test", "train", ""])),
                ("--int8", vals(&[""])),
                ("--calib-images", vals(&["0", "4", "1000000"])),
                ("--run", vals(&["/nonexistent", space.as_str()])),
            ],
        ),
        "search" => (
            vec!["search"],
            vec![
                ("--run", run.as_str()),
                ("--out", ""),
                ("--measure", "-"),
                ("--budget", "6"),
                ("--measure-population", "4"),
                ("--top-k", "2"),
                ("--random", "2"),
                ("--recal-images", "16"),
            ],
            vec![
                ("--population", vals(&["4", "0", "1", "1000000000"])),
                ("--generations", vals(&["1", "0", "1000000000"])),
                ("--measure-population", vals(&["0", "2", "100000"])),
                ("--budget", vals(&["0", "1", "4"])),
                ("--top-k", vals(&["0", "1", "100000"])),
                ("--min-tau", vals(&["0.5", "-2", "nan", "2"])),
                ("--random", vals(&["0", "1", "100000"])),
                ("--parent-ratio", vals(&["0.25", "0", "2", "nan"])),
                ("--mutation-prob", vals(&["0.1", "2", "-1", "nan"])),
                ("--mutation-ratio", vals(&["0.5", "2", "nan"])),
                ("--sram", vals(&["1", "64", "0", "18014398509481984", "-5"])),
                ("--flash", vals(&["1", "512", "0", "nan"])),
                ("--device", vals(&["stm32f411", "nrf52832", "nope", ""])),
                ("--scheduler", vals(&["tflm", "patch", "nope"])),
                ("--recal-images", vals(&["0", "1", "1000000"])),
            ],
        ),
        "collect" => (
            vec!["predictor", "collect"],
            vec![
                ("--run", run.as_str()),
                ("--n", "13"),
                ("--recal-images", "32"),
            ],
            vec![
                ("--n", vals(&["0", "12", "14", "1000000000"])),
                ("--recal-images", vals(&["32", "16", "0"])),
                ("--seed", vals(&["0", "-1", "18446744073709551615"])),
            ],
        ),
        "fit" => (
            vec!["predictor", "fit"],
            vec![
                ("--run", run.as_str()),
                ("--iterations", "50"),
                ("--folds", "2"),
            ],
            vec![
                ("--hidden", vals(&["0", "1", "16", "100000"])),
                ("--iterations", vals(&["0", "1", "1000000000000"])),
                ("--lr", vals(&["0", "-1", "nan", "1e30"])),
                ("--weight-decay", vals(&["0", "-1", "nan"])),
                ("--holdout", vals(&["0", "0.2", "1", "nan"])),
                ("--folds", vals(&["0", "1", "2", "100000"])),
                ("--patience", vals(&["0", "1", "1000000000"])),
            ],
        ),
        "export" => (
            vec!["export"],
            vec![
                ("--run", run.as_str()),
                ("--subnet", "min"),
                ("--out", ""),
                ("--calib-images", "8"),
                ("--recal-images", "16"),
            ],
            vec![
                ("--subnet", {
                    let mut v = vals(&["max", "min"]);
                    files(&mut v);
                    v
                }),
                ("--resolution", vals(&["16", "0", "100000"])),
                ("--calib-images", vals(&["0", "1", "1000000"])),
                ("--recal-images", vals(&["0", "1000000"])),
                ("--finetune-epochs", vals(&["0", "1", "1000000000"])),
                ("--finetune-lr", vals(&["0.01", "0", "-1", "nan"])),
                ("--verify", vals(&["/nonexistent/python"])),
                ("--verify-images", vals(&["0", "1000000"])),
            ],
        ),
        _ => (
            vec!["bench", "train"],
            vec![
                ("--res", "16"),
                ("--batch", "2"),
                ("--steps", "1"),
                ("--subnets", "1"),
            ],
            vec![
                ("--res", vals(&["0", "1", "7", "100000"])),
                ("--batch", vals(&["0", "1", "100000000"])),
                ("--steps", vals(&["0", "1", "1000000000000"])),
                ("--subnets", vals(&["0", "1", "100000"])),
            ],
        ),
    };
    // The GPU options every command shares.
    let mut extra = extra;
    extra.push(("--backend", vals(&["vulkan", "nope", ""])));
    extra.push(("--adapter", vals(&["nope", "llvmpipe"])));
    extra.push(("--f16", vals(&[""])));
    let mut flags: Vec<(String, String)> = base
        .iter()
        .map(|(f, v)| {
            let v = match (*f, *v) {
                ("--out", "") => out.clone(),
                ("--space", "") => space.clone(),
                _ => v.to_string(),
            };
            (f.to_string(), v)
        })
        .collect();
    let mut named = Vec::new();
    let changes = rng.random_range(1..=3);
    for _ in 0..changes {
        let (flag, values) = extra.choose(rng).unwrap();
        let value = values.choose(rng).unwrap().clone();
        named.push(flag.to_string());
        if value.contains('/') {
            named.push(value.clone());
        }
        match flags.iter_mut().find(|(f, _)| f == flag) {
            Some(slot) => slot.1 = value,
            None => flags.push((flag.to_string(), value)),
        }
    }
    let mut args: Vec<String> = vec!["tinynas".into()];
    args.extend(words.iter().map(|w| w.to_string()));
    for (f, v) in flags {
        args.push(f);
        // "" marks a switch; "-" a base switch.
        if !v.is_empty() && v != "-" {
            args.push(v);
        }
    }
    (args, named)
}

/// A GPU command line's verdict: as the CPU commands' (no panic, exit 2 naming a flag), or exit
/// 2 naming a file the case gave; a diverging loss may stop a run with an error that says at which step.
pub fn gpu_case(args: &[String], named: &[String]) -> CaseResult {
    match cli_case(args, named.first().map(|s| s.as_str())) {
        Err(why) if why.starts_with("exit 1") && why.contains("non-finite") => Ok(Outcome::Refused),
        Err(why) if why.starts_with("exit 2") && named.iter().any(|n| why.contains(n.as_str())) => {
            Ok(Outcome::Refused)
        }
        other => other,
    }
}
