//! Command lines of the CPU-only commands (`mem`, `space`, `bench mem`) with extreme values,
//! through clap and `tinynas::cli::run`.

use super::{CaseResult, Outcome};
use rand::seq::IndexedRandom;
use rand::{Rng, rngs::StdRng};

// ---- command lines of the CPU-only commands ----

pub fn command_line(rng: &mut StdRng) -> (Vec<String>, Option<String>) {
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
            // --top applies to the plot of --out, which this harness does not write.
            args.extend(["--samples", "8"].map(String::from));
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

pub fn cli_case(args: &[String], flag: Option<&str>) -> CaseResult {
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
            // As the CLI prints it: the library's error with its fields named by their flags.
            let msg = tinynas::cli::flags::describe(&e);
            let named = msg.contains("--") || flag.is_some_and(|f| msg.contains(f));
            if e.exit_code() == 2 && named {
                Ok(Outcome::Refused)
            } else {
                Err(format!("exit {}: {msg}", e.exit_code()))
            }
        }
    }
}
