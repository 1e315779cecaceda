//! Usage checked by the argument parser: an option that only applies with another one, given
//! without it (or with one it cannot go with), is a usage error (exit 2) naming the flag typed,
//! before any file is read or any folder made.

use std::process::Command;

fn tinynas(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Exit 2, every one of `want` in the message, nothing made on the disk.
fn usage_error(args: &[&str], want: &[&str]) {
    let (code, err) = tinynas(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?} should name {w:?}: {err}");
    }
}

fn gone(name: &str) -> String {
    let p = std::env::temp_dir().join(format!("tinynas-usage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p.display().to_string()
}

#[test]
fn an_option_without_the_one_it_applies_to_is_a_usage_error() {
    let out = gone("out");
    let run = gone("run");
    // Each: the command line, then what the message must name.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["eval", "--run", &run, "--calib-images", "16"],
            &["--calib-images", "--int8"],
        ),
        (
            &["eval", "--run", &run, "--int8", "--profile", "t.json"],
            &["--profile", "--int8"],
        ),
        (
            &[
                "export",
                "--run",
                &run,
                "--out",
                &out,
                "--verify-images",
                "4",
            ],
            &["--verify-images", "--verify"],
        ),
        (
            &[
                "export",
                "--run",
                &run,
                "--out",
                &out,
                "--finetune-lr",
                "0.1",
            ],
            &["--finetune-lr", "--finetune-epochs"],
        ),
        (
            &[
                "export",
                "--run",
                &run,
                "--out",
                &out,
                "--target-images",
                "3",
            ],
            &["--target-images", "--target"],
        ),
        (&["space", "--top", "3"], &["--top", "--out"]),
        (
            &["space", "--out", &out, "--top", "0"],
            &["--top", "0", "not in 1.."],
        ),
        (
            &["search", "--run", &run, "--measure", "--min-tau", "0.5"],
            &["--measure", "--min-tau"],
        ),
        (
            &["search", "--run", &run, "--measure", "--population", "8"],
            &["--measure", "--population"],
        ),
        (
            &["search", "--run", &run, "--measure", "--generations", "8"],
            &["--measure", "--generations"],
        ),
        (
            &["search", "--run", &run, "--measure", "--top-k", "3"],
            &["--measure", "--top-k"],
        ),
        // Patches: a grid of at least 2x2, at most 16x16.
        (
            &["export", "--run", &run, "--out", &out, "--patch", "1"],
            &["--patch", "2..=16"],
        ),
        (
            &["export", "--run", &run, "--out", &out, "--patch", "17"],
            &["--patch", "2..=16"],
        ),
    ];
    for (args, want) in cases {
        usage_error(args, want);
    }
    // Nothing of --out made by any of them.
    assert!(!std::path::Path::new(&out).exists());
    // The same options with the one they apply to pass the parser (and fail later, on the
    // missing run, naming it: not a usage error of theirs).
    for args in [
        &["eval", "--run", &run, "--int8", "--calib-images", "16"][..],
        &["search", "--run", &run, "--min-tau", "0.5"][..],
    ] {
        let (code, err) = tinynas(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(&run), "{args:?}: {err}");
    }
}

#[test]
fn the_measured_population_is_named_by_its_own_flag() {
    let run = gone("run2");
    for (args, want, not) in [
        (
            vec!["search", "--run", &run, "--measure-population", "1"],
            "--measure-population: 1 is out of range",
            "error: --population",
        ),
        (
            vec![
                "search",
                "--run",
                &run,
                "--measure-population",
                "30",
                "--budget",
                "10",
            ],
            "--measure-population",
            "(--population)",
        ),
    ] {
        let (code, err) = tinynas(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains(not), "{args:?}: {err}");
    }
}

#[test]
fn fine_tuning_rate_with_zero_epochs_is_refused() {
    let out = gone("ft");
    let run = gone("ftrun");
    let (code, err) = tinynas(&[
        "export",
        "--run",
        &run,
        "--out",
        &out,
        "--finetune-epochs",
        "0",
        "--finetune-lr",
        "0.1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--finetune-lr") && err.contains("--finetune-epochs is 0"),
        "{err}"
    );
    assert!(!std::path::Path::new(&out).exists());
}
