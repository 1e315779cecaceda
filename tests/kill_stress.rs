//! SIGKILL at seeded pseudo-random instants (tests/common/kill_runs.rs, its checks in
//! tests/common/kills.rs): an export over an earlier one, and a training run resumed after each
//! kill. After every kill the folder holds the old set or the new one, byte for byte by its
//! manifest, a reader leaves no temporary, and the next run cleans up and carries on. The suite
//! kills each 10 times; the benchmark 100.

mod common;
use common::harden::tmp;
use common::kill_runs::{export_kills, train_kills};

#[test]
fn export_killed_10_times_at_random_instants_holds_one_export_whole() {
    let t = export_kills(&tmp("kills-export"), 10, 32);
    eprintln!("{}", t.line("export"));
    t.assert_clean("export");
    assert_eq!(t.kills, 10);
    assert_eq!(t.old + t.new, 10, "{t:?}");
}

#[test]
fn train_killed_10_times_at_random_instants_resumes_from_one_checkpoint_whole() {
    let t = train_kills(&tmp("kills-train"), 10, 32);
    eprintln!("{}", t.line("train"));
    t.assert_clean("train");
    assert_eq!(t.kills, 10);
    // The kills landed inside the run, and it made progress across them.
    assert!(t.new >= 3, "{t:?}");
}

/// Not a timed test (ignored; run it with `--ignored --nocapture`): 100 kills of each, the
/// figures of BENCHMARKS.md.
#[test]
#[ignore]
fn bench_100_kills_of_export_and_of_train() {
    let e = export_kills(&tmp("bench-kills-export"), 100, 2026);
    let t = train_kills(&tmp("bench-kills-train"), 100, 2026);
    println!("{}\n{}", e.line("export"), t.line("train"));
    e.assert_clean("export");
    t.assert_clean("train");
}
