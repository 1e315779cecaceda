//! The largest values a configuration or a command-line number may hold. Past them a number is
//! a typo (or hostile), and within them every MAC, parameter and byte count of an accepted
//! network, summed over all its layers, fits in u64 with room to spare.

use crate::error::{Allowed, Document, Error, Field, Place, Result};

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
pub fn int(field: Field, v: usize, lo: usize, hi: usize) -> Result<()> {
    ints(v, lo, hi).map_err(|allowed| at(&Place::Setting(field), v, allowed))
}

/// `v` finite and in `lo..=hi`, or an error naming `field`.
pub fn real(field: Field, v: f64, lo: f64, hi: f64) -> Result<()> {
    reals(v, lo, hi).map_err(|allowed| at(&Place::Setting(field), v, allowed))
}

/// `v` finite, above zero and at most `hi` (`f64::MAX`: any finite), or an error naming `field`.
pub fn positive(field: Field, v: f64, hi: f64) -> Result<()> {
    positives(v, hi).map_err(|allowed| at(&Place::Setting(field), v, allowed))
}

/// `int` for an entry of `document`, named as the document spells it (`input.resolution`):
/// an [`Error::Entry`].
pub fn entry_int(document: Document, entry: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    ints(v, lo, hi).map_err(|allowed| at(&Place::Entry(document, entry.into()), v, allowed))
}

/// `positive` for an entry of `document`, named as the document spells it (`width_mult`).
pub fn entry_positive(document: Document, entry: &str, v: f64, hi: f64) -> Result<()> {
    positives(v, hi).map_err(|allowed| at(&Place::Entry(document, entry.into()), v, allowed))
}

/// `int` for a value from `place`: an entry of a document or a setting.
pub fn int_at(place: &Place, v: usize, lo: usize, hi: usize) -> Result<()> {
    ints(v, lo, hi).map_err(|allowed| at(place, v, allowed))
}

/// `recal_images`: batch-norm recalibration needs at least one image (`None`: the run's own
/// setting, checked when the run was made).
pub fn recal_images(v: Option<usize>) -> Result<()> {
    if v == Some(0) {
        return Err(Error::bad(
            Field::RecalImages,
            0,
            "BN recalibration needs at least one image",
        ));
    }
    Ok(())
}

fn ints(v: usize, lo: usize, hi: usize) -> std::result::Result<(), Allowed> {
    if v < lo || v > hi {
        return Err(Allowed::Ints {
            lo: lo as u64,
            hi: hi as u64,
        });
    }
    Ok(())
}

fn reals(v: f64, lo: f64, hi: f64) -> std::result::Result<(), Allowed> {
    if !v.is_finite() || v < lo || v > hi {
        return Err(Allowed::Reals { lo, hi });
    }
    Ok(())
}

fn positives(v: f64, hi: f64) -> std::result::Result<(), Allowed> {
    if !v.is_finite() || v <= 0.0 || v > hi {
        return Err(Allowed::Positive {
            hi: (hi != f64::MAX).then_some(hi),
        });
    }
    Ok(())
}

/// The value `v` from `place` is not `allowed`.
fn at(place: &Place, v: impl ToString, allowed: Allowed) -> Error {
    place.error(Some(v.to_string()), allowed)
}
