//! Per-layer instruction counts of the generated C on a core in QEMU: the model built with
//! `profile/tinynas_profile.h` (`TINYNAS_LAYER_HOOK` keeps timer0's value before each layer)
//! and the QEMU harness built with `TINYNAS_PROFILE_LAYERS` (it writes those readings out).
//! What `tinynas bench latency` fits the latency model to.

use super::codegen::Sources;
use super::qemu::{self, INSTRUCTIONS_PER_TICK};
use super::target::{self, Harness, Link};
use super::toolchain::Toolchain;
use crate::export::QGraph;
use crate::mcu::Device;
use crate::{Error, Result};
use std::path::Path;

/// `tinynas_qemu.c` built with `TINYNAS_PROFILE_LAYERS`: it also writes the readings.
pub const PROFILE_HARNESS: Harness = Harness {
    file: "tinynas_qemu.c",
    source: target::QEMU_C,
    header: Some((
        "tinynas_profile.h",
        include_str!("profile/tinynas_profile.h"),
    )),
    define: Some("TINYNAS_PROFILE_LAYERS"),
};

/// A profiled run: instructions of each layer (the generated code's steps, in order: mean over
/// the inputs) and of the whole inference (mean).
#[derive(Clone, Debug)]
pub struct LayerProfile {
    pub link: Link,
    pub layers: Vec<f64>,
    pub total: f64,
}

/// Build `s` (of `q`) with the per-layer harness for `device`, run it in QEMU on `inputs` (the
/// logits held to the integer executor) and read the instructions of every layer.
pub fn profile(
    tc: &Toolchain,
    dir: &Path,
    q: &QGraph,
    s: &Sources,
    device: &Device,
    inputs: &[Vec<i8>],
) -> Result<LayerProfile> {
    let link = target::build_with(tc, dir, s, device, &PROFILE_HARNESS)?;
    let _ = std::fs::remove_file(dir.join("layers.bin"));
    let run = qemu::run(tc, &link, dir, inputs, q.graph.classes())?;
    super::compare(q, inputs, &run.logits, "the profiled firmware")?;
    let bytes = std::fs::read(dir.join("layers.bin"))?;
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let per = s.steps + 1;
    if words.len() != per * inputs.len() {
        return Err(Error::Invalid(format!(
            "QEMU: the profile harness wrote {} readings for {} inputs of {} layers",
            words.len(),
            inputs.len(),
            s.steps
        )));
    }
    let mut layers = vec![0.0; s.steps];
    for run in words.chunks(per) {
        for (i, l) in layers.iter_mut().enumerate() {
            // timer0 counts down.
            *l += run[i].wrapping_sub(run[i + 1]) as f64 * INSTRUCTIONS_PER_TICK as f64;
        }
    }
    let n = inputs.len() as f64;
    layers.iter_mut().for_each(|l| *l /= n);
    let total = run.instructions.iter().sum::<u64>() as f64 / n;
    Ok(LayerProfile {
        link,
        layers,
        total,
    })
}
