//! Data-parallel training over MPI: `mpirun -np 2 tinynas train` against one process that computes
//! both ranks' gradients itself, a resumed two-rank run against an uninterrupted one, and the
//! refusals (a run resumed with another number of ranks, a rank that fails while the others
//! wait, a binary built without MPI). Needs OpenMPI's `mpirun` (`scripts/setup.sh mpi`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
#[cfg(feature = "mpi")]
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-dist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `mpirun -np ranks tinynas args…`, killed (and the test failed) after `limit`.
#[cfg(feature = "mpi")]
fn mpirun(ranks: usize, args: &[&str], limit: Duration) -> (i32, String, String) {
    let n = ranks.to_string();
    let mut all = vec!["-np", &n, env!("CARGO_BIN_EXE_tinynas")];
    all.extend_from_slice(args);
    mpirun_raw(&all, limit)
}

/// `mpirun --oversubscribe args…` (the program and its arguments included).
#[cfg(feature = "mpi")]
fn mpirun_raw(args: &[&str], limit: Duration) -> (i32, String, String) {
    let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("OpenMPI's mpirun (apt-get install openmpi-bin, or scripts/setup.sh mpi)");
    let mut child = Command::new(mpirun)
        .arg("--oversubscribe")
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "mpirun {args:?} still running after {limit:?} (a rank left waiting?)\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn space_file(dir: &Path) -> PathBuf {
    let p = dir.join("space.json");
    std::fs::write(
        &p,
        r#"{"base_widths": [8, 8, 16, 16, 24, 32], "width_mult": 1.0, "stage_strides": [2, 2, 1],
            "kernel_choices": [3, 5], "expand_choices": [3, 4], "depth_choices": [1, 2],
            "resolutions": [16, 20], "in_channels": 1, "classes": 10, "last_expand": 4, "last_kernel": 3}"#,
    )
    .unwrap();
    p
}

/// A small joint-schedule run of two epochs, 5 steps each on two ranks of 16 images.
fn train_args<'a>(space: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "train",
        "--data",
        "synthetic",
        "--space",
        space,
        "--out",
        out,
        "--schedule",
        "joint",
        "--epochs",
        "2",
        "--subnets",
        "3",
        "--train-images",
        "200",
        "--val-images",
        "40",
        "--recal-images",
        "40",
        "--batch",
        "16",
        "--seed",
        "7",
    ];
    v.extend_from_slice(extra);
    v
}

#[cfg(feature = "mpi")]
const LIMIT: Duration = Duration::from_secs(300);

#[cfg(feature = "mpi")]
mod with_mpi {
    use super::*;
    use tinynas::nn::{Module, Sgd};
    use tinynas::supernet::Supernet;
    use tinynas::train::checkpoint;
    use tinynas::train::config::RunConfig;
    use tinynas::train::data::load_data;
    use tinynas::train::loader::prepare;
    use tinynas::train::plan::{epoch_batches, run_augment, step_plan, steps_per_epoch};
    use tinynas::train::{StepConfig, accumulate};

    fn losses_of(dir: &Path) -> Vec<Vec<f32>> {
        std::fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|m| m["kind"] == "step")
            .map(|m| {
                m["losses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect()
    }

    /// Two ranks train as one process would with the mean gradient of both ranks' images: after
    /// 6 steps (across an epoch boundary) the weights and momentum are those of one process that
    /// computes each rank's gradients alone and averages them on the CPU, bit for bit, and the
    /// logged losses are the means of the two ranks'. (Bits, not a tolerance: the order of a float sum
    /// alone moves this small net's momentum by ~2 % within two steps, so a tolerance loose
    /// enough for another order would pass a wrong gradient too.)
    #[test]
    fn two_ranks_train_with_the_mean_gradient_of_both() {
        let dir = tmp("mean");
        let space = space_file(&dir);
        let run = dir.join("run");
        let (s, r) = (space.to_str().unwrap(), run.to_str().unwrap());
        let (code, out, err) = mpirun(2, &train_args(s, r, &["--max-steps", "6"]), LIMIT);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("data-parallel: 2 ranks of 16 images"), "{out}");
        assert!(err.contains("rank 1 of 2 (MPI): adapter"), "{err}");

        let (state, tensors) = checkpoint::load(&run).unwrap();
        assert_eq!(state.step, 6);
        let cfg: RunConfig = serde_json::from_value(state.config).unwrap();
        assert_eq!(cfg.ranks, 2);
        let logged = losses_of(&run);
        assert_eq!(logged.len(), 6);

        // The reference: both ranks' batches through one supernet, gradients summed, halved.
        let e = common::engine();
        let data = load_data(&cfg).unwrap();
        let n = data.train.len();
        let spe = steps_per_epoch(&cfg, n);
        assert_eq!(spe, 5, "160 images, 2 ranks of 16");
        let net = Supernet::new(&e, &cfg.space, cfg.seed).unwrap();
        let sgd = Sgd::new(&e, net.param_list(), cfg.momentum, true, cfg.weight_decay).unwrap();
        let aug = run_augment(&cfg, &data).unwrap();
        let step_cfg = StepConfig {
            distill_weight: cfg.distill_weight,
            label_smoothing: cfg.label_smoothing,
            ..StepConfig::default()
        };
        let grads = || -> Vec<Vec<f32>> {
            sgd.params
                .iter()
                .map(|p| p.tensor.grad().unwrap().to_vec().unwrap())
                .collect()
        };
        let mut seen = std::collections::HashSet::new();
        for (step, logged) in logged.iter().enumerate() {
            // Each rank's losses and gradients, alone.
            let mut per_rank = Vec::new();
            let mut lr = 0.0;
            for rank in [0, 1] {
                let spec = epoch_batches(&cfg, n, step, rank).unwrap().remove(0);
                assert_eq!(spec.step, step);
                // The ranks' images are disjoint within an epoch.
                for &i in &spec.indices {
                    assert!(seen.insert((step / spe, i)), "image {i} twice in an epoch");
                }
                let b = prepare(&data.train, &aug, &spec);
                let x = e
                    .tensor(&b.x, &[cfg.batch, b.channels, b.resolution, b.resolution])
                    .unwrap();
                let y = e.tensor(&b.y, &[cfg.batch]).unwrap();
                let (subnets, step_lr) = step_plan(&cfg, spe, step, b.resolution);
                lr = step_lr;
                sgd.zero_grad(&e);
                let losses = accumulate(&e, &net, &x, &y, &subnets, &step_cfg).unwrap();
                per_rank.push((losses, grads()));
            }
            // MPI's sum (rank 0's plus rank 1's), then the mean: into the gradient buffers.
            let mean = |a: &[f32], b: &[f32]| -> Vec<f32> {
                a.iter().zip(b).map(|(x, y)| (x + y) * 0.5).collect()
            };
            let (l0, g0) = &per_rank[0];
            let (l1, g1) = &per_rank[1];
            for (p, (a, b)) in sgd.params.iter().zip(g0.iter().zip(g1)) {
                p.tensor.grad().unwrap().write(&mean(a, b)).unwrap();
            }
            let losses = mean(l0, l1);
            sgd.step(&e, lr).unwrap();
            assert_eq!(&losses, logged, "step {step}: logged, one process");
        }
        // The same arithmetic: the same bits.
        let mut compared = 0;
        for (name, _, mine) in checkpoint::snapshot(&e, &net, &sgd).unwrap() {
            // Batch-norm running statistics are rank 0's alone (as DDP's): not compared.
            if name.contains("running") {
                continue;
            }
            let theirs = &tensors
                .get(&name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .1;
            let differ = mine.iter().zip(theirs).filter(|(a, b)| a != b).count();
            assert_eq!(
                differ,
                0,
                "{name}: {differ} of {} values differ",
                mine.len()
            );
            compared += mine.len();
        }
        assert!(compared > 10_000, "{compared}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A two-rank run stopped and resumed (rank 0 reads the checkpoint, the others take it from
    /// rank 0) ends bit for bit where an uninterrupted one does; resuming it with one process
    /// is refused, naming the command that continues it.
    #[test]
    fn a_resumed_two_rank_run_ends_where_an_uninterrupted_one_does() {
        let dir = tmp("resume");
        let space = space_file(&dir);
        let s = space.to_str().unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        let (ra, rb) = (a.to_str().unwrap(), b.to_str().unwrap());
        let (code, out, err) = mpirun(2, &train_args(s, ra, &["--max-steps", "7"]), LIMIT);
        assert_eq!(code, 0, "{out}\n{err}");
        let (code, out, err) = mpirun(2, &train_args(s, rb, &["--max-steps", "3"]), LIMIT);
        assert_eq!(code, 0, "{out}\n{err}");

        let (code, _, err) = common::harden::tinynas(&train_args(s, rb, &["--resume"]));
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("2 data-parallel rank(s)") && err.contains("mpirun -np 2"),
            "{err}"
        );

        let (code, out, err) = mpirun(
            2,
            &train_args(s, rb, &["--resume", "--max-steps", "7"]),
            LIMIT,
        );
        assert_eq!(code, 0, "{out}\n{err}");
        let (sa, ta) = checkpoint::load(&a).unwrap();
        let (sb, tb) = checkpoint::load(&b).unwrap();
        assert_eq!((sa.step, sb.step), (7, 7));
        assert_eq!(ta.len(), tb.len());
        for (name, (_, va)) in &ta {
            assert!(tb[name].1 == *va, "{name} differs after resuming");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A non-finite loss stops both ranks at the same step (the losses are averaged before they
    /// are checked): rank 0 reports it once, after taking back what the new run wrote, and the
    /// folder takes a new run at once.
    #[test]
    fn a_non_finite_loss_stops_every_rank_and_leaves_the_folder_as_it_was() {
        let dir = tmp("nan");
        let space = space_file(&dir);
        let s = space.to_str().unwrap();
        let run = dir.join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("notes.txt"), "mine").unwrap();
        let r = run.to_str().unwrap();
        let (code, out, err) = mpirun(2, &train_args(s, r, &["--lr", "1e30"]), LIMIT);
        assert_eq!(code, 1, "{out}\n{err}");
        assert_eq!(err.matches("non-finite loss").count(), 1, "{err}");
        assert!(err.contains("left nothing"), "{err}");
        let mut files: Vec<String> = std::fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, [".tinynas.lock", "notes.txt"]);
        let (code, out, err) = mpirun(2, &train_args(s, r, &["--max-steps", "2"]), LIMIT);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(run.join("state.json").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Ranks started with other options stop before training, naming the option; a run whose
    /// step limit is its last step reports its rate.
    #[test]
    fn ranks_with_other_options_are_refused_naming_the_option() {
        let dir = tmp("options");
        let space = space_file(&dir);
        let s = space.to_str().unwrap();
        let run = dir.join("run");
        let r = run.to_str().unwrap();
        let mut args: Vec<&str> = vec!["-np", "1", env!("CARGO_BIN_EXE_tinynas")];
        args.extend(train_args(s, r, &["--max-steps", "2"]));
        args.extend([":", "-np", "1", env!("CARGO_BIN_EXE_tinynas")]);
        args.extend(train_args(s, r, &["--max-steps", "3", "--flip"]));
        // MPMD syntax: rank 0 with one set of options, rank 1 with another.
        let (code, _, err) = mpirun_raw(&args, LIMIT);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(
                "(rank 1 of 2 (MPI)): this rank differs from rank 0 in --max-steps, settings.flip"
            ) && err.contains("--max-steps: rank 0 2, here 3"),
            "{err}"
        );
        // Rank 0, which matches itself, stops with the same refusal rather than in a gradient sum.
        assert!(err.contains("1 of the 2 ranks differ from rank 0"), "{err}");
        assert!(!run.join("metrics.jsonl").exists());
        // 160 training images, 2 ranks of 16: 5 steps an epoch, 10 in all.
        let (code, out, err) = mpirun(2, &train_args(s, r, &["--max-steps", "10"]), LIMIT);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            out.contains("trained 10 steps") && !out.contains("(0 image-subnets/s)"),
            "{out}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `predictor collect` on two ranks writes, byte for byte, the file one process writes, and
    /// continues it the same way (5 then 8 subnets: rounds of two with a last one of one).
    #[test]
    fn two_ranks_collect_the_subnets_one_process_collects() {
        let dir = tmp("collect");
        let space = space_file(&dir);
        let s = space.to_str().unwrap();
        let one = dir.join("one");
        let (code, out, err) =
            common::harden::tinynas(&train_args(s, one.to_str().unwrap(), &["--max-steps", "3"]));
        assert_eq!(code, 0, "{out}\n{err}");
        let two = dir.join("two");
        std::fs::create_dir_all(&two).unwrap();
        for f in std::fs::read_dir(&one).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, two.join(f.file_name().unwrap())).unwrap();
        }
        let collect = |run: &Path, n: &str| -> Vec<String> {
            let v = [
                "predictor",
                "collect",
                "--run",
                run.to_str().unwrap(),
                "--n",
                n,
                "--recal-images",
                "40",
            ];
            v.iter().map(|x| x.to_string()).collect()
        };
        for n in ["5", "8"] {
            let a = collect(&one, n);
            let (code, out, err) =
                common::harden::tinynas(&a.iter().map(|x| x.as_str()).collect::<Vec<_>>());
            assert_eq!(code, 0, "{out}\n{err}");
            let b = collect(&two, n);
            let (code, out, err) =
                mpirun(2, &b.iter().map(|x| x.as_str()).collect::<Vec<_>>(), LIMIT);
            assert_eq!(code, 0, "{out}\n{err}");
            assert!(
                out.contains(&format!("{n} measured subnets")) && out.contains("2 ranks"),
                "{out}"
            );
            let read = |run: &Path| std::fs::read(run.join("accuracy_pairs.jsonl")).unwrap();
            assert_eq!(
                String::from_utf8(read(&one)).unwrap(),
                String::from_utf8(read(&two)).unwrap(),
                "--n {n}"
            );
            assert_eq!(
                read(&two).iter().filter(|&&c| c == b'\n').count(),
                n.parse::<usize>().unwrap()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Rank 0 refuses to overwrite a run while rank 1 waits for its state: the launcher stops
    /// rank 1, the run is left as it was, and the message names the cause.
    #[test]
    fn a_rank_that_fails_stops_the_others_and_touches_nothing() {
        let dir = tmp("fail");
        let space = space_file(&dir);
        let s = space.to_str().unwrap();
        let run = dir.join("run");
        let r = run.to_str().unwrap();
        let (code, out, err) = mpirun(2, &train_args(s, r, &["--max-steps", "2"]), LIMIT);
        assert_eq!(code, 0, "{out}\n{err}");
        let before = std::fs::read(run.join("state.json")).unwrap();
        let (code, _, err) = mpirun(2, &train_args(s, r, &["--max-steps", "4"]), LIMIT);
        assert_ne!(code, 0, "{err}");
        assert!(err.contains("--resume"), "{err}");
        assert_eq!(std::fs::read(run.join("state.json")).unwrap(), before);
        // Both ranks refuse a dataset that is not there, before any communication.
        let (code, _, err) = mpirun(
            2,
            &[
                "train",
                "--data",
                "/nonexistent/data",
                "--out",
                dir.join("none").to_str().unwrap(),
            ],
            LIMIT,
        );
        assert_ne!(code, 0, "{err}");
        assert!(err.contains("/nonexistent/data"), "{err}");
        assert!(!dir.join("none").exists());
        // Commands other than train would run once per rank: refused.
        let (code, _, err) = mpirun(
            2,
            &["space", "--out", dir.join("space").to_str().unwrap()],
            LIMIT,
        );
        assert_ne!(code, 0, "{err}");
        assert!(
            err.contains("only `tinynas train` and `tinynas predictor collect` run data-parallel"),
            "{err}"
        );
        assert!(!dir.join("space").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Without the `mpi` feature, a process started as one of several ranks refuses to train (it
/// would train alone into a directory the other ranks also write) and says how to build one
/// that can. (The launcher's variable alone marks a rank: no mpirun needed.)
#[cfg(not(feature = "mpi"))]
#[test]
fn without_mpi_a_rank_refuses_and_names_the_feature() {
    let dir = tmp("nompi");
    let space = space_file(&dir);
    let run = dir.join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(train_args(
            space.to_str().unwrap(),
            run.to_str().unwrap(),
            &[],
        ))
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("one of 2 MPI ranks") && err.contains("--features mpi"),
        "{err}"
    );
    assert!(!run.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
