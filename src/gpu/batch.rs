//! Command batching: ops record dispatches, clears and copies; one submission carries them all,
//! and the CPU waits only when it reads a buffer back.

use super::kernel::{Kernel, Overrides, Params, Shader, Slot};
use super::pool::map_read;
use super::work::Work;
use super::{Gpu, GpuBuffer};
use crate::error::{Error, Result};

mod submit;

/// Bytes of the per-dispatch parameter block (a uniform buffer slot).
pub const PARAM_BYTES: u64 = 256;
const SLOTS: u64 = 2048;

/// A storage buffer bound at `@binding(n)` of group 0; binding 0 is the parameter block.
pub struct Arg<'a>(pub Slot, pub &'a GpuBuffer);

enum Cmd {
    Dispatch {
        pipeline: wgpu::ComputePipeline,
        bind_group: wgpu::BindGroup,
        workgroups: [u32; 3],
        label: &'static str,
        /// Kernel name with its specialisation, for the profiler (empty when not profiling).
        name: String,
        cost: Option<super::work::Cost>,
        tag: Option<super::work::Label>,
    },
    Clear {
        buffer: wgpu::Buffer,
        offset: u64,
        size: u64,
        tag: Option<super::work::Label>,
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        size: u64,
        tag: Option<super::work::Label>,
    },
}

pub struct Batch {
    cmds: Vec<Cmd>,
    params: Vec<u8>,
    arena: wgpu::Buffer,
    align: u64,
    slots_used: u64,
    pub dispatches_total: u64,
    pub submits_total: u64,
}

impl Batch {
    pub fn new(device: &wgpu::Device, align: u64) -> Batch {
        let align = align.max(PARAM_BYTES);
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: align * SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Batch {
            cmds: Vec::new(),
            params: Vec::new(),
            arena,
            align,
            slots_used: 0,
            dispatches_total: 0,
            submits_total: 0,
        }
    }
}

/// Split a 1-D count of workgroups into x·y under the 65,535 per-dimension limit; shaders
/// rebuild the linear index from `num_workgroups`.
pub fn grid(workgroups: u32) -> [u32; 3] {
    let w = workgroups.max(1);
    if w <= 65535 {
        [w, 1, 1]
    } else {
        let y = w.div_ceil(65535);
        [w.div_ceil(y), y, 1]
    }
}

impl Gpu {
    /// Record one dispatch of `kernel` with its typed parameters and storage bindings.
    pub fn run<P: Params, O: Overrides>(
        &self,
        kernel: Kernel<P, O>,
        overrides: &O,
        params: &P,
        args: &[Arg],
        workgroups: u32,
        work: Work<impl FnOnce() -> String>,
    ) -> Result<()> {
        self.dispatch(
            kernel.shader,
            kernel.entry,
            &overrides.values(),
            bytemuck::cast_slice(std::slice::from_ref(params)),
            args,
            workgroups,
            work,
        )
    }

    /// Record a dispatch: the pipeline of `entry` in `shader` (specialised by `constants`),
    /// `params` as its uniform block, `args` bound from binding 1.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        shader: &'static Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        params: &[u32],
        args: &[Arg],
        workgroups: u32,
        work: Work<impl FnOnce() -> String>,
    ) -> Result<()> {
        let (cost, tag) = self.work_label(work);
        let pipeline = self.pipeline(shader, entry, constants)?;
        if self.batch.borrow().slots_used == SLOTS {
            self.flush()?;
        }
        self.make_room()?;
        let mut b = self.batch.borrow_mut();
        let slot = b.slots_used;
        b.slots_used += 1;
        let offset = slot * b.align;
        b.params.resize(offset as usize, 0);
        let mut block = [0u32; (PARAM_BYTES / 4) as usize];
        block[..params.len()].copy_from_slice(params);
        b.params.extend_from_slice(bytemuck::cast_slice(&block));
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &b.arena,
                offset,
                size: wgpu::BufferSize::new(PARAM_BYTES),
            }),
        }];
        for Arg(slot, buf) in args {
            entries.push(wgpu::BindGroupEntry {
                binding: slot.binding,
                resource: buf.buffer.as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        b.dispatches_total += 1;
        let name = if self.profiling() {
            let spec: Vec<String> = constants.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if spec.is_empty() {
                format!("{}::{entry}", shader.name)
            } else {
                format!("{}::{entry} [{}]", shader.name, spec.join(","))
            }
        } else {
            String::new()
        };
        b.cmds.push(Cmd::Dispatch {
            pipeline,
            bind_group,
            workgroups: grid(workgroups),
            label: entry,
            name,
            cost,
            tag,
        });
        Ok(())
    }

    /// While profiling, submit before a batch outgrows one timestamp query set (2 per command).
    fn make_room(&self) -> Result<()> {
        if self.profiling() && self.batch.borrow().cmds.len() as u64 >= SLOTS - 1 {
            self.flush()?;
        }
        Ok(())
    }

    /// Record setting `len` elements from `offset` to zero.
    pub fn clear(&self, buf: &GpuBuffer, offset: usize, len: usize) {
        let _ = self.make_room(); // a failure resurfaces at the next flush
        self.batch.borrow_mut().cmds.push(Cmd::Clear {
            buffer: buf.buffer.clone(),
            offset: offset as u64 * 4,
            size: len as u64 * 4,
            tag: self.transfer_label(len),
        });
    }

    /// Record a copy of `len` elements between buffers.
    pub fn copy(
        &self,
        src: &GpuBuffer,
        src_off: usize,
        dst: &GpuBuffer,
        dst_off: usize,
        len: usize,
    ) {
        let _ = self.make_room(); // a failure resurfaces at the next flush
        self.batch.borrow_mut().cmds.push(Cmd::Copy {
            src: src.buffer.clone(),
            src_offset: src_off as u64 * 4,
            dst: dst.buffer.clone(),
            dst_offset: dst_off as u64 * 4,
            size: len as u64 * 4,
            tag: self.transfer_label(len),
        });
    }

    /// Record a write of `data` at `offset`; ordered with the recorded commands around it
    /// (a staging copy, unlike `queue.write_buffer` which would run before them).
    pub fn write(&self, dst: &GpuBuffer, offset: usize, data: &[f32]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("upload"),
            size: data.len() as u64 * 4,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        staging
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::Gpu(format!("mapping upload buffer: {e}")))?
            .copy_from_slice(bytemuck::cast_slice(data));
        staging.unmap();
        self.make_room()?;
        self.batch.borrow_mut().cmds.push(Cmd::Copy {
            src: staging,
            src_offset: 0,
            dst: dst.buffer.clone(),
            dst_offset: offset as u64 * 4,
            size: data.len() as u64 * 4,
            tag: self.transfer_label(data.len()),
        });
        Ok(())
    }

    /// Read `len` elements from `offset` back to the CPU (submits and waits).
    pub fn read(&self, buf: &GpuBuffer, offset: usize, len: usize) -> Result<Vec<f32>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: len as u64 * 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.batch.borrow_mut().cmds.push(Cmd::Copy {
            src: buf.buffer.clone(),
            src_offset: offset as u64 * 4,
            dst: staging.clone(),
            dst_offset: 0,
            size: len as u64 * 4,
            tag: self.transfer_label(len),
        });
        self.flush()?;
        let wait_start = std::time::Instant::now();
        let bytes = map_read(self, &staging)?;
        self.cpu_span("wait (readback)", wait_start);
        self.check_errors()?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes).to_vec())
    }

    /// Wait until the GPU has finished everything submitted.
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.wait()?;
        self.check_errors()
    }

    /// (dispatches, submissions) recorded since the device opened.
    pub fn counters(&self) -> (u64, u64) {
        let b = self.batch.borrow();
        (b.dispatches_total, b.submits_total)
    }
}
