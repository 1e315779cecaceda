//! The Arm embedded toolchain and QEMU, found on PATH, and the core a device names.

use crate::error::Field;
use crate::mcu::device::{Core, Device};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

pub const INSTALL_HINT: &str = "scripts/setup.sh firmware installs them on Debian (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi, and qemu-system-arm from bookworm-backports)";

/// The Arm toolchain and QEMU, found on PATH.
#[derive(Clone, Debug)]
pub struct Toolchain {
    pub gcc: PathBuf,
    pub qemu: PathBuf,
}

/// The first executable file `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

impl Toolchain {
    pub fn find() -> Result<Toolchain> {
        let gcc = on_path("arm-none-eabi-gcc");
        let qemu = on_path("qemu-system-arm");
        match (gcc, qemu) {
            (Some(gcc), Some(qemu)) => Ok(Toolchain { gcc, qemu }),
            (gcc, qemu) => {
                let missing: Vec<&str> = [
                    gcc.is_none().then_some("arm-none-eabi-gcc"),
                    qemu.is_none().then_some("qemu-system-arm"),
                ]
                .into_iter()
                .flatten()
                .collect();
                Err(Error::bad_setting(
                    Field::Target,
                    format!(
                        "{} not found on PATH; {INSTALL_HINT}",
                        missing.join(" and ")
                    ),
                ))
            }
        }
    }
}

/// The core of `device` (the target), or an error naming the setting.
pub fn device_core(device: &Device) -> Result<Core> {
    device.core.ok_or_else(|| {
        Error::bad(
            Field::Target,
            &device.name,
            format!(
                "no core is known for this device; name a preset: {}",
                crate::mcu::device::PRESETS
                    .iter()
                    .map(|p| p.0)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}
