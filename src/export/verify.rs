//! The exported model checked on the real runtimes: TF Lite Micro's interpreter (reference
//! kernels) must compute the integer executor's logits bit for bit; LiteRT (optimized kernels)
//! is reported by how often it picks the same class. Runs `scripts/runtimes.py` (built into the
//! binary) with a Python that has `tflite-micro` and `ai-edge-litert` (scripts/pyenv.sh makes
//! one). A difference names the first layer whose tensor differs.

use super::quant::QGraph;
use super::tflite::tensor_names;
use crate::error::Field;
use crate::mcu::sched::argmax;
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

const RUNTIMES_PY: &str = include_str!("../../scripts/runtimes.py");

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub images: usize,
    /// TFLM's logits equal the executor's on every image (else `verify` fails).
    pub tflm_bit_exact: bool,
    /// Images on which LiteRT as it runs by default (its optimized kernels with the XNNPACK
    /// delegate) picks the executor's class.
    pub litert_same_class: usize,
    /// The same for LiteRT's own optimized built-in kernels (no delegate).
    pub litert_builtin_same_class: usize,
    /// TFLM's measured arena.
    pub tflm_head_bytes: u64,
    pub tflm_tail_bytes: u64,
}

/// Refuse, before any work, a `python` that cannot run the check.
pub fn check_python(python: &Path) -> Result<()> {
    let out = Command::new(python)
        .args(["-c", "import tflite_micro, ai_edge_litert, numpy"])
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(Error::bad(
            Field::Verify,
            python.display(),
            format!(
                "this Python cannot import tflite_micro, ai_edge_litert and numpy ({}); scripts/pyenv.sh makes one that can",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
            ),
        )),
        Err(e) => Err(Error::bad(
            Field::Verify,
            python.display(),
            format!("cannot run it ({e}); scripts/pyenv.sh makes a Python with the runtimes"),
        )),
    }
}

fn run_py(python: &Path, dir: &Path, args: &[String]) -> Result<()> {
    let out = Command::new(python)
        .arg(dir.join("runtimes.py"))
        .args(args)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Mismatch(format!(
            "the runtimes could not run the exported model: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn read_i8(path: &Path) -> Result<Vec<i8>> {
    Ok(std::fs::read(path)?.into_iter().map(|b| b as i8).collect())
}

/// Run `model` (the .tflite of `q`) on `inputs` with TFLM and LiteRT through `python`.
pub fn verify(python: &Path, q: &QGraph, model: &[u8], inputs: &[Vec<i8>]) -> Result<Verification> {
    let dir = std::env::temp_dir().join(format!("tinynas-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = verify_in(&dir, python, q, model, inputs);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn verify_in(
    dir: &Path,
    python: &Path,
    q: &QGraph,
    model: &[u8],
    inputs: &[Vec<i8>],
) -> Result<Verification> {
    crate::io::write_file(&dir.join("runtimes.py"), RUNTIMES_PY)?;
    crate::io::write_file(&dir.join("model.tflite"), model)?;
    let write_inputs = |xs: &[&Vec<i8>]| -> Result<()> {
        let flat: Vec<u8> = xs.iter().flat_map(|x| x.iter().map(|&v| v as u8)).collect();
        crate::io::write_file(&dir.join("inputs.bin"), flat)
    };
    let args = |n: usize, tensors: usize| -> Vec<String> {
        vec![
            dir.join("model.tflite").display().to_string(),
            dir.join("inputs.bin").display().to_string(),
            n.to_string(),
            dir.display().to_string(),
            tensors.to_string(),
        ]
    };
    write_inputs(&inputs.iter().collect::<Vec<_>>())?;
    run_py(python, dir, &args(inputs.len(), 0))?;
    let tflm = read_i8(&dir.join("tflm.bin"))?;
    let litert = read_i8(&dir.join("litert.bin"))?;
    let builtin = read_i8(&dir.join("litert_builtin.bin"))?;
    let arena: serde_json::Value =
        crate::io::read_json(&dir.join("arena.json"), "TFLM's arena report")
            .map_err(|e| Error::Mismatch(e.to_string()))?;
    let k = q.graph.classes();
    let (mut same, mut same_builtin) = (0, 0);
    for (i, x) in inputs.iter().enumerate() {
        let mine = q.logits(x);
        let theirs = &tflm[i * k..(i + 1) * k];
        if mine != theirs {
            // The first tensor that differs, from both runs of this one image.
            write_inputs(&[x])?;
            run_py(python, dir, &args(1, q.graph.shapes.len()))?;
            let flat = read_i8(&dir.join("tflm_tensors.bin"))?;
            let names = tensor_names(q);
            let ours = q.run(x);
            let mut off = 0;
            for (t, v) in ours.iter().enumerate() {
                let d = v
                    .iter()
                    .zip(&flat[off..off + v.len()])
                    .filter(|(a, b)| a != b)
                    .count();
                off += v.len();
                if d > 0 {
                    return Err(Error::Mismatch(format!(
                        "TF Lite Micro differs from the integer executor on image {i}: first at tensor {t} ({}), {d} of {} values",
                        names[t],
                        v.len()
                    )));
                }
            }
            return Err(Error::Mismatch(format!(
                "TF Lite Micro's logits differ from the integer executor's on image {i} ({theirs:?} vs {mine:?})"
            )));
        }
        let row = i * k..(i + 1) * k;
        same += (argmax(&mine) == argmax(&litert[row.clone()])) as usize;
        same_builtin += (argmax(&mine) == argmax(&builtin[row])) as usize;
    }
    Ok(Verification {
        images: inputs.len(),
        tflm_bit_exact: true,
        litert_same_class: same,
        litert_builtin_same_class: same_builtin,
        tflm_head_bytes: arena["head"].as_u64().unwrap_or(0),
        tflm_tail_bytes: arena["tail"].as_u64().unwrap_or(0),
    })
}
