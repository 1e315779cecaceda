//! The real runtimes the deployment tests compare against: TF Lite Micro's interpreter and
//! LiteRT, run by scripts/runtimes.py in the Python environment scripts/pyenv.sh makes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python that has TF Lite Micro and LiteRT: $TINYNAS_PYTHON, else the environment
/// scripts/pyenv.sh makes (once) under target/.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TINYNAS_PYTHON") {
        return p.into();
    }
    let out = Command::new("scripts/pyenv.sh")
        .output()
        .expect("run scripts/pyenv.sh");
    assert!(
        out.status.success(),
        "scripts/pyenv.sh failed (it makes the Python environment with TF Lite Micro and LiteRT):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// What the real runtimes computed (see scripts/runtimes.py).
pub struct Runtimes {
    pub tflm: Vec<i8>,
    pub tflm_tensors: Vec<i8>,
    pub litert_ref: Vec<i8>,
    pub litert: Vec<i8>,
    pub litert_tensors: Vec<i8>,
    pub arena: serde_json::Value,
}

pub fn run_runtimes(dir: &Path, model: &[u8], inputs: &[i8], n: usize, tensors: usize) -> Runtimes {
    std::fs::write(dir.join("model.tflite"), model).unwrap();
    let bytes: Vec<u8> = inputs.iter().map(|&v| v as u8).collect();
    std::fs::write(dir.join("inputs.bin"), bytes).unwrap();
    let out = Command::new(python())
        .arg("scripts/runtimes.py")
        .arg(dir.join("model.tflite"))
        .arg(dir.join("inputs.bin"))
        .arg(n.to_string())
        .arg(dir)
        .arg(tensors.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the runtimes failed on {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| -> Vec<i8> {
        std::fs::read(dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .into_iter()
            .map(|v| v as i8)
            .collect()
    };
    Runtimes {
        tflm: read("tflm.bin"),
        tflm_tensors: if tensors > 0 {
            read("tflm_tensors.bin")
        } else {
            Vec::new()
        },
        litert_ref: read("litert_ref.bin"),
        litert: read("litert.bin"),
        litert_tensors: if tensors > 0 {
            read("litert_tensors.bin")
        } else {
            Vec::new()
        },
        arena: serde_json::from_slice(&std::fs::read(dir.join("arena.json")).unwrap()).unwrap(),
    }
}

/// `flat` (tensors back to back) split at the graph's tensor sizes.
pub fn split(flat: &[i8], g: &tinynas::export::Graph) -> Vec<Vec<i8>> {
    let mut off = 0;
    g.shapes
        .iter()
        .map(|s| {
            off += s.len();
            flat[off - s.len()..off].to_vec()
        })
        .collect()
}
