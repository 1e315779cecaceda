//! Microcontroller presets (SRAM and flash budgets) and the fits / does-not-fit verdict.

use crate::error::{Error, Result};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Device {
    pub name: String,
    pub sram_bytes: u64,
    pub flash_bytes: u64,
}

const KIB: u64 = 1024;

pub const PRESETS: [(&str, u64, u64); 4] = [
    ("stm32f746", 320 * KIB, 1024 * KIB),
    ("stm32f412", 256 * KIB, 1024 * KIB),
    ("stm32h743", 512 * KIB, 2048 * KIB),
    ("nrf52840", 256 * KIB, 1024 * KIB),
];

impl Device {
    pub fn preset(name: &str) -> Result<Device> {
        let lower = name.to_ascii_lowercase();
        PRESETS
            .iter()
            .find(|p| p.0 == lower)
            .map(|p| Device {
                name: p.0.to_string(),
                sram_bytes: p.1,
                flash_bytes: p.2,
            })
            .ok_or_else(|| {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                Error::Invalid(format!(
                    "unknown device {name:?}; valid: {} (or give --sram and --flash)",
                    names.join(", ")
                ))
            })
    }

    /// Margins (budget − use; negative = over) for SRAM and flash.
    pub fn margins(&self, peak_sram: u64, flash: u64) -> (i64, i64) {
        (
            self.sram_bytes as i64 - peak_sram as i64,
            self.flash_bytes as i64 - flash as i64,
        )
    }

    pub fn fits(&self, peak_sram: u64, flash: u64) -> bool {
        let (s, f) = self.margins(peak_sram, flash);
        s >= 0 && f >= 0
    }
}
