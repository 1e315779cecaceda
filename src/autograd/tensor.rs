//! Tensor handles: a pooled GPU buffer seen through offset, shape and strides. Views (channel
//! prefixes, kernel centre crops) share the buffer, and for parameters also the gradient buffer.

use super::Engine;
use crate::autograd::ops::copy::kernel;
use crate::error::{Result, shape_err};
use crate::gpu::Work;
use crate::gpu::work::dims;
use crate::gpu::{Arg, GpuBuffer};
use std::rc::Rc;

#[derive(Clone)]
pub struct Tensor(Rc<Inner>);

struct Inner {
    id: u64,
    engine: Rc<Engine>,
    buf: Rc<GpuBuffer>,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
    requires_grad: bool,
    /// For parameters and their views: the gradient storage, laid out like `buf`.
    grad: Option<Rc<GpuBuffer>>,
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.0.shape)
    }
}

impl Tensor {
    pub(crate) fn from_buffer(
        engine: &Rc<Engine>,
        buf: Rc<GpuBuffer>,
        shape: &[usize],
        requires_grad: bool,
        grad: Option<Rc<GpuBuffer>>,
    ) -> Tensor {
        Tensor(Rc::new(Inner {
            id: engine.fresh_id(),
            engine: engine.clone(),
            buf,
            offset: 0,
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            requires_grad,
            grad,
        }))
    }

    fn derive(&self, offset: usize, shape: Vec<usize>, strides: Vec<usize>) -> Tensor {
        Tensor(Rc::new(Inner {
            id: self.0.engine.fresh_id(),
            engine: self.0.engine.clone(),
            buf: self.0.buf.clone(),
            offset,
            shape,
            strides,
            requires_grad: self.0.requires_grad,
            grad: self.0.grad.clone(),
        }))
    }

    pub(crate) fn with_requires_grad(self) -> Tensor {
        let t = &self.0;
        Tensor(Rc::new(Inner {
            id: t.id,
            engine: t.engine.clone(),
            buf: t.buf.clone(),
            offset: t.offset,
            shape: t.shape.clone(),
            strides: t.strides.clone(),
            requires_grad: true,
            grad: None,
        }))
    }

    pub fn id(&self) -> u64 {
        self.0.id
    }
    pub fn engine(&self) -> &Rc<Engine> {
        &self.0.engine
    }
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.0.strides
    }
    pub fn offset(&self) -> usize {
        self.0.offset
    }
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }
    pub fn buffer(&self) -> &GpuBuffer {
        &self.0.buf
    }
    pub(crate) fn grad_buffer(&self) -> Option<&GpuBuffer> {
        self.0.grad.as_deref()
    }
    pub fn is_leaf_param(&self) -> bool {
        self.0.grad.is_some()
    }
    /// Do two tensors share storage (a view and its parent)?
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Rc::ptr_eq(&self.0.buf, &other.0.buf)
    }

    pub fn is_contiguous(&self) -> bool {
        self.0.offset == 0 && self.0.strides == contiguous_strides(&self.0.shape)
    }

    /// Shape and strides padded on the left to 4 dimensions (kernels take up to 4-D views).
    pub(crate) fn layout4(&self) -> Result<([usize; 4], [usize; 4])> {
        let r = self.0.shape.len();
        if r > 4 {
            return shape_err(
                "view",
                format!("at most 4 dimensions, got {:?}", self.0.shape),
            );
        }
        let mut d = [1usize; 4];
        let mut s = [0usize; 4];
        d[4 - r..].copy_from_slice(&self.0.shape);
        s[4 - r..].copy_from_slice(&self.0.strides);
        Ok((d, s))
    }

    /// Parameter words of shaders/copy.wgsl for this view: length, offset, dims 1..3, strides.
    fn view_params(&self) -> Result<kernel::Copy> {
        let (d, s) = self.layout4()?;
        let u = |x: usize| x as u32;
        Ok(kernel::Copy {
            len: u(self.numel()),
            off: u(self.offset()),
            d1: u(d[1]),
            d2: u(d[2]),
            d3: u(d[3]),
            s0: u(s[0]),
            s1: u(s[1]),
            s2: u(s[2]),
            s3: u(s[3]),
        })
    }

    /// The same data without gradient tracking.
    pub fn detach(&self) -> Tensor {
        self.view_raw(self.0.offset, self.0.shape.clone(), self.0.strides.clone())
    }

    /// A view of the same data with no gradient tracking.
    fn view_raw(&self, offset: usize, shape: Vec<usize>, strides: Vec<usize>) -> Tensor {
        let mut t = self.derive(offset, shape, strides);
        let inner = Rc::get_mut(&mut t.0).expect("fresh tensor");
        inner.requires_grad = false;
        inner.grad = None;
        t
    }

    /// Materialise this layout into a new contiguous tensor (not recorded).
    fn gather_raw(&self) -> Result<Tensor> {
        let e = self.engine();
        let out = e.output("contiguous", self.shape())?;
        let n = self.numel();
        e.gpu.run(
            kernel::GATHER,
            &(),
            &self.view_params()?,
            &[
                Arg(kernel::SRC, self.buffer()),
                Arg(kernel::DST, out.buffer()),
            ],
            n.div_ceil(64) as u32,
            Work::new(0.0, 8.0 * n as f64, || dims(self.shape())),
        )?;
        Ok(out)
    }

    /// Elements `start..start+len` along `dim`. For parameters and constants this is a view
    /// (no copy) whose gradient lands in the same slice of the parameter's gradient; for
    /// intermediate values it is a copy whose gradient is scattered back.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        let shape = self.shape();
        if dim >= shape.len() || start + len > shape[dim] || len == 0 {
            return shape_err(
                "narrow",
                format!("dim {dim}, {start}..{} of {shape:?}", start + len),
            );
        }
        let mut new_shape = shape.to_vec();
        new_shape[dim] = len;
        let offset = self.0.offset + start * self.0.strides[dim];
        if !self.requires_grad() || self.is_leaf_param() {
            return Ok(self.derive(offset, new_shape, self.0.strides.clone()));
        }
        let out = self
            .view_raw(offset, new_shape, self.0.strides.clone())
            .gather_raw()?;
        let parent_shape = shape.to_vec();
        let e = self.engine().clone();
        Ok(self.engine().record("narrow", out, &[self], move |g| {
            let full = e.zeros(&parent_shape)?;
            let stride = full.0.strides[dim];
            full.view_raw(start * stride, g.shape().to_vec(), full.0.strides.clone())
                .add_assign_view(g)?;
            Ok(vec![Some(full)])
        }))
    }

    /// The first `n` entries along `dim` (an active channel prefix).
    pub fn prefix(&self, dim: usize, n: usize) -> Result<Tensor> {
        self.narrow(dim, 0, n)
    }

    /// The centre k×k of a [.., .., K, K] kernel (elastic kernel size).
    pub fn centre_crop(&self, k: usize) -> Result<Tensor> {
        let s = self.shape();
        if s.len() != 4 || s[2] != s[3] || k > s[2] || k == 0 || !(s[2] - k).is_multiple_of(2) {
            return shape_err("centre_crop", format!("{k}x{k} centre of {s:?}"));
        }
        let start = (s[2] - k) / 2;
        self.narrow(2, start, k)?.narrow(3, start, k)
    }

    /// The same elements with a new shape of the same size.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() {
            return shape_err("reshape", format!("{:?} to {shape:?}", self.shape()));
        }
        let src = self.contiguous()?;
        let strides = contiguous_strides(shape);
        if !src.requires_grad() || src.is_leaf_param() {
            return Ok(src.derive(0, shape.to_vec(), strides));
        }
        let out = src.view_raw(0, shape.to_vec(), strides);
        let in_shape = src.shape().to_vec();
        Ok(self.engine().record("reshape", out, &[&src], move |g| {
            let g = g.contiguous()?;
            Ok(vec![Some(g.view_raw(
                0,
                in_shape.clone(),
                contiguous_strides(&in_shape),
            ))])
        }))
    }

    /// A contiguous copy (or this tensor when it already is one).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let out = self.gather_raw()?;
        Ok(self
            .engine()
            .record("contiguous", out, &[self], |g| Ok(vec![Some(g.clone())])))
    }

    /// this_view += g (g contiguous, same shape): used for gradients of views.
    pub(crate) fn add_assign_view(&self, g: &Tensor) -> Result<()> {
        let g = g.contiguous()?;
        let n = self.numel();
        self.engine().gpu.run(
            kernel::SCATTER_ADD,
            &(),
            &self.view_params()?,
            &[
                Arg(kernel::SRC, g.buffer()),
                Arg(kernel::DST, self.buffer()),
            ],
            n.div_ceil(64) as u32,
            Work::new(n as f64, 12.0 * n as f64, || dims(self.shape())),
        )
    }

    /// Copy the values to the CPU (waits for the GPU).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let t = {
            let _g = self.engine().no_grad();
            self.contiguous()?
        };
        self.engine().gpu.read(t.buffer(), 0, t.numel())
    }

    /// The scalar value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return shape_err("item", format!("tensor of shape {:?}", self.shape()));
        }
        Ok(self.to_vec()?[0])
    }

    /// The accumulated gradient of a parameter (or a view of one), as a tensor.
    pub fn grad(&self) -> Option<Tensor> {
        let g = self.0.grad.clone()?;
        Some(Tensor(Rc::new(Inner {
            id: self.0.engine.fresh_id(),
            engine: self.0.engine.clone(),
            buf: g,
            offset: self.0.offset,
            shape: self.0.shape.clone(),
            strides: self.0.strides.clone(),
            requires_grad: false,
            grad: None,
        })))
    }

    /// Overwrite a contiguous tensor's values (e.g. loading weights).
    pub fn write(&self, data: &[f32]) -> Result<()> {
        if !self.is_contiguous() || data.len() != self.numel() {
            return shape_err(
                "write",
                format!("{} values into {:?}", data.len(), self.shape()),
            );
        }
        self.engine().gpu.write(self.buffer(), 0, data)
    }
}
