//! Submission: the recorded commands encoded into one command buffer (compute passes for the
//! dispatches, with timestamps around each when profiling), the parameter blocks uploaded, and
//! the timestamps read back.

use super::Cmd;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::work::TimestampMode;

impl Gpu {
    /// Submit everything recorded so far, without waiting (when profiling: waits to read the
    /// timestamps).
    pub fn flush(&self) -> Result<()> {
        let flush_start = std::time::Instant::now();
        let mut b = self.batch.borrow_mut();
        if b.cmds.is_empty() {
            return self.check_errors();
        }
        if !b.params.is_empty() {
            self.queue.write_buffer(&b.arena, 0, &b.params);
        }
        let mode = self.profiler.borrow().as_ref().map(|p| p.mode);
        let cmds = std::mem::take(&mut b.cmds);
        // Transfers are timed too where timestamps may sit between encoder commands.
        let time_transfers = self
            .features
            .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);
        let bytes = |b: u64| {
            Some(crate::gpu::work::Cost {
                flops: 0.0,
                bytes: b as f64,
            })
        };
        type Named = (
            String,
            Option<crate::gpu::work::Cost>,
            Option<crate::gpu::work::Label>,
        );
        let names: Vec<Named> = if mode.is_some() {
            cmds.iter()
                .filter_map(|c| match c {
                    Cmd::Dispatch {
                        name, cost, tag, ..
                    } => Some((name.clone(), *cost, tag.clone())),
                    Cmd::Clear { size, tag, .. } if time_transfers => {
                        Some(("transfer::clear".into(), bytes(*size), tag.clone()))
                    }
                    Cmd::Copy { size, tag, .. } if time_transfers => {
                        Some(("transfer::copy".into(), bytes(2 * size), tag.clone()))
                    }
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let timed = matches!(
            mode,
            Some(TimestampMode::InsidePasses | TimestampMode::PerPass)
        ) && !names.is_empty();
        let queries = timed.then(|| {
            self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profiler"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * names.len() as u32,
            })
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("batch"),
            });
        let per_pass = mode == Some(TimestampMode::PerPass);
        let mut i = 0;
        let mut k = 0u32; // dispatch index, for timestamp slots
        while i < cmds.len() {
            match &cmds[i] {
                Cmd::Dispatch { .. } => {
                    let pass_writes = match (&queries, per_pass) {
                        (Some(q), true) => Some(wgpu::ComputePassTimestampWrites {
                            query_set: q,
                            beginning_of_pass_write_index: Some(2 * k),
                            end_of_pass_write_index: Some(2 * k + 1),
                        }),
                        _ => None,
                    };
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("ops"),
                        timestamp_writes: pass_writes,
                    });
                    while let Some(Cmd::Dispatch {
                        pipeline,
                        bind_group,
                        workgroups,
                        label,
                        ..
                    }) = cmds.get(i)
                    {
                        let inside = if per_pass { None } else { queries.as_ref() };
                        if let Some(q) = inside {
                            pass.write_timestamp(q, 2 * k);
                        }
                        pass.push_debug_group(label);
                        pass.set_pipeline(pipeline);
                        pass.set_bind_group(0, bind_group, &[]);
                        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                        pass.pop_debug_group();
                        if let Some(q) = inside {
                            pass.write_timestamp(q, 2 * k + 1);
                        }
                        i += 1;
                        k += 1;
                        if per_pass {
                            break;
                        }
                    }
                }
                transfer => {
                    let q = queries.as_ref().filter(|_| time_transfers);
                    if let Some(q) = q {
                        enc.write_timestamp(q, 2 * k);
                    }
                    match transfer {
                        Cmd::Clear {
                            buffer,
                            offset,
                            size,
                            ..
                        } => enc.clear_buffer(buffer, *offset, Some(*size)),
                        Cmd::Copy {
                            src,
                            src_offset,
                            dst,
                            dst_offset,
                            size,
                            ..
                        } => enc.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *size),
                        Cmd::Dispatch { .. } => {
                            unreachable!("dispatches are recorded in passes above")
                        }
                    }
                    if let Some(q) = q {
                        enc.write_timestamp(q, 2 * k + 1);
                        k += 1;
                    }
                    i += 1;
                }
            }
        }
        let readback = queries.map(|q| {
            let bytes = 16 * names.len() as u64;
            let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let read = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps.read"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            enc.resolve_query_set(&q, 0..2 * names.len() as u32, &resolve, 0);
            enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
            read
        });
        self.queue.submit([enc.finish()]);
        let submitted = std::time::Instant::now();
        b.params.clear();
        b.slots_used = 0;
        b.submits_total += 1;
        drop(b);
        self.check_errors()?;
        if mode.is_some() {
            self.cpu_span("record + submit", flush_start);
            self.collect_timestamps(names, readback, submitted)?;
        }
        Ok(())
    }

    /// Block until the GPU has finished everything submitted.
    pub(in crate::gpu) fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        Ok(())
    }
}
