//! Shader-level profiling: a GPU timestamp before and after every dispatch (inside compute
//! passes where the adapter allows, else one pass per dispatch), CPU spans for recording and
//! waiting, a per-kernel table and a Chrome/Perfetto trace. Adapters without timestamps fall
//! back to wall-clock time per submission, with a note.

use super::Gpu;
use super::pool::map_read;
use super::report::{KernelRow, ProfileReport, group};
use super::work::{Cost, Direction, Label, Span, TimestampMode, Work};
use crate::error::{Error, Result};
use std::time::Instant;

/// Restores the previous direction when dropped (see [`Gpu::direction`]).
pub struct DirectionGuard<'a> {
    gpu: &'a Gpu,
    prev: Direction,
}

impl Drop for DirectionGuard<'_> {
    fn drop(&mut self) {
        self.gpu.direction.set(self.prev);
    }
}

pub struct Profiler {
    pub mode: TimestampMode,
    pub period_ns: f64,
    pub origin: Instant,
    pub gpu: Vec<Span>,
    pub cpu: Vec<Span>,
    /// Σ over submissions of (last kernel end − first kernel start).
    pub gpu_span_us: f64,
    pub note: Option<String>,
}

/// The table row for GPU time between commands.
pub const GAPS: &str = "(gaps between commands)";
/// Rows of the per-shape table.
pub const SHAPE_ROWS: usize = 12;

impl Profiler {
    pub fn report(&self) -> ProfileReport {
        let total: f64 = self.gpu.iter().map(|s| s.dur_us).sum();
        let timed = self.mode != TimestampMode::WallClock;
        let mut rows = group(&self.gpu, Span::kernel_key, timed);
        let mut shapes = group(&self.gpu, Span::full_name, timed);
        shapes.truncate(SHAPE_ROWS);
        // GPU time inside submissions that no command owns (barriers, idle between commands).
        let gaps = if self.mode == TimestampMode::WallClock {
            0.0
        } else {
            (self.gpu_span_us - total).max(0.0)
        };
        if gaps > 0.0 {
            rows.push(KernelRow {
                kernel: GAPS.into(),
                calls: 0,
                total_ms: gaps / 1e3,
                mean_us: 0.0,
                share: 0.0,
                gflops: None,
                gbytes_per_s: None,
            });
        }
        let all = total + gaps;
        for r in rows.iter_mut().chain(shapes.iter_mut()) {
            r.share = if all > 0.0 {
                r.total_ms * 1e3 / all
            } else {
                0.0
            };
        }
        rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        ProfileReport {
            mode: self.mode,
            rows,
            shapes,
            gpu_kernel_ms: total / 1e3,
            gpu_span_ms: self.gpu_span_us / 1e3,
            wall_ms: self.origin.elapsed().as_secs_f64() * 1e3,
            note: self.note.clone(),
        }
    }

    /// Chrome trace-event JSON (chrome://tracing, ui.perfetto.dev): GPU kernels on one track,
    /// the CPU side on another.
    pub fn trace_json(&self) -> serde_json::Value {
        let mut events = vec![
            serde_json::json!({"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "GPU kernels"}}),
            serde_json::json!({"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "CPU"}}),
        ];
        for (tid, spans) in [(1, &self.gpu), (2, &self.cpu)] {
            for s in spans {
                let mut ev = serde_json::json!({"ph": "X", "pid": 1, "tid": tid, "name": s.full_name(), "ts": s.start_us, "dur": s.dur_us});
                let mut args = serde_json::Map::new();
                if let Some(l) = &s.label {
                    args.insert("kernel".into(), s.name.clone().into());
                    args.insert("direction".into(), l.direction.as_str().into());
                    args.insert("shape".into(), l.shape.clone().into());
                }
                if let Some(c) = s.cost {
                    args.insert("flops".into(), c.flops.into());
                    args.insert("bytes".into(), c.bytes.into());
                }
                if !args.is_empty() {
                    ev["args"] = args.into();
                }
                events.push(ev);
            }
        }
        serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" })
    }
}

impl Gpu {
    /// Label the commands recorded until the guard drops with `d` (for the profiler).
    pub fn direction(&self, d: Direction) -> DirectionGuard<'_> {
        DirectionGuard {
            gpu: self,
            prev: self.direction.replace(d),
        }
    }

    /// Start profiling every dispatch from now on (`force_wallclock` ignores timestamps, as on an
    /// adapter without them).
    pub fn start_profiling(&self, force_wallclock: bool) {
        let f = self.features;
        let mode = if force_wallclock || !f.contains(wgpu::Features::TIMESTAMP_QUERY) {
            TimestampMode::WallClock
        } else if f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
            TimestampMode::InsidePasses
        } else {
            TimestampMode::PerPass
        };
        let note = (mode == TimestampMode::WallClock).then(|| {
            format!("{} has no timestamp queries: times are wall-clock per submission (submit to completion), not per kernel", self.info.name)
        });
        *self.profiler.borrow_mut() = Some(Profiler {
            mode,
            period_ns: self.queue.get_timestamp_period() as f64,
            origin: Instant::now(),
            gpu: Vec::new(),
            cpu: Vec::new(),
            gpu_span_us: 0.0,
            note,
        });
    }

    /// The label of a transfer of `len` floats recorded now.
    pub(super) fn transfer_label(&self, len: usize) -> Option<Label> {
        self.profiling().then(|| Label {
            direction: self.direction.get(),
            shape: format!("{len} floats"),
        })
    }

    /// The cost and label of a dispatch recorded now with `work` (None when not profiling:
    /// the shape is not even formatted then).
    pub(super) fn work_label<F: FnOnce() -> String>(
        &self,
        work: Work<F>,
    ) -> (Option<Cost>, Option<Label>) {
        if !self.profiling() {
            return (None, None);
        }
        (
            Some(Cost {
                flops: work.flops,
                bytes: work.bytes,
            }),
            Some(Label {
                direction: self.direction.get(),
                shape: (work.shape)(),
            }),
        )
    }

    pub fn profiling(&self) -> bool {
        self.profiler.borrow().is_some()
    }

    /// Stop profiling and hand back what was recorded.
    pub fn stop_profiling(&self) -> Result<Profiler> {
        self.flush()?;
        self.profiler
            .borrow_mut()
            .take()
            .ok_or_else(|| Error::Invalid("profiling was not started".into()))
    }

    /// Record a CPU-side span (data loading, waiting) that began at `start`.
    pub fn cpu_span(&self, name: &str, start: Instant) {
        if let Some(p) = self.profiler.borrow_mut().as_mut() {
            let s = start.saturating_duration_since(p.origin).as_secs_f64() * 1e6;
            p.cpu.push(Span {
                name: name.to_string(),
                label: None,
                start_us: s,
                dur_us: start.elapsed().as_secs_f64() * 1e6,
                cost: None,
            });
        }
    }

    /// After a profiled submission: read its timestamps (waits for the GPU) and record spans.
    pub(super) fn collect_timestamps(
        &self,
        names: Vec<(String, Option<Cost>, Option<Label>)>,
        read: Option<wgpu::Buffer>,
        submitted: Instant,
    ) -> Result<()> {
        let wait_start = Instant::now();
        let ticks: Option<Vec<u64>> = match &read {
            Some(buf) => Some(
                map_read(self, buf)?
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            None => {
                self.wait()?;
                None
            }
        };
        let mut guard = self.profiler.borrow_mut();
        let Some(p) = guard.as_mut() else {
            return Ok(());
        };
        let at = |t: Instant| t.saturating_duration_since(p.origin).as_secs_f64() * 1e6;
        let base = at(submitted);
        match ticks {
            Some(t) if !t.is_empty() => {
                let t0 = t[0];
                let us = |x: u64| x.saturating_sub(t0) as f64 * p.period_ns / 1e3;
                for (k, (name, cost, label)) in names.into_iter().enumerate() {
                    let (s, e) = (us(t[2 * k]), us(t[2 * k + 1]));
                    p.gpu.push(Span {
                        name,
                        label,
                        start_us: base + s,
                        dur_us: (e - s).max(0.0),
                        cost,
                    });
                }
                p.gpu_span_us += us(*t.iter().max().unwrap());
            }
            _ => {
                let dur = submitted.elapsed().as_secs_f64() * 1e6;
                p.gpu.push(Span {
                    name: format!("submission ({} dispatches, wall clock)", names.len()),
                    label: None,
                    start_us: base,
                    dur_us: dur,
                    cost: None,
                });
                p.gpu_span_us += dur;
            }
        }
        p.cpu.push(Span {
            name: "wait (profiler readback)".into(),
            label: None,
            start_us: at(wait_start),
            dur_us: wait_start.elapsed().as_secs_f64() * 1e6,
            cost: None,
        });
        Ok(())
    }
}
