//! The generated C runtime of an export: generated, checked on the host on every test image,
//! and with a target device linked for its flash and SRAM and run on its core in QEMU; the
//! refusals that come before any work (a device the estimate says it cannot fit, a missing
//! toolchain).

use crate::export::QGraph;
use crate::export::accuracy::SplitRun;
use crate::mcu::Device;
use crate::observer::Observer;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The ELF `export --target` leaves beside the sources.
pub fn elf_name(device: &Device) -> String {
    format!("tinynas_{}.elf", device.name)
}

/// The generated C runtime: its plan and estimates, and the checks it passed.
#[derive(Clone, Debug, Serialize)]
pub struct FirmwareReport {
    /// The arena `tinynas_model.h` declares (= `mem --scheduler tinyengine`'s peak) and its parts.
    pub arena_bytes: u64,
    pub activation_bytes: u64,
    pub scratch_bytes: u64,
    pub kernel_buffer_bytes: u64,
    /// What the search constrained: SRAM (arena + the runtime's stack) and flash (the image).
    pub sram_estimate_bytes: u64,
    pub flash_estimate_bytes: u64,
    /// Built with the host's C compiler and run on every test image, identical to the integer
    /// executor (absent, with `host_skipped` saying why, where no C compiler was found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<crate::firmware::HostCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_skipped: Option<String>,
    /// Linked for the device and run on its core in QEMU (`target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::firmware::DeviceCheck>,
    /// The latency model's instructions for the target's core (`mcu::latency`; with patches
    /// priced per patch, `mcu::patch_code::instructions`), beside QEMU's count in `device`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_instructions: Option<u64>,
    /// `--patch`: the first stage in patches (`mcu::patch_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchReport>,
}

/// The patch stage of the generated code.
#[derive(Clone, Debug, Serialize)]
pub struct PatchReport {
    /// Patches per side, and how many the grid holds.
    pub patches: usize,
    pub patch_count: usize,
    /// The layers run per patch (the first `stage_layers`), the last of them.
    pub stage_layers: usize,
    pub stage_end: String,
    /// MACs the overlapping patches recompute, and the network's own.
    pub extra_macs: u64,
    pub macs: u64,
    /// The input buffer `tinynas_input()` holds beside the arena.
    pub input_buffer_bytes: u64,
    /// The layer-by-layer arena it replaces.
    pub whole_arena_bytes: u64,
}

/// Flash and SRAM the generated C needs (the estimate the search and `--target` check), layer
/// by layer or with the first stage in `patches`×`patches` patches.
struct Needs {
    sram: u64,
    flash: u64,
    macs: u64,
    /// The layer-by-layer arena (`mem --scheduler tinyengine`'s peak).
    whole_arena: u64,
    patch: Option<crate::mcu::patch_code::Estimate>,
}

fn needs(net: &crate::arch::Network, patches: Option<usize>) -> Result<Needs> {
    let est = crate::mcu::evaluate(net, &crate::mcu::EvalOptions::default())?;
    Ok(match patches {
        None => Needs {
            sram: est.sram_bytes,
            flash: est.flash_bytes,
            macs: est.macs,
            whole_arena: est.peak_sram_bytes,
            patch: None,
        },
        Some(n) => {
            let p = crate::mcu::patch_code::estimate(net, &est.graph, n)?;
            Needs {
                sram: p.sram_bytes,
                flash: p.flash_bytes,
                macs: est.macs,
                whole_arena: est.peak_sram_bytes,
                patch: Some(p),
            }
        }
    })
}

/// The hidden folder of the firmware builds inside the export's folder (whose lock the export
/// holds): removed when dropped, and a killed export's leftover removed by the next one.
struct BuildDir(PathBuf);

/// The build folder's name inside `--out`.
const BUILD_DIR: &str = ".tinynas-firmware-build";

impl BuildDir {
    fn new(out: &Path) -> Result<BuildDir> {
        let dir = out.join(BUILD_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::Write {
                path: dir.display().to_string(),
                source: e,
            })?;
        }
        Ok(BuildDir(dir))
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Refuse, before any work, a network whose generated C the estimate already puts over the
/// device's SRAM or flash (the linker would refuse it at the end; the estimate is never below
/// the linker's figures): [`Error::DoesNotFit`].
pub fn check_fits(
    net: &crate::arch::Network,
    device: &Device,
    patches: Option<usize>,
) -> Result<()> {
    let est = needs(net, patches)?;
    if device.fits(est.sram, est.flash) {
        return Ok(());
    }
    let over = |what: &str, need: u64, have: u64| {
        (need > have).then(|| format!("{what} by {} B (needs {need} B of {have} B)", need - have))
    };
    let parts: Vec<String> = [
        over("SRAM", est.sram, device.sram_bytes),
        over("flash", est.flash, device.flash_bytes),
    ]
    .into_iter()
    .flatten()
    .collect();
    Err(Error::DoesNotFit {
        device: device.name.clone(),
        over: parts.join(" and "),
        patches,
    })
}

/// Refuse, before any work, a target device whose core is unknown or whose toolchain is missing.
pub fn check_target(device: &Device) -> Result<()> {
    crate::firmware::toolchain::device_core(device)?;
    crate::firmware::toolchain::Toolchain::find().map(|_| ())
}

/// Generate the C runtime of `q` (of `network`), check it on the host on every image of
/// `split`, and with `target` link it for the device and run it in QEMU on the first
/// `target_images`. Returns the sources, the report and the ELF's bytes.
#[allow(clippy::too_many_arguments)]
pub fn build_firmware(
    q: &QGraph,
    network: &crate::arch::Network,
    about: &str,
    split: &SplitRun,
    target: Option<&Device>,
    target_images: usize,
    patches: Option<usize>,
    out: &Path,
    obs: &dyn Observer,
) -> Result<(crate::firmware::Sources, FirmwareReport, Option<Vec<u8>>)> {
    let stage = patches.map_or(
        crate::firmware::Stage::Whole,
        crate::firmware::Stage::Patches,
    );
    let sources = crate::firmware::generate_staged(q, network, about, stage)?;
    let est = needs(network, patches)?;
    let dir = BuildDir::new(out)?;
    let compiler = crate::firmware::host::compiler();
    let (host, host_skipped) = if crate::firmware::host::compiler_found(&compiler) {
        obs.message(&format!(
            "building the generated C with {} and running it on {} test images",
            compiler.display(),
            split.inputs.len()
        ));
        let h = crate::firmware::host::run(
            &dir.0.join("host"),
            &sources,
            &split.inputs,
            crate::firmware::host::HostBuild::Optimized,
        )?;
        crate::firmware::compare_logits(&split.logits, &h.logits, "the generated C on the host")?;
        let check = crate::firmware::host_report(&sources, split.inputs.len(), &h)?;
        (Some(check), None)
    } else {
        (
            None,
            Some(format!(
                "no C compiler ({}) found: the generated C was not built on this machine",
                compiler.display()
            )),
        )
    };
    let (device, elf) = match target {
        None => (None, None),
        Some(dev) => {
            let n = target_images.min(split.inputs.len());
            obs.message(&format!(
                "linking for {} and running {n} test images on its {} in QEMU",
                dev.name,
                dev.core.map_or("core", |c| c.name())
            ));
            let check = crate::firmware::check_device(
                q,
                &sources,
                dev,
                &dir.0.join("target"),
                &split.inputs[..n],
                est.macs,
            )?;
            let elf = std::fs::read(&check.link.elf)?;
            let mut check = check;
            // The report names the ELF the export leaves, not the build's copy.
            check.link.elf = PathBuf::from(elf_name(dev));
            (Some(check), Some(elf))
        }
    };
    let p = &sources.plan;
    let report = FirmwareReport {
        arena_bytes: p.total_bytes(),
        activation_bytes: p.activation_bytes,
        scratch_bytes: p.scratch_bytes,
        kernel_buffer_bytes: p.kernel_bytes,
        sram_estimate_bytes: est.sram,
        flash_estimate_bytes: est.flash,
        host,
        host_skipped,
        predicted_instructions: target
            .and_then(|d| d.core)
            .and_then(|c| crate::mcu::latency::core_table(c).ok())
            .and_then(|t| match &est.patch {
                Some(e) => crate::mcu::latency::patched_instructions(t, &p.graph, &e.plan),
                None => crate::mcu::latency::instructions(t, network),
            }),
        device,
        patch: est.patch.as_ref().map(|e| PatchReport {
            patches: e.plan.patches,
            patch_count: e.plan.regions.len(),
            stage_layers: e.plan.stage_end + 1,
            stage_end: p.graph.ops[e.plan.stage_end].name.clone(),
            extra_macs: e.plan.extra_macs,
            macs: est.macs,
            input_buffer_bytes: e.input_bytes,
            whole_arena_bytes: est.whole_arena,
        }),
    };
    Ok((sources, report, elf))
}
