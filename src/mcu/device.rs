//! Microcontroller presets (SRAM and flash budgets, core and clock) and the fits /
//! does-not-fit verdict.

use crate::error::Field;
use crate::error::{Error, Result};
use serde::Serialize;

/// The Arm core of a device: what the generated firmware is compiled for and emulated on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Core {
    /// Cortex-M4 with the single-precision FPU and the DSP extension (ARMv7E-M).
    CortexM4F,
    /// Cortex-M7 (ARMv7E-M, DSP extension, double-precision FPU).
    CortexM7,
}

impl Core {
    pub fn name(self) -> &'static str {
        match self {
            Core::CortexM4F => "Cortex-M4F",
            Core::CortexM7 => "Cortex-M7",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Device {
    pub name: String,
    pub sram_bytes: u64,
    pub flash_bytes: u64,
    /// The core and its clock, where known (every preset; a custom budget has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core: Option<Core>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_mhz: Option<u32>,
}

const KIB: u64 = 1024;

/// (name, SRAM, flash, core, clock in MHz).
pub const PRESETS: [(&str, u64, u64, Core, u32); 6] = [
    ("stm32f746", 320 * KIB, 1024 * KIB, Core::CortexM7, 216),
    ("stm32f412", 256 * KIB, 1024 * KIB, Core::CortexM4F, 100),
    ("stm32h743", 512 * KIB, 2048 * KIB, Core::CortexM7, 480),
    ("nrf52840", 256 * KIB, 1024 * KIB, Core::CortexM4F, 64),
    ("stm32f411", 128 * KIB, 512 * KIB, Core::CortexM4F, 100),
    ("nrf52832", 64 * KIB, 512 * KIB, Core::CortexM4F, 64),
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
                core: Some(p.3),
                clock_mhz: Some(p.4),
            })
            .ok_or_else(|| {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                Error::bad(
                    Field::Device,
                    format!("{name:?}"),
                    format!(
                        "unknown device; valid: {} (or give {} and {})",
                        names.join(", "),
                        Field::Sram,
                        Field::Flash
                    ),
                )
            })
    }

    /// This device with its SRAM and flash budgets overridden (KiB, `--sram` / `--flash`),
    /// each from 1 KiB to `crate::bounds::MAX_BUDGET_KIB`.
    pub fn with_budget(mut self, sram_kib: Option<u64>, flash_kib: Option<u64>) -> Result<Device> {
        let check = |field: Field, v: u64| {
            crate::bounds::int(field, v as usize, 1, crate::bounds::MAX_BUDGET_KIB as usize)
                .map(|_| v * KIB)
        };
        // The name says which budget was set in place of the device's own (the figures are
        // printed beside it wherever the name is: `search::describe_limits`, `mem`).
        let mut set = Vec::new();
        if let Some(s) = sram_kib {
            self.sram_bytes = check(Field::Sram, s)?;
            set.push("SRAM");
        }
        if let Some(f) = flash_kib {
            self.flash_bytes = check(Field::Flash, f)?;
            set.push("flash");
        }
        if !set.is_empty() {
            self.name = format!("{} with {} set", self.name, set.join(" and "));
        }
        Ok(self)
    }

    /// This device at another clock (`--clock-mhz`, 1 to 10,000 MHz).
    pub fn with_clock(mut self, clock_mhz: Option<u32>) -> Result<Device> {
        if let Some(mhz) = clock_mhz {
            crate::bounds::int(Field::ClockMhz, mhz as usize, 1, 10_000)?;
            self.clock_mhz = Some(mhz);
        }
        Ok(self)
    }

    /// Margins (budget − use; negative = over) for SRAM and flash, saturating at i64's range.
    pub fn margins(&self, peak_sram: u64, flash: u64) -> (i64, i64) {
        let m = |budget: u64, used: u64| {
            (budget as i128 - used as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
        };
        (m(self.sram_bytes, peak_sram), m(self.flash_bytes, flash))
    }

    pub fn fits(&self, peak_sram: u64, flash: u64) -> bool {
        peak_sram <= self.sram_bytes && flash <= self.flash_bytes
    }
}
