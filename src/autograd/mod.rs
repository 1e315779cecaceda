//! GPU tensors and a tape-based autograd. Every op records one node holding its inputs and a
//! backward closure written beside its forward; `backward` walks the tape in reverse.

pub mod ops;
mod tensor;

pub use tensor::Tensor;

use crate::error::{Error, Result, shape_err};
use crate::gpu::{Gpu, GpuOptions};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

type BackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>>;

struct Node {
    op: &'static str,
    out: u64,
    inputs: Vec<Tensor>,
    backward: BackwardFn,
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
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
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
                if !input.requires_grad() {
                    continue;
                }
                if ig.shape() != input.shape() {
                    return shape_err(
                        node.op,
                        format!("gradient {:?} for input {:?}", ig.shape(), input.shape()),
                    );
                }
                if input.is_leaf_param() {
                    self.accumulate_into(input, &ig)?;
                } else if let Some(prev) = grads.remove(&input.id()) {
                    grads.insert(input.id(), prev.add(&ig)?);
                } else {
                    grads.insert(input.id(), ig);
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
