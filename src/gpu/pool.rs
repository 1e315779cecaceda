//! Buffer pool: storage buffers bucketed by size class and recycled on drop, so a training
//! loop allocates nothing once its first step has run.

use super::Gpu;
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    total: u64,
    /// Bytes of buffers handed out and not yet dropped, and the most there have been since the
    /// last `reset_peak`.
    in_use: u64,
    peak: u64,
}

impl BufferPool {
    pub fn total_bytes(&self) -> u64 {
        self.total
    }
    pub fn in_use_bytes(&self) -> u64 {
        self.in_use
    }
    pub fn peak_bytes(&self) -> u64 {
        self.peak
    }
    pub fn reset_peak(&mut self) {
        self.peak = self.in_use;
    }
}

/// Size classes 2^k and 1.5·2^k (at least 256 bytes): at most a third wasted, few distinct sizes.
fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let p = b.next_power_of_two();
    let three_quarters = p / 4 * 3;
    if b <= three_quarters {
        three_quarters
    } else {
        p
    }
}

/// A pooled storage buffer; goes back to the pool when the last handle drops. Reuse is safe
/// because every command runs on one queue in recording order.
pub struct GpuBuffer {
    pub buffer: wgpu::Buffer,
    class: u64,
    pool: Rc<RefCell<BufferPool>>,
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        let mut pool = self.pool.borrow_mut();
        pool.in_use -= self.class;
        pool.free
            .entry(self.class)
            .or_default()
            .push(self.buffer.clone());
    }
}

impl Gpu {
    /// A storage buffer of at least `len` f32 elements; contents undefined.
    pub fn alloc(&self, op: &'static str, len: usize) -> Result<Rc<GpuBuffer>> {
        let bytes = (len.max(1) as u64).saturating_mul(4);
        if bytes > self.max_binding_bytes() {
            return Err(Error::BindingLimit {
                op,
                bytes,
                limit: self.max_binding_bytes(),
            });
        }
        let class = size_class(bytes).min(self.max_binding_bytes().max(bytes));
        let reused = {
            let mut pool = self.pool.borrow_mut();
            pool.in_use += class;
            pool.peak = pool.peak.max(pool.in_use);
            pool.free.get_mut(&class).and_then(|v| v.pop())
        };
        let buffer = match reused {
            Some(b) => b,
            None => {
                self.pool.borrow_mut().total += class;
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(op),
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }
        };
        Ok(Rc::new(GpuBuffer {
            buffer,
            class,
            pool: self.pool_handle(),
        }))
    }

    /// A buffer of `len` elements set to zero (recorded in the batch, no CPU wait).
    pub fn alloc_zeroed(&self, op: &'static str, len: usize) -> Result<Rc<GpuBuffer>> {
        let b = self.alloc(op, len)?;
        self.clear(&b, 0, len);
        Ok(b)
    }

    /// A buffer holding `data`.
    pub fn upload(&self, op: &'static str, data: &[f32]) -> Result<Rc<GpuBuffer>> {
        let b = self.alloc(op, data.len())?;
        self.write(&b, 0, data)?;
        Ok(b)
    }
}

/// Map a MAP_READ buffer after the work writing it is submitted, and copy its bytes out.
pub(super) fn map_read(gpu: &Gpu, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
    let slice = buf.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    rx.recv()
        .map_err(|_| Error::Gpu("readback callback never ran".into()))?
        .map_err(|e| Error::Gpu(format!("mapping readback buffer: {e}")))?;
    let out = slice
        .get_mapped_range()
        .map_err(|e| Error::Gpu(format!("reading back: {e}")))?
        .to_vec();
    buf.unmap();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::size_class;
    #[test]
    fn size_classes_cover_request() {
        for b in [1u64, 255, 256, 257, 384, 385, 1000, 4096, 5000, 1 << 20] {
            let c = size_class(b);
            assert!(c >= b && c < 2 * b.max(256), "{b} -> {c}");
        }
    }
}
