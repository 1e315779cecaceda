//! The deliverable that runs on the microcontroller: generated C with TinyEngine's memory plan
//! (`codegen`, laid out by `plan`), proven on the host (`host`: the logits of the integer
//! executor, bit for bit; the arena bytes touched) and on the device's core (`toolchain` found, `target`:
//! linked against its flash and SRAM, `qemu`: run, instruction counts).

pub mod codegen;
mod files;
pub mod host;
mod patch;
pub mod plan;
pub mod profile;
pub mod qemu;
mod requant;
pub mod target;
pub mod toolchain;

pub use codegen::{C_FILES, Sources, generate, generate_staged};
pub use plan::ArenaPlan;
pub use plan::Stage;

use crate::export::QGraph;
use crate::{Error, Result};
use serde::Serialize;

/// A network or layer the generated C cannot express, named.
pub(crate) fn unsupported(what: String) -> Error {
    Error::Invalid(format!("firmware: the C generator cannot express {what}"))
}

/// The first input on which `got` differs from the integer executor's logits, as an error.
pub fn compare(q: &QGraph, inputs: &[Vec<i8>], got: &[Vec<i8>], who: &str) -> Result<()> {
    let want: Vec<Vec<i8>> = inputs.iter().map(|x| q.logits(x)).collect();
    compare_logits(&want, got, who)
}

/// The first row where `got` differs from the executor's `want`, as an error.
pub fn compare_logits(want: &[Vec<i8>], got: &[Vec<i8>], who: &str) -> Result<()> {
    if got.len() != want.len() {
        return Err(Error::Mismatch(format!(
            "{who}: {} logit rows for {} inputs",
            got.len(),
            want.len()
        )));
    }
    match want.iter().zip(got).position(|(w, g)| w != g) {
        Some(i) => Err(Error::Mismatch(format!(
            "{who} differs from the integer executor on input {i} of {}: {:?} against {:?}",
            want.len(),
            got[i],
            want[i]
        ))),
        None => Ok(()),
    }
}

/// A host run's report, refused if it touched the arena beyond its plan.
pub fn host_report(s: &Sources, images: usize, r: &host::HostRun) -> Result<HostCheck> {
    let p = &s.plan;
    let t = r.touched;
    if t.activations > p.activation_bytes
        || t.scratch > p.scratch_bytes
        || t.kernel_buffer > p.kernel_bytes
    {
        return Err(Error::Mismatch(format!(
            "the generated C touched {t:?} beyond its plan {p:?}"
        )));
    }
    Ok(HostCheck {
        images,
        touched: t,
        arena_bytes: p.total_bytes(),
        activation_bytes: p.activation_bytes,
        scratch_bytes: p.scratch_bytes,
        kernel_buffer_bytes: p.kernel_bytes,
        seconds: r.seconds,
    })
}

/// The generated code on the host: identical logits, the arena it touched against the one it
/// declares.
#[derive(Clone, Debug, Serialize)]
pub struct HostCheck {
    pub images: usize,
    pub touched: host::Touched,
    pub arena_bytes: u64,
    pub activation_bytes: u64,
    pub scratch_bytes: u64,
    pub kernel_buffer_bytes: u64,
    pub seconds: f64,
}

/// Build `s` (of `q`) on the host in `dir`, run it on `inputs` and hold it to the executor.
pub fn check_host(
    q: &QGraph,
    s: &Sources,
    dir: &std::path::Path,
    inputs: &[Vec<i8>],
    build: host::HostBuild,
) -> Result<HostCheck> {
    let r = host::run(dir, s, inputs, build)?;
    compare(q, inputs, &r.logits, "the generated C on the host")?;
    host_report(s, inputs.len(), &r)
}

/// The model linked for a device and run on its core in QEMU.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceCheck {
    pub link: target::Link,
    pub qemu: qemu::QemuRun,
    pub images: usize,
    /// Instructions per inference (the median over the inputs), MACs per instruction, and the
    /// latency at the device's clock by the core's assumed cycles per instruction
    /// (`mcu::latency`) — an instruction count, not a board measurement.
    pub instructions: u64,
    pub macs_per_instruction: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms_at_clock: Option<f64>,
}

/// Link `s` for `device` in `dir`, run it in QEMU on `inputs` and hold it to the executor.
pub fn check_device(
    q: &QGraph,
    s: &Sources,
    device: &crate::mcu::Device,
    dir: &std::path::Path,
    inputs: &[Vec<i8>],
    macs: u64,
) -> Result<DeviceCheck> {
    let tc = toolchain::Toolchain::find()?;
    let link = target::build(&tc, dir, s, device)?;
    let run = qemu::run(&tc, &link, dir, inputs, q.graph.classes())?;
    compare(
        q,
        inputs,
        &run.logits,
        &format!(
            "the firmware on the {} (QEMU {})",
            link.core.name(),
            run.board
        ),
    )?;
    if run.stack_used_bytes > link.stack_bytes {
        return Err(Error::Mismatch(format!(
            "the firmware used {} B of stack, more than the {} B reserved",
            run.stack_used_bytes, link.stack_bytes
        )));
    }
    let mut sorted = run.instructions.clone();
    sorted.sort_unstable();
    let instructions = sorted[sorted.len() / 2];
    Ok(DeviceCheck {
        images: inputs.len(),
        instructions,
        macs_per_instruction: macs as f64 / instructions.max(1) as f64,
        ms_at_clock: device
            .clock_mhz
            .map(|mhz| crate::mcu::latency::ms(link.core, mhz as f64, instructions as f64)),
        link,
        qemu: run,
    })
}
