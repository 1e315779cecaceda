//! The linked ELF run in QEMU on the MPS2 board with the device's core (semihosting,
//! instruction counts from `-icount shift=0`).

use super::host::run_tool;
use super::target::Link;
use super::toolchain::Toolchain;
use crate::mcu::device::Core;
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// Instructions per tick of the MPS2 boards' CMSDK timer0 (25 MHz) under `-icount shift=0`
/// (1 ns per instruction).
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

/// The QEMU board that has a core.
pub fn qemu_board(core: Core) -> &'static str {
    match core {
        Core::CortexM4F => "mps2-an386",
        Core::CortexM7 => "mps2-an500",
    }
}

/// One run of the ELF in QEMU.
#[derive(Clone, Debug, Serialize)]
pub struct QemuRun {
    pub board: &'static str,
    #[serde(skip)]
    pub logits: Vec<Vec<i8>>,
    /// Instructions of each inference (timer ticks × 40: exact to 40 instructions).
    pub instructions: Vec<u64>,
    /// The stack the run used (painted, then scanned).
    pub stack_used_bytes: u64,
    pub seconds: f64,
}

/// Run the linked ELF in QEMU on `inputs` (each TINYNAS_INPUT_BYTES), in `dir`.
pub fn run(
    tc: &Toolchain,
    link: &Link,
    dir: &Path,
    inputs: &[Vec<i8>],
    classes: usize,
) -> Result<QemuRun> {
    let board = qemu_board(link.core);
    let bytes: Vec<u8> = inputs.iter().flatten().map(|&v| v as u8).collect();
    crate::io::write_file(&dir.join("input.bin"), bytes)?;
    for f in ["output.bin", "result.bin"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    // QEMU runs in `dir` (semihosting opens input.bin there): the ELF's path must not be
    // relative to the caller's working directory.
    let elf = std::fs::canonicalize(&link.elf)
        .map_err(|e| Error::Invalid(format!("QEMU: the ELF {}: {e}", link.elf.display())))?;
    let t0 = std::time::Instant::now();
    let mut q = Command::new(&tc.qemu);
    q.current_dir(dir)
        .args([
            "-M",
            board,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .args(["-icount", "shift=0"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-kernel")
        .arg(&elf);
    run_tool(
        &mut q,
        &format!(
            "running the model on the {} in QEMU ({board})",
            link.core.name()
        ),
    )?;
    let seconds = t0.elapsed().as_secs_f64();
    let res = std::fs::read(dir.join("result.bin"))?;
    let out = std::fs::read(dir.join("output.bin"))?;
    let words: Vec<u32> = res
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = inputs.len();
    if words.len() != n + 2 || words[0] as usize != n || out.len() != n * classes {
        return Err(Error::Invalid(format!(
            "QEMU: the firmware reported {} words and {} logit bytes for {n} inputs",
            words.len(),
            out.len()
        )));
    }
    Ok(QemuRun {
        board,
        logits: out
            .chunks(classes)
            .map(|c| c.iter().map(|&b| b as i8).collect())
            .collect(),
        instructions: words[1..=n]
            .iter()
            .map(|&t| t as u64 * INSTRUCTIONS_PER_TICK)
            .collect(),
        stack_used_bytes: words[n + 1] as u64,
        seconds,
    })
}
