//! The predictor vouches for its evidence: repeated subnets merged before the fit and counted,
//! a damaged pair line named by its number, predictor.json tied to its pairs by their SHA-256
//! and its report checked for possible values; `search` refuses an impossible or stale one.

mod common;
use common::engine;
use common::harden::{fake_run, tiny_space, tinynas, tmp};
use std::path::Path;
use tinynas::Error;
use tinynas::arch::SearchSpace;
use tinynas::error::Missing;
use tinynas::pipeline::evidence::{Pair, read_pairs};
use tinynas::pipeline::evidence::{check_evidence, merge_duplicates, pairs_sha256};
use tinynas::pipeline::predictor::{describe_fit, fit};
use tinynas::search::predictor::{FitOptions, Predictor};

/// `n` distinct subnets of the tiny space, with an accuracy that rises with their kernels.
fn distinct_pairs(space: &SearchSpace, n: usize) -> Vec<Pair> {
    let mut rng = common::rng(7);
    let mut out: Vec<Pair> = Vec::new();
    while out.len() < n {
        let s = space.sample(&mut rng, 16);
        let c = tinynas::search::encoding::canonical(space, &s);
        if out
            .iter()
            .any(|p| tinynas::search::encoding::canonical(space, &p.subnet) == c)
        {
            continue;
        }
        let k: usize = s.kernel_size.iter().sum();
        out.push(Pair {
            subnet: s,
            top1: 0.3 + 0.01 * k as f64 + 0.001 * out.len() as f64,
            macs: 1000,
            recal_images: Some(16),
            halves: Some([0.5, 0.4]),
        });
    }
    out
}

fn write_pairs(run: &Path, pairs: &[Pair]) {
    tinynas::io::write_jsonl(&run.join("accuracy_pairs.jsonl"), pairs).unwrap();
}

/// A change to a predictor's JSON.
type Edit = fn(&mut serde_json::Value);

fn quick() -> FitOptions {
    FitOptions {
        hidden: 8,
        iterations: 60,
        ..FitOptions::default()
    }
}

#[test]
fn repeats_merge_by_their_mean_including_unused_slots() {
    let space = tiny_space();
    let mut pairs = distinct_pairs(&space, 3);
    // The first subnet again, its unused slots (depth 1 of 2) set otherwise: the same network.
    let mut again = pairs[0].clone();
    let md = space.max_depth();
    again.subnet.depth = vec![1; space.stages()];
    pairs[0].subnet.depth = vec![1; space.stages()];
    for st in 0..space.stages() {
        again.subnet.kernel_size[st * md + 1] = 5;
        pairs[0].subnet.kernel_size[st * md + 1] = 3;
    }
    again.top1 = pairs[0].top1 + 0.2;
    again.halves = Some([0.7, 0.6]);
    pairs.push(again);
    let (samples, repeats) = merge_duplicates(&space, &pairs);
    assert_eq!((samples.len(), repeats), (3, 1));
    assert!((samples[0].top1 - (pairs[0].top1 + 0.1)).abs() < 1e-12);
    assert_eq!(samples[0].halves, Some([0.6, 0.5]));
    // A repeat without halves drops the merged subnet's halves (they would not be means).
    pairs[3].halves = None;
    let (samples, _) = merge_duplicates(&space, &pairs);
    assert_eq!(samples[0].halves, None);
    assert_eq!(samples[1].halves, Some([0.5, 0.4]));
}

#[test]
fn a_damaged_pair_line_is_named_by_its_number() {
    let d = tmp("pairs-line");
    let space = tiny_space();
    let pairs = distinct_pairs(&space, 3);
    write_pairs(&d, &pairs);
    let mut text = std::fs::read_to_string(d.join("accuracy_pairs.jsonl")).unwrap();
    text.push_str("{\"subnet\": 3, \"top1\": 0.5, \"macs\": 1}\n");
    std::fs::write(d.join("accuracy_pairs.jsonl"), &text).unwrap();
    let err = read_pairs(&d, &space).unwrap_err().to_string();
    assert!(
        err.contains("accuracy_pairs.jsonl") && err.contains("line 4 is corrupt"),
        "{err}"
    );
    // An unknown field, and halves that are no accuracies: named with their line too.
    let mut extra = serde_json::to_value(&pairs[0]).unwrap();
    extra["extra"] = 2.into();
    let bad = [
        text.replace(
            "{\"subnet\": 3, \"top1\": 0.5, \"macs\": 1}",
            &extra.to_string(),
        ),
        text.replace(
            "{\"subnet\": 3, \"top1\": 0.5, \"macs\": 1}",
            &serde_json::to_string(&Pair {
                halves: Some([1.5, 0.2]),
                ..pairs[0].clone()
            })
            .unwrap(),
        ),
    ];
    for (t, want) in bad
        .iter()
        .zip(["unknown field `extra`", "halves [1.5, 0.2]"])
    {
        std::fs::write(d.join("accuracy_pairs.jsonl"), t).unwrap();
        let err = read_pairs(&d, &space).unwrap_err().to_string();
        assert!(err.contains("line 4") && err.contains(want), "{err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_fit_counts_repeats_records_its_evidence_and_search_refuses_a_stale_or_impossible_one() {
    let e = engine();
    let d = tmp("evidence");
    let run = fake_run(&d);
    let space = tiny_space();
    // Every one of 8 subnets measured 4 times: 8 subnets of evidence, not 32.
    let once = distinct_pairs(&space, 8);
    let four: Vec<Pair> = (0..4).flat_map(|_| once.clone()).collect();
    write_pairs(&run, &four);
    let p = fit(&e, &run, &space, &quick()).unwrap();
    let r = p.report.clone().unwrap();
    assert_eq!(r.train_pairs + r.heldout_pairs, 8);
    assert_eq!(r.duplicates_merged, 24);
    let said = describe_fit(&r);
    assert!(
        said.contains("24 lines")
            && said.contains("merged by their mean")
            && said.contains("8 distinct"),
        "{said}"
    );
    // 8 subnets, 5 folds: no cross-validation, and the report says why.
    assert!(r.kfold.is_none());
    assert!(
        said.contains("no k-fold cross-validation: 8 subnets are too few for 5 folds"),
        "{said}"
    );
    assert_eq!(
        p.pairs_sha256.as_deref(),
        Some(pairs_sha256(&four).as_str())
    );
    // predictor.json reads back and matches its pairs.
    let pj = run.join("predictor.json");
    let back = Predictor::load(&pj).unwrap();
    check_evidence(&run, &space, &back).unwrap();

    // The pairs changed since: stale, refused by check_evidence and by search.
    let mut more = four.clone();
    more.extend(distinct_pairs(&space, 9).into_iter().skip(8));
    write_pairs(&run, &more);
    // Typed: the predictor is to be fitted again in its run, which the CLI says how.
    let err = check_evidence(&run, &space, &back).unwrap_err();
    assert!(
        matches!(&err, Error::Missing { path, what: Missing::Refit, .. } if *path == run.display().to_string()),
        "{err:?}"
    );
    let why = tinynas::cli::flags::describe(&err);
    assert!(
        why.contains("stale")
            && why.contains(&format!("tinynas predictor fit --run {}", run.display())),
        "{why}"
    );
    assert!(!err.to_string().contains("`tinynas"), "{err}");
    let r_ = run.to_str().unwrap();
    let (code, _, err) = tinynas(&["search", "--run", r_]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("predictor.json") && err.contains("stale"),
        "{err}"
    );
    assert!(!run.join("search").exists());
    write_pairs(&run, &four);

    // A predictor without the hash, where pairs are present: nothing vouches for it.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pj).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("pairs_sha256");
    std::fs::write(&pj, v.to_string()).unwrap();
    let (code, _, err) = tinynas(&["search", "--run", r_]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("records no hash"), "{err}");

    // Impossible figures, each refused by load and by search with the field at fault.
    let good: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    let edits: [(&str, Edit); 5] = [
        ("heldout_kendall_tau 5", |v| {
            v["report"]["heldout_kendall_tau"] = 5.0.into()
        }),
        ("train_rmse -1", |v| {
            v["report"]["train_rmse"] = (-1.0).into()
        }),
        ("target_mean 1000000000000000000000000000000", |v| {
            v["target_mean"] = 1e30.into()
        }),
        ("heldout_noise_ceiling -3", |v| {
            v["report"]["heldout_noise_ceiling"] = (-3.0).into()
        }),
        ("train_pairs 0", |v| v["report"]["train_pairs"] = 0.into()),
    ];
    for (want, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        std::fs::write(&pj, v.to_string()).unwrap();
        let err = Predictor::load(&pj).unwrap_err().to_string();
        assert!(
            err.contains("corrupt predictor") && err.contains(want),
            "{want}: {err}"
        );
        let (code, _, err) = tinynas(&["search", "--run", r_]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(want), "{want}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn too_few_distinct_subnets_refuse_the_fit_before_the_run_is_locked() {
    let d = tmp("few");
    let run = fake_run(&d);
    let space = tiny_space();
    // 4 subnets measured 3 times each: 12 lines, 4 subnets, below the 5 a fit needs.
    let once = distinct_pairs(&space, 4);
    let pairs: Vec<Pair> = (0..3).flat_map(|_| once.clone()).collect();
    write_pairs(&run, &pairs);
    let (code, _, err) = tinynas(&["predictor", "fit", "--run", run.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("4 distinct measured subnets (12 lines, 8 repeating a subnet)"),
        "{err}"
    );
    assert!(!run.join(tinynas::io::LOCK_FILE).exists());
    assert!(!run.join("predictor.json").exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// The pairs and the predictor are each a published set of the run's manifest (the predictor's
/// recording the pairs file it was fit on), and a file changed after its writer, even to values
/// a fit could produce, is refused by its reader naming it: by `search` for the predictor, by
/// every reader of the pairs.
#[test]
fn the_pairs_and_the_predictor_are_published_sets_that_their_readers_check() {
    use tinynas::pipeline::evidence::{PAIRS_SET, PREDICTOR_SET, publish_pairs};
    let e = engine();
    let d = tmp("evidence-sets");
    let run = fake_run(&d);
    let space = tiny_space();
    publish_pairs(&run, &distinct_pairs(&space, 8)).unwrap();
    assert_eq!(read_pairs(&run, &space).unwrap().len(), 8);
    let p = fit(&e, &run, &space, &quick()).unwrap();
    let m = tinynas::io::read_manifest(&run).unwrap().unwrap();
    let pairs_file = run.join("accuracy_pairs.jsonl");
    let pairs_sha = tinynas::io::sha256_hex(&std::fs::read(&pairs_file).unwrap());
    assert_eq!(m.sets[PAIRS_SET].files[0].sha256, pairs_sha);
    let rec = &m.sets[PREDICTOR_SET];
    assert_eq!(rec.files[0].name, "predictor.json");
    assert_eq!(rec.inputs.len(), 1);
    assert_eq!(rec.inputs[0].sha256, pairs_sha);
    check_evidence(&run, &space, &p).unwrap();
    // A plausible hand edit of predictor.json: its values pass, its manifest does not.
    let pj = run.join("predictor.json");
    let good = std::fs::read(&pj).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["report"]["train_rmse"] = 0.0625.into();
    std::fs::write(&pj, v.to_string()).unwrap();
    let edited = Predictor::load(&pj).unwrap();
    let why = check_evidence(&run, &space, &edited)
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("predictor.json") && why.contains("does not match the predictor set"),
        "{why}"
    );
    let (code, _, err) = tinynas(&["search", "--run", run.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not match the predictor set"), "{err}");
    std::fs::write(&pj, &good).unwrap();
    check_evidence(&run, &space, &p).unwrap();
    // Pairs written behind the manifest's back: refused by their readers, naming the file.
    write_pairs(&run, &distinct_pairs(&space, 9));
    let err = read_pairs(&run, &space).unwrap_err().to_string();
    assert!(
        err.contains("accuracy_pairs.jsonl") && err.contains("does not match the pairs set"),
        "{err}"
    );
    assert!(check_evidence(&run, &space, &p).is_err());
    let _ = std::fs::remove_dir_all(&d);
}
