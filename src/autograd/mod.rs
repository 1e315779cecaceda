//! GPU tensors and a tape-based autograd. Every op records one node holding its inputs and a
//! backward closure written beside its forward; `backward` walks the tape in reverse.

pub mod ops;
mod tensor;

pub use tensor::Tensor;

use crate::error::{Error, Result, shape_err};
use crate::gpu::Work;
use crate::gpu::{Arg, Gpu, GpuBuffer, GpuOptions};
use ops::half::kernel;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

type BackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>>;

struct Node {
    op: &'static str,
    out: u64,
    inputs: Vec<Input>,
    backward: BackwardFn,
}

/// What the tape knows of an op's input: enough to route its gradient. Only parameters (and
/// their views) are held; an intermediate value lives on only if the op's backward saved it,
/// so activations no backward reads are freed as soon as forward is done with them.
struct Input {
    id: u64,
    shape: Vec<usize>,
    requires_grad: bool,
    leaf: Option<Tensor>,
}

/// A value an op keeps for its backward pass: the tensor itself, or, with f16 activation
/// storage on (`Gpu::set_f16_activations`), an intermediate value packed as f16 pairs in 32-bit
/// words (shaders/half.wgsl) — half the memory — unpacked to f32 when backward reads it.
pub(crate) enum Saved {
    Kept(Tensor),
    Packed(Packed),
}

pub(crate) struct Packed {
    engine: Rc<Engine>,
    words: Rc<GpuBuffer>,
    shape: Vec<usize>,
    /// Per-channel values subtracted before rounding and added back after (batch norm's
    /// means): `shift[c]` for x[.., c, ..] with `inner` values per channel and image.
    shift: Option<(Rc<GpuBuffer>, usize, usize)>,
}

/// Below this many values a packed copy saves too little to pay for its two dispatches.
const PACK_MIN: usize = 4096;

/// Parameter words of shaders/half.wgsl: count, channels, values per channel and image.
fn half_params(n: usize, shift: &Option<(Rc<GpuBuffer>, usize, usize)>) -> kernel::Half {
    let (c, inner) = shift.as_ref().map_or((1, 1), |s| (s.1, s.2));
    kernel::Half {
        n: n as u32,
        c: c as u32,
        inner: inner as u32,
    }
}

impl Saved {
    /// The saved value as an f32 tensor (contiguous when it was packed).
    pub(crate) fn get(&self) -> Result<Tensor> {
        let p = match self {
            Saved::Kept(t) => return Ok(t.clone()),
            Saved::Packed(p) => p,
        };
        let n: usize = p.shape.iter().product();
        let out = p.engine.output("f16.unpack", &p.shape)?;
        let mut args = vec![
            Arg(kernel::SRC_U32, &p.words),
            Arg(kernel::DST_F32, out.buffer()),
        ];
        if let Some((shift, _, _)) = &p.shift {
            args.push(Arg(kernel::SHIFT, shift));
        }
        p.engine.gpu.run(
            if p.shift.is_some() {
                kernel::UNPACK_CENTRED
            } else {
                kernel::UNPACK
            },
            &(),
            &half_params(n, &p.shift),
            &args,
            n.div_ceil(2).div_ceil(64) as u32,
            Work::new(0.0, 6.0 * n as f64, || format!("{n}")),
        )?;
        Ok(out)
    }
}

pub struct Engine {
    pub gpu: Gpu,
    tape: RefCell<Vec<Node>>,
    grad_enabled: Cell<bool>,
    next_id: Cell<u64>,
}

/// Re-enables gradient recording when dropped.
pub struct NoGradGuard {
    engine: Rc<Engine>,
    prev: bool,
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        self.engine.grad_enabled.set(self.prev);
    }
}

impl Engine {
    pub fn new(opts: &GpuOptions) -> Result<Rc<Engine>> {
        Ok(Self::with_gpu(Gpu::new(opts)?))
    }

    pub fn with_gpu(gpu: Gpu) -> Rc<Engine> {
        Rc::new(Engine {
            gpu,
            tape: RefCell::new(Vec::new()),
            grad_enabled: Cell::new(true),
            next_id: Cell::new(0),
        })
    }

    fn fresh_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Nothing recorded until the guard drops (evaluation, teacher forward passes).
    pub fn no_grad(self: &Rc<Self>) -> NoGradGuard {
        let prev = self.grad_enabled.replace(false);
        NoGradGuard {
            engine: self.clone(),
            prev,
        }
    }

    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled.get()
    }

    /// Number of recorded nodes (saved tensors are held until backward or `clear_tape`).
    pub fn tape_len(&self) -> usize {
        self.tape.borrow().len()
    }

    /// Drop the tape and every tensor it saved.
    pub fn clear_tape(&self) {
        self.tape.borrow_mut().clear();
    }

    /// A constant tensor holding `data`.
    pub fn tensor(self: &Rc<Self>, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return shape_err(
                "tensor",
                format!("{} values for shape {shape:?}", data.len()),
            );
        }
        let buf = self.gpu.upload("tensor", data)?;
        Ok(Tensor::from_buffer(self, buf, shape, false, None))
    }

    pub fn zeros(self: &Rc<Self>, shape: &[usize]) -> Result<Tensor> {
        let n = shape.iter().product();
        let buf = self.gpu.alloc_zeroed("zeros", n)?;
        Ok(Tensor::from_buffer(self, buf, shape, false, None))
    }

    pub fn full(self: &Rc<Self>, shape: &[usize], value: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.tensor(&vec![value; n], shape)
    }

    /// A trainable leaf: its gradient lives in a buffer of the same shape, accumulated by every
    /// backward pass (through any view of it) until `zero_grad`.
    pub fn param(self: &Rc<Self>, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return shape_err(
                "param",
                format!("{} values for shape {shape:?}", data.len()),
            );
        }
        let buf = self.gpu.upload("param", data)?;
        let grad = self.gpu.alloc_zeroed("param.grad", n)?;
        Ok(Tensor::from_buffer(self, buf, shape, true, Some(grad)))
    }

    /// An op's output: contiguous, uninitialised.
    /// Empty outputs are refused: the kernels divide by the sizes of what they write.
    pub(crate) fn output(self: &Rc<Self>, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        let n = shape.iter().product();
        if n == 0 {
            return crate::error::shape_err(op, format!("empty output {shape:?}"));
        }
        let buf = self.gpu.alloc(op, n)?;
        Ok(Tensor::from_buffer(self, buf, shape, false, None))
    }

    /// Keep `x` for a backward pass: packed to f16 when f16 activation storage is on and `x` is
    /// an intermediate value (needs a gradient, not a parameter), contiguous and not tiny; as it
    /// is otherwise (parameters and inputs are held elsewhere anyway).
    pub(crate) fn save(self: &Rc<Self>, x: &Tensor) -> Result<Saved> {
        self.save_shifted(x, None)
    }

    /// `save` for x[N, C, inner…] that is packed as x − shift[c] (batch norm's input with its
    /// channel means, `shift[0..C]`): f16 then rounds the deviations from the mean, which is
    /// what backward's x̂ is made of, rather than x itself (where |mean| ≫ σ, rounding x would
    /// leave little of x − mean).
    pub(crate) fn save_centred(
        self: &Rc<Self>,
        x: &Tensor,
        shift: &Rc<GpuBuffer>,
        channels: usize,
        inner: usize,
    ) -> Result<Saved> {
        self.save_shifted(x, Some((shift.clone(), channels, inner)))
    }

    fn save_shifted(
        self: &Rc<Self>,
        x: &Tensor,
        shift: Option<(Rc<GpuBuffer>, usize, usize)>,
    ) -> Result<Saved> {
        let n = x.numel();
        if !self.gpu.f16_activations()
            || !self.grad_enabled()
            || !x.requires_grad()
            || x.is_leaf_param()
            || !x.is_contiguous()
            || n < PACK_MIN
        {
            return Ok(Saved::Kept(x.clone()));
        }
        let words = self.gpu.alloc("f16.pack", n.div_ceil(2))?;
        let mut args = vec![
            Arg(kernel::SRC_F32, x.buffer()),
            Arg(kernel::DST_U32, &words),
        ];
        if let Some((s, _, _)) = &shift {
            args.push(Arg(kernel::SHIFT, s));
        }
        self.gpu.run(
            if shift.is_some() {
                kernel::PACK_CENTRED
            } else {
                kernel::PACK
            },
            &(),
            &half_params(n, &shift),
            &args,
            n.div_ceil(2).div_ceil(64) as u32,
            Work::new(0.0, 6.0 * n as f64, || format!("{n}")),
        )?;
        Ok(Saved::Packed(Packed {
            engine: self.clone(),
            words,
            shape: x.shape().to_vec(),
            shift,
        }))
    }

    /// Attach `out` to the tape if any input needs a gradient.
    pub(crate) fn record(
        self: &Rc<Self>,
        op: &'static str,
        out: Tensor,
        inputs: &[&Tensor],
        backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Tensor {
        if !self.grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return out;
        }
        let out = out.with_requires_grad();
        self.tape.borrow_mut().push(Node {
            op,
            out: out.id(),
            inputs: inputs
                .iter()
                .map(|t| Input {
                    id: t.id(),
                    shape: t.shape().to_vec(),
                    requires_grad: t.requires_grad(),
                    leaf: t.is_leaf_param().then(|| (*t).clone()),
                })
                .collect(),
            backward: Box::new(backward),
        });
        out
    }

    /// Backpropagate from a scalar: parameter gradients accumulate into their buffers; the whole
    /// tape and its saved tensors are released. Run one forward + backward at a time (gradient
    /// accumulation = several such pairs before the optimizer step).
    pub fn backward(self: &Rc<Self>, loss: &Tensor) -> Result<()> {
        if loss.numel() != 1 {
            return shape_err(
                "backward",
                format!("loss must be a scalar, got {:?}", loss.shape()),
            );
        }
        let on_tape = self.tape.borrow().iter().any(|n| n.out == loss.id());
        if loss.requires_grad() && !loss.is_leaf_param() && !on_tape {
            return Err(Error::Invalid(
                "backward: this loss is not on the tape (an earlier backward released it); run each forward and its backward in turn".into(),
            ));
        }
        let tape = std::mem::take(&mut *self.tape.borrow_mut());
        let _guard = self.no_grad();
        let _d = self.gpu.direction(crate::gpu::Direction::Backward);
        let mut grads: HashMap<u64, Tensor> = HashMap::new();
        grads.insert(loss.id(), self.full(&[1], 1.0)?);
        if loss.grad_buffer().is_some() {
            self.accumulate_into(loss, &grads[&loss.id()])?;
        }
        for node in tape.into_iter().rev() {
            let Some(g) = grads.remove(&node.out) else {
                continue;
            };
            let input_grads = (node.backward)(&g)?;
            if input_grads.len() != node.inputs.len() {
                return Err(Error::Invalid(format!(
                    "{}: backward returned {} gradients for {} inputs",
                    node.op,
                    input_grads.len(),
                    node.inputs.len()
                )));
            }
            for (input, ig) in node.inputs.iter().zip(input_grads) {
                let Some(ig) = ig else { continue };
                if !input.requires_grad {
                    continue;
                }
                if ig.shape() != input.shape {
                    return shape_err(
                        node.op,
                        format!("gradient {:?} for input {:?}", ig.shape(), input.shape),
                    );
                }
                if let Some(leaf) = &input.leaf {
                    self.accumulate_into(leaf, &ig)?;
                } else if let Some(prev) = grads.remove(&input.id) {
                    grads.insert(input.id, prev.add(&ig)?);
                } else {
                    grads.insert(input.id, ig);
                }
            }
        }
        Ok(())
    }

    /// grad_storage[view of `leaf`] += g
    fn accumulate_into(&self, leaf: &Tensor, g: &Tensor) -> Result<()> {
        leaf.grad()
            .expect("a parameter or a view of one")
            .add_assign_view(g)
    }

    /// Set the gradients of these parameters to zero.
    pub fn zero_grad(&self, params: &[Tensor]) {
        for p in params {
            if let Some(g) = p.grad_buffer() {
                self.gpu.clear(g, 0, p.numel());
            }
        }
    }
}
