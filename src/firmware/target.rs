//! The generated C runtime on the device's instruction set: cross-compiled with the Arm
//! embedded toolchain (`super::toolchain`) for the device's core and linked with a script
//! holding the device's own flash and SRAM (the link fails when the model does not fit); the
//! ELF runs in QEMU in `super::qemu`.

use super::codegen::Sources;
use super::host::{STRICT, run_tool, write_sources};
use super::toolchain::{Toolchain, device_core};
use crate::mcu::device::{Core, Device};
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const QEMU_C: &str = include_str!("runtime/tinynas_qemu.c");
const LINKER_SCRIPT: &str = include_str!("runtime/tinynas_qemu.ld");

/// The stack the runtime is given beside the arena: what the deepest call chain of the
/// generated code needs on the Cortex-M cores (measured by painting the stack in QEMU; the
/// tests hold every run under it), with room for the harness.
pub const RUNTIME_STACK_BYTES: u64 = 1024;

/// GCC's flags for a core.
pub fn core_flags(core: Core) -> &'static [&'static str] {
    match core {
        Core::CortexM4F => &[
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv4-sp-d16",
        ],
        Core::CortexM7 => &[
            "-mcpu=cortex-m7",
            "-mthumb",
            "-mfloat-abi=hard",
            "-mfpu=fpv5-d16",
        ],
    }
}

/// What the linker placed, by its own count (`--print-memory-usage`).
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub device: String,
    pub core: Core,
    pub elf: PathBuf,
    pub flash_used_bytes: u64,
    pub flash_bytes: u64,
    pub sram_used_bytes: u64,
    pub sram_bytes: u64,
    /// The stack reserved in that SRAM.
    pub stack_bytes: u64,
    /// The code of the kernels and the model's `tinynas_run` (`.text` of their objects, after
    /// unused kernels are dropped).
    pub code_bytes: u64,
}

/// A model that does not fit: which memory, by how much.
fn overflow(stderr: &str, device: &Device) -> Option<Error> {
    // GNU ld: "region `FLASH' overflowed by 1234 bytes".
    let mut msgs = Vec::new();
    for line in stderr.lines() {
        if let Some(rest) = line.split("region `").nth(1)
            && let Some((region, tail)) = rest.split_once('\'')
            && let Some(n) = tail
                .split("overflowed by ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .and_then(|t| t.parse::<u64>().ok())
        {
            let (memory, budget) = if region == "FLASH" {
                ("flash", device.flash_bytes)
            } else {
                ("SRAM", device.sram_bytes)
            };
            msgs.push(format!(
                "{memory} by {n} B (needs {} B of {budget} B)",
                budget + n
            ));
        }
    }
    (!msgs.is_empty()).then(|| {
        Error::Invalid(format!(
            "the model does not fit {}: the link for its {} overflows {}",
            device.name,
            device.core.map_or("core", |c| c.name()),
            msgs.join(" and ")
        ))
    })
}

/// "FLASH:  12345 B  512 KB  2.35%" → bytes used.
fn memory_usage(stdout: &str, region: &str) -> Option<u64> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{region}:")))?;
    let mut it = line.split_whitespace().skip(1);
    let n: u64 = it.next()?.parse().ok()?;
    let unit = match it.next()? {
        "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    Some(n * unit)
}

/// The bare-metal program around the model: its C file, and a header every object is compiled
/// with (`-include`), e.g. to define `TINYNAS_LAYER_HOOK`.
#[derive(Clone, Copy, Debug)]
pub struct Harness {
    pub file: &'static str,
    pub source: &'static str,
    /// A header compiled into every object (`-include`).
    pub header: Option<(&'static str, &'static str)>,
    /// A macro defined for the harness itself.
    pub define: Option<&'static str>,
}

/// `tinynas_qemu.c`: inputs in, logits and instructions per inference out.
pub const QEMU_HARNESS: Harness = Harness {
    file: "tinynas_qemu.c",
    source: QEMU_C,
    header: None,
    define: None,
};

/// Cross-compile the sources (written into `dir`) with the QEMU harness for `device`'s core and
/// link them against its flash and SRAM.
pub fn build(tc: &Toolchain, dir: &Path, s: &Sources, device: &Device) -> Result<Link> {
    build_with(tc, dir, s, device, &QEMU_HARNESS)
}

/// `build` with another harness (`firmware::profile`'s per-layer one).
pub fn build_with(
    tc: &Toolchain,
    dir: &Path,
    s: &Sources,
    device: &Device,
    harness: &Harness,
) -> Result<Link> {
    let core = device_core(device)?;
    write_sources(dir, s)?;
    crate::io::write_file(&dir.join(harness.file), harness.source)?;
    if let Some((name, text)) = harness.header {
        crate::io::write_file(&dir.join(name), text)?;
    }
    let script = LINKER_SCRIPT
        .replace("@FLASH_BYTES@", &device.flash_bytes.to_string())
        .replace("@SRAM_BYTES@", &device.sram_bytes.to_string())
        .replace("@STACK_BYTES@", &RUNTIME_STACK_BYTES.to_string());
    crate::io::write_file(&dir.join("tinynas_qemu.ld"), script)?;
    let mut objects = Vec::new();
    for src in ["tinynas_model.c", "tinynas_kernels.c", harness.file] {
        let obj = dir.join(src.replace(".c", ".o"));
        let mut cc = Command::new(&tc.gcc);
        cc.args(core_flags(core))
            .args(STRICT)
            .args(["-O2", "-ffunction-sections", "-fdata-sections", "-c"])
            .arg("-I")
            .arg(dir);
        if let Some((name, _)) = harness.header {
            cc.arg("-include").arg(dir.join(name));
        }
        if let Some(d) = harness.define.filter(|_| src == harness.file) {
            cc.arg(format!("-D{d}"));
        }
        cc.arg(dir.join(src)).arg("-o").arg(&obj);
        run_tool(&mut cc, &format!("compiling {src} for the {}", core.name()))?;
        objects.push(obj);
    }
    let elf = dir.join(format!("tinynas_{}.elf", device.name.replace(' ', "_")));
    let mut ld = Command::new(&tc.gcc);
    ld.args(core_flags(core))
        .args(["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections"])
        .arg("-Wl,--print-memory-usage")
        .arg(format!("-Wl,-Map={}", dir.join("tinynas.map").display()))
        .arg("-T")
        .arg(dir.join("tinynas_qemu.ld"))
        .args(&objects)
        .arg("-o")
        .arg(&elf);
    let out = ld
        .output()
        .map_err(|e| Error::Invalid(format!("linking: cannot run {:?} ({e})", tc.gcc)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(overflow(&stderr, device).unwrap_or_else(|| {
            Error::Invalid(format!("linking for {} failed:\n{stderr}", device.name))
        }));
    }
    let usage = |region: &str| {
        memory_usage(&stdout, region).ok_or_else(|| {
            Error::Invalid(format!(
                "linking: no {region} line in the linker's memory usage:\n{stdout}"
            ))
        })
    };
    let map = std::fs::read_to_string(dir.join("tinynas.map"))?;
    Ok(Link {
        device: device.name.clone(),
        core,
        flash_used_bytes: usage("FLASH")?,
        flash_bytes: device.flash_bytes,
        sram_used_bytes: usage("RAM")?,
        sram_bytes: device.sram_bytes,
        stack_bytes: RUNTIME_STACK_BYTES,
        code_bytes: text_of(&map, &["tinynas_model.o", "tinynas_kernels.o"]),
        elf,
    })
}

/// Bytes of the `.text` input sections the linker kept from the named objects (the map file's
/// ` .text.name  0xADDR  0xSIZE  path/object.o` lines, a long name putting the rest on the next).
fn text_of(map: &str, objects: &[&str]) -> u64 {
    let mut total = 0;
    let mut pending = false;
    let mut in_discarded = false;
    for line in map.lines() {
        if line.starts_with("Discarded input sections") {
            in_discarded = true;
        } else if line.starts_with("Memory Configuration") {
            in_discarded = false;
        }
        if in_discarded {
            continue;
        }
        let t = line.trim_start();
        let fields: Vec<&str> = t.split_whitespace().collect();
        let (size, obj) = if t.starts_with(".text") && fields.len() >= 4 {
            (fields[2], fields[3])
        } else if t.starts_with(".text") && fields.len() == 1 {
            pending = true;
            continue;
        } else if pending && fields.len() >= 3 && fields[0].starts_with("0x") {
            (fields[1], fields[2])
        } else {
            pending = false;
            continue;
        };
        pending = false;
        if objects.iter().any(|o| obj.ends_with(o))
            && let Ok(n) = u64::from_str_radix(size.trim_start_matches("0x"), 16)
        {
            total += n;
        }
    }
    total
}
