//! Search-test helpers shared by tests/search.rs and tests/search_choice.rs: a device of given
//! budgets, a synthetic accuracy and a fixed per-network noise.

use tinynas::arch::{SearchSpace, SubnetConfig};
use tinynas::mcu::{Device, Scheduler};
use tinynas::search::Limits;
use tinynas::search::encoding::canonical;

pub fn limits(sram_kib: u64, flash_kib: u64, s: Scheduler) -> Limits {
    Limits {
        device: Device {
            name: "test".into(),
            sram_bytes: sram_kib * 1024,
            flash_bytes: flash_kib * 1024,
            core: None,
            clock_mhz: None,
        },
        scheduler: s,
        latency_ms: None,
    }
}

/// A fixed pseudo-random number in [-1, 1] for a network (the same for its canonical twins).
pub fn noise(sp: &SearchSpace, s: &SubnetConfig, salt: u64) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical(sp, s).hash(&mut h);
    salt.hash(&mut h);
    (h.finish() % 20001) as f64 / 10000.0 - 1.0
}

/// A smooth synthetic "accuracy": more kernel, expand and depth help, with diminishing returns.
pub fn synthetic_accuracy(sp: &SearchSpace, s: &SubnetConfig) -> f64 {
    let md = sp.max_depth();
    let mut a = 0.0;
    for st in 0..sp.stages() {
        for d in 0..s.depth[st] {
            let slot = st * md + d;
            a += (s.kernel_size[slot] as f64).ln() * 0.01
                + (s.expand_ratio[slot] as f64).ln() * 0.015;
        }
    }
    0.5 + a * 0.3 + s.resolution as f64 * 1e-4
}
