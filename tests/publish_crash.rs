//! Crash consistency of the sets tinynas publishes (io::publish), on a `space --out` folder: the
//! real binary is stopped by `std::process::abort()` right after its k-th file operation of a
//! publish (TINYNAS_TEST_ABORT_AFTER_FILE_OPS=k), and the folder then holds the old set or the
//! new one, byte for byte by its manifest; whoever next locks or reads the folder finishes or
//! undoes the interrupted publish and no temporary stays; the user's own file there is never
//! touched. A changed file is refused naming it; a failed write leaves the old set. Exports,
//! searches and checkpoints: tests/publish_crash_runs.rs; kills at random instants:
//! tests/kill_stress.rs; a full filesystem: tests/full_disk.rs.

mod common;
use common::crash::{
    aborted_at, hashes, ok, recorded, space_args, temps, train_args, visible, write_space,
};
use common::harden::tmp;
use std::process::Command;
use tinynas::error::Field;

#[test]
fn space_out_killed_after_any_file_operation_holds_the_old_set_or_the_new_one() {
    let d = tmp("crash-space");
    let args = space_args;
    let strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();
    let (ra, rb) = (d.join("a"), d.join("b"));
    let (va, vb) = (args(&ra, "8"), args(&rb, "12"));
    ok(&va.iter().map(String::as_str).collect::<Vec<_>>());
    ok(&vb.iter().map(String::as_str).collect::<Vec<_>>());
    let mine = ("notes.txt".to_string(), b"mine".to_vec());
    let mut old = visible(&ra);
    let mut new = visible(&rb);
    assert_ne!(old, new, "the two sets differ");
    assert_eq!(old.len(), 3);
    old.insert(mine.0.clone(), mine.1.clone());
    new.insert(mine.0.clone(), mine.1.clone());
    let (mut saw_old, mut saw_new, mut finished) = (false, false, false);
    for k in 1..60 {
        let dir = d.join(format!("k{k}"));
        let first = strs(&args(&dir, "8"));
        ok(&first.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::write(dir.join(&mine.0), &mine.1).unwrap();
        let second = strs(&args(&dir, "12"));
        let second: Vec<&str> = second.iter().map(String::as_str).collect();
        if !aborted_at(&second, k) {
            // Past the publish's last operation: the new set, nothing left over.
            assert_eq!(visible(&dir), new, "k={k}");
            assert!(temps(&dir).is_empty(), "k={k}: {:?}", temps(&dir));
            finished = true;
            break;
        }
        let committed = recorded(&dir, "space") == hashes(&visible(&rb));
        if committed {
            saw_new = true;
        } else {
            // Before the commit point the visible files are the old set, byte for byte.
            assert!(!saw_new, "k={k}: the manifest went back to the old set");
            assert_eq!(recorded(&dir, "space"), hashes(&visible(&ra)), "k={k}");
            assert_eq!(visible(&dir), old, "k={k}: before the commit");
            saw_old = true;
        }
        // The next to lock the folder finishes (or undoes) the publish.
        drop(tinynas::io::lock_dir(&dir, Field::Out).unwrap());
        assert!(temps(&dir).is_empty(), "k={k}: {:?}", temps(&dir));
        assert_eq!(
            visible(&dir),
            if committed { new.clone() } else { old.clone() },
            "k={k}: after recovery"
        );
        tinynas::io::check_set(&dir, "space", Some(Field::Out)).unwrap();
        // And the writer after it publishes cleanly over whatever the kill left.
        ok(&second);
        assert_eq!(visible(&dir), new, "k={k}: rerun");
        assert!(temps(&dir).is_empty(), "k={k}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        finished && saw_old && saw_new,
        "{finished} {saw_old} {saw_new}"
    );
}

/// A set whose file was changed after it was published is refused by its reader, naming the
/// file and what differs; a folder without a manifest reads as before.
#[test]
fn a_changed_file_of_a_published_set_is_refused_naming_it() {
    let d = tmp("publish-changed");
    let out = d.join("sp");
    ok(&[
        "space",
        "--samples",
        "8",
        "--resolutions",
        "64",
        "--widths",
        "0.3",
        "--out",
        out.to_str().unwrap(),
    ]);
    tinynas::io::check_set(&out, "space", Some(Field::Out)).unwrap();
    let p = out.join("space.json");
    let mut b = std::fs::read(&p).unwrap();
    let len = b.len();
    b[len / 2] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let err = tinynas::io::check_set(&out, "space", Some(Field::Out))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("space.json") && err.contains("SHA-256"),
        "{err}"
    );
    b.push(b'\n');
    std::fs::write(&p, &b).unwrap();
    let err = tinynas::io::check_set(&out, "space", Some(Field::Out))
        .unwrap_err()
        .to_string();
    assert!(err.contains("space.json") && err.contains("bytes"), "{err}");
    std::fs::remove_file(&p).unwrap();
    let err = tinynas::io::check_set(&out, "space", Some(Field::Out))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("space.json") && err.contains("missing"),
        "{err}"
    );
    // No manifest: read as it is.
    std::fs::remove_file(out.join(tinynas::io::MANIFEST)).unwrap();
    tinynas::io::check_set(&out, "space", Some(Field::Out)).unwrap();
    // A temporary nobody committed is removed by the next lock; a user's look-alike is not.
    std::fs::write(out.join(".tinynas-new-abc.space.json"), b"half").unwrap();
    // (an atomic write's temporary of a process that is gone; one of a running process, PID 1,
    // is left to its writer)
    std::fs::write(out.join(".space.json.tinynas-4194999-0.tmp"), b"half").unwrap();
    std::fs::write(out.join(".trace.json.tinynas-1-0.tmp"), b"being written").unwrap();
    std::fs::write(out.join(".tinynas-new-notes"), b"mine").unwrap();
    drop(tinynas::io::lock_dir(&out, Field::Out).unwrap());
    assert!(!out.join(".tinynas-new-abc.space.json").exists());
    assert!(!out.join(".space.json.tinynas-4194999-0.tmp").exists());
    assert!(out.join(".trace.json.tinynas-1-0.tmp").exists());
    assert!(out.join(".tinynas-new-notes").exists());
}

/// A write that fails half-way (a file-size limit, `ulimit -f`, standing in for a full disk: the
/// same failed write, without mounting a small filesystem) leaves the old set as it was, byte
/// for byte, the manifest unchanged and no temporary, and the error names the file.
#[test]
fn a_failed_write_leaves_the_old_set_and_names_the_file() {
    let d = tmp("publish-full");
    let out = d.join("sp");
    let o = out.to_str().unwrap();
    let args = |samples: &str| {
        format!(
            "{} space --samples {samples} --resolutions 64,96 --widths 0.3 --out {o}",
            env!("CARGO_BIN_EXE_tinynas")
        )
    };
    let status = Command::new("bash")
        .args(["-c", &args("8")])
        .output()
        .unwrap();
    assert!(status.status.success());
    let (old, manifest) = (
        visible(&out),
        std::fs::read(out.join(tinynas::io::MANIFEST)).unwrap(),
    );
    assert!(
        old["space_cdf.png"].len() > 50 * 1024,
        "the plot is over the limit"
    );
    // SIGXFSZ ignored (inherited through exec): the write fails with EFBIG instead.
    let limited = Command::new("bash")
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -f 50; exec {}", args("12")),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&limited.stderr);
    assert!(!limited.status.success(), "{err}");
    assert!(err.contains("space_cdf.png"), "{err}");
    assert_eq!(visible(&out), old);
    assert_eq!(
        std::fs::read(out.join(tinynas::io::MANIFEST)).unwrap(),
        manifest
    );
    assert!(temps(&out).is_empty(), "{:?}", temps(&out));
}

/// Not a timed test (ignored; run it with `--ignored --nocapture`): what publishing an export
/// whole costs beside writing its files one by one (write_atomic each, as before), against the
/// wall time of the export itself.
#[test]
#[ignore]
fn bench_publish_overhead_of_an_export() {
    let d = tmp("bench-publish");
    let space = write_space(&d);
    let run = d.join("run");
    let args = train_args(&run, &space, 1);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = d.join("exp");
    let (r, o) = (run.to_str().unwrap(), out.to_str().unwrap());
    let mut walls = Vec::new();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        ok(&["export", "--run", r, "--out", o]);
        walls.push(t.elapsed().as_secs_f64());
    }
    walls.sort_by(f64::total_cmp);
    let files: Vec<(String, Vec<u8>)> = recorded(&out, "export")
        .into_keys()
        .map(|n| {
            let b = std::fs::read(out.join(&n)).unwrap();
            (n, b)
        })
        .collect();
    let bytes: usize = files.iter().map(|f| f.1.len()).sum();
    let reps = 20;
    let time = |publish: bool| {
        let mut t = Vec::new();
        for i in 0..reps {
            let dir = d.join(format!("{}{i}", if publish { "p" } else { "a" }));
            std::fs::create_dir_all(&dir).unwrap();
            let s = std::time::Instant::now();
            if publish {
                tinynas::io::publish(&dir, "export", &files, &[]).unwrap();
            } else {
                for (n, b) in &files {
                    tinynas::io::write_atomic(&dir.join(n), b).unwrap();
                }
            }
            t.push(s.elapsed().as_secs_f64());
        }
        t.sort_by(f64::total_cmp);
        t[reps / 2]
    };
    let (atomic, publish) = (time(false), time(true));
    let wall = walls[1];
    println!(
        "export wall time (median of 3): {:.3} s; its {} files, {} bytes: one by one (write_atomic) {:.2} ms, published whole {:.2} ms (median of {reps}); staging adds {:.2} ms = {:.3} % of the export",
        wall,
        files.len(),
        bytes,
        atomic * 1e3,
        publish * 1e3,
        (publish - atomic) * 1e3,
        100.0 * (publish - atomic) / wall
    );
}
