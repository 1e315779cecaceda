//! A full disk in the middle of an export over an earlier one, and of a training run's next
//! checkpoint: the command fails with an error that names the file and the full disk, the folder
//! keeps the old set byte for byte (its manifest unchanged, no temporary left), and once there
//! is room again the same command completes.
//!
//! The disk is a real one: a 4 MiB tmpfs mounted for the test (`mount -t tmpfs`, which the
//! test machines allow: they run the suite as root), filled to its last 150 KiB. Where mounting
//! is not allowed (not root, no CAP_SYS_ADMIN) the test fails saying so: it does not skip, and a
//! file-size limit (`ulimit -f`, the substitute tests/publish_crash.rs uses for `space`) cannot
//! stand in for a GPU command: lavapipe backs device memory with a memfd the limit caps too,
//! and the process dies of SIGBUS before it writes a file.

mod common;
use common::crash::{space_args, strs, temps, train_args, visible, write_space};
use common::harden::tmp;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tinynas::error::Field;

/// A tmpfs mounted at a folder for the test, unmounted when dropped.
struct Disk(PathBuf);

impl Disk {
    /// The mount, or a failure that says why there is none (never a silent skip).
    fn new(root: &Path) -> Disk {
        std::fs::create_dir_all(root).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(root)
            .output();
        match out {
            Ok(o) if o.status.success() => Disk(root.to_path_buf()),
            Ok(o) => panic!(
                "this test needs to mount a 4 MiB tmpfs (as root, or with CAP_SYS_ADMIN), and `mount` refused: {}; a file-size limit (ulimit -f) cannot stand in for it here: lavapipe's device memory is a memfd that the limit caps too (the GPU commands die of SIGBUS)",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this test needs `mount` to mount a 4 MiB tmpfs: {e}"),
        }
    }

    /// Fill the disk to its last `free_kib` KiB.
    fn fill(&self, free_kib: u64) {
        let p = self.0.join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let len = std::fs::metadata(&p).unwrap().len();
        f.set_len(len.saturating_sub(free_kib * 1024)).unwrap();
    }

    fn empty(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinynas"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
}

/// A run's files outside its checkpoint set (rewritten at each validation) aside.
fn outputs(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut v = visible(dir);
    v.retain(|n, _| n != "metrics.jsonl" && n != "training.png");
    v
}

/// `args` fails on the full disk with a message naming it and a file under `dir`, not a panic,
/// and leaves `dir` as it was: the same files, the same manifest, no temporary.
fn fails_leaving_the_old_set(dir: &Path, set: &str, args: &[&str]) {
    let before = outputs(dir);
    let manifest = std::fs::read(dir.join(tinynas::io::MANIFEST)).unwrap();
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    eprintln!("{}", err.trim());
    assert!(
        err.contains("No space left on device"),
        "the error names the full disk: {err}"
    );
    assert!(
        err.contains(dir.to_str().unwrap()),
        "the error names the file: {err}"
    );
    assert_eq!(outputs(dir), before, "{args:?}: the old set, byte for byte");
    assert_eq!(
        std::fs::read(dir.join(tinynas::io::MANIFEST)).unwrap(),
        manifest
    );
    assert!(temps(dir).is_empty(), "{:?}", temps(dir));
    tinynas::io::check_set(dir, set, Some(Field::Out)).unwrap();
}

#[test]
fn a_full_disk_keeps_the_old_export_and_the_old_checkpoint() {
    let d = tmp("full-disk");
    let space = write_space(&d);
    let root = d.join("disk");
    let disk = Disk::new(&root);
    // A run on the small disk with one checkpoint, an export beside it.
    let run = root.join("run");
    let r = run.to_str().unwrap();
    ok(&strs(&train_args(&run, &space, 1)));
    let exp = root.join("exp");
    let e = exp.to_str().unwrap();
    ok(&["export", "--run", r, "--out", e, "--calib-images", "8"]);
    std::fs::write(exp.join("notes.txt"), b"mine").unwrap();
    std::fs::write(run.join("notes.txt"), b"mine").unwrap();
    // Full: another export over it fails, the old one stands, whether the disk fills in its
    // firmware check's sources (150 KiB left) or in the host check's inputs (450 KiB left).
    let again = ["export", "--run", r, "--out", e, "--calib-images", "16"];
    for free in [150, 450] {
        disk.fill(free);
        fails_leaving_the_old_set(&exp, "export", &again);
        disk.empty();
    }
    // A ranking whose publish itself meets the full disk (its plot is over 50 kB).
    let sp = root.join("space");
    let ranking = |samples: &str| space_args(&sp, samples);
    ok(&strs(&ranking("8")));
    disk.fill(20);
    fails_leaving_the_old_set(&sp, "space", &strs(&ranking("12")));
    disk.fill(150);
    // The next checkpoint (a 290 kB weights file) does not fit either: the run keeps its last.
    let mut more = train_args(&run, &space, 2);
    more.push("--resume".into());
    fails_leaving_the_old_set(&run, "checkpoint", &strs(&more));
    assert_eq!(tinynas::train::checkpoint::load(&run).unwrap().0.step, 1);
    // Room again: both complete, whole.
    disk.empty();
    ok(&again);
    ok(&strs(&more));
    assert_eq!(tinynas::train::checkpoint::load(&run).unwrap().0.step, 2);
    tinynas::io::check_set(&exp, "export", Some(Field::Out)).unwrap();
    assert!(temps(&exp).is_empty() && temps(&run).is_empty());
    assert_eq!(std::fs::read(exp.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read(run.join("notes.txt")).unwrap(), b"mine");
}
