//! The largest values a configuration or a command-line number may hold. Past them a number is
//! a typo (or hostile), and within them every MAC, parameter and byte count of an accepted
//! network, summed over all its layers, fits in u64 with room to spare.

use crate::error::{Error, Result};

pub const MAX_RESOLUTION: usize = 2048;
pub const MAX_CHANNELS: usize = 16_384;
pub const MAX_KERNEL: usize = 15;
pub const MAX_STRIDE: usize = 8;
pub const MAX_EXPAND: usize = 64;
pub const MAX_BLOCKS: usize = 1024;
pub const MAX_CLASSES: usize = 65_536;
/// A network's MACs and parameters (2^50: a million times MobileNetV2).
pub const MAX_MACS: u128 = 1 << 50;
/// One activation tensor's int8 bytes (1 TiB).
pub const MAX_TENSOR_BYTES: u128 = 1 << 40;
/// A memory budget in KiB (--sram, --flash): 4 GiB.
pub const MAX_BUDGET_KIB: u64 = 1 << 22;

/// `v` in `lo..=hi`, or an error naming `field`.
pub fn int(field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(Error::Invalid(format!(
            "{field}: {v} is out of range; give {lo} to {hi}"
        )));
    }
    Ok(())
}

/// `--recal-images`: batch-norm recalibration needs at least one image (`None`: the run's own
/// setting, checked when the run was made).
pub fn recal_images(v: Option<usize>) -> Result<()> {
    if v == Some(0) {
        return Err(Error::Invalid(
            "--recal-images 0: BN recalibration needs at least one image".into(),
        ));
    }
    Ok(())
}

/// `v` finite and in `lo..=hi`, or an error naming `field`.
pub fn real(field: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if !v.is_finite() || v < lo || v > hi {
        return Err(Error::Invalid(format!(
            "{field}: {v} is out of range; give a number from {lo} to {hi}"
        )));
    }
    Ok(())
}

/// `v` finite, above zero and at most `hi`, or an error naming `field`.
pub fn positive(field: &str, v: f64, hi: f64) -> Result<()> {
    if !v.is_finite() || v <= 0.0 || v > hi {
        let range = if hi == f64::MAX {
            "a finite number above 0".to_string()
        } else {
            format!("a number above 0 and at most {hi}")
        };
        return Err(Error::Invalid(format!(
            "{field}: {v} is out of range; give {range}"
        )));
    }
    Ok(())
}
