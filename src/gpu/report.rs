//! The profiler's report: rows per kernel and direction and per shape, with achieved rates from
//! the dispatches' costs (the CLI draws them as a table).

use super::work::{Cost, Span, TimestampMode};
use serde::Serialize;
use std::collections::BTreeMap;

/// Rows of `spans` grouped by `key`, heaviest first (shares are filled in by the caller).
pub(super) fn group(spans: &[Span], key: impl Fn(&Span) -> String, timed: bool) -> Vec<KernelRow> {
    // Per key: calls, µs, Σ cost, and whether every call had a cost.
    let mut by: BTreeMap<String, (usize, f64, Cost, bool)> = BTreeMap::new();
    for s in spans {
        let e = by.entry(key(s)).or_insert((0, 0.0, Cost::default(), true));
        e.0 += 1;
        e.1 += s.dur_us;
        match s.cost {
            Some(c) => {
                e.2.flops += c.flops;
                e.2.bytes += c.bytes;
            }
            None => e.3 = false,
        }
    }
    let mut rows: Vec<KernelRow> = by
        .into_iter()
        .map(|(k, (calls, us, cost, known))| {
            let rate = |x: f64| (known && timed && us > 0.0 && x > 0.0).then(|| x / (us * 1e3));
            KernelRow {
                kernel: k,
                calls,
                total_ms: us / 1e3,
                mean_us: us / calls as f64,
                share: 0.0,
                gflops: rate(cost.flops),
                gbytes_per_s: rate(cost.bytes),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    rows
}

#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    /// The kernel with its specialisation, then the direction (`matmul::matmul [..] bwd-weight`);
    /// in `ProfileReport::shapes`, the shape too.
    pub kernel: String,
    pub calls: usize,
    pub total_ms: f64,
    pub mean_us: f64,
    pub share: f64,
    /// Achieved rates from the commands' known costs (None where a call's cost is unknown).
    pub gflops: Option<f64>,
    pub gbytes_per_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    pub mode: TimestampMode,
    /// One row per kernel and direction, the GPU time between commands last.
    pub rows: Vec<KernelRow>,
    /// The heaviest (kernel, direction, shape) groups, at most `SHAPE_ROWS` (profiler.rs).
    pub shapes: Vec<KernelRow>,
    /// Σ of the commands' own times (kernels and transfers), gaps excluded.
    pub gpu_kernel_ms: f64,
    pub gpu_span_ms: f64,
    pub wall_ms: f64,
    pub note: Option<String>,
}
