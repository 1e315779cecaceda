//! The dense layers' products as differentiable ops: `matmul` (2-D, any strides) and `linear`
//! (x·Wᵀ + b), forward and backward, each a call of the batched GEMM of matmul.rs (whose f64
//! references they are tested against).

use super::matmul::{Operand, gemm};
use crate::autograd::Tensor;
use crate::error::{Result, shape_err};
use crate::gpu::Direction;

/// A 2-D view as a GEMM operand: its offset and strides, no batch.
fn operand2(t: &Tensor) -> Operand {
    Operand::new(t.offset(), 0, t.strides()[0], t.strides()[1])
}

impl Tensor {
    /// [M,K]·[K,N] → [M,N]; either side may be a strided view.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), other.shape());
        if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[0] {
            return shape_err("matmul", format!("{sa:?} · {sb:?}"));
        }
        let (m, k, n) = (sa[0], sa[1], sb[1]);
        let e = self.engine().clone();
        let out = e.output("matmul", &[m, n])?;
        let oo = Operand::new(0, 0, n, 1);
        gemm(
            &e,
            (m, n, k, 1),
            (self.buffer(), operand2(self)),
            (other.buffer(), operand2(other)),
            (out.buffer(), oo),
            None,
            false,
            false,
        )?;
        let (a, b) = (self.clone(), other.clone());
        Ok(e.clone().record("matmul", out, &[self, other], move |g| {
            let g = g.contiguous()?;
            let go = Operand::new(0, 0, n, 1).grad();
            let da = if a.requires_grad() {
                let _d = e.gpu.direction(Direction::BackwardData);
                let da = e.output("matmul.da", &[m, k])?;
                gemm(
                    &e,
                    (m, k, n, 1),
                    (g.buffer(), go),
                    (b.buffer(), operand2(&b).t()),
                    (da.buffer(), Operand::new(0, 0, k, 1)),
                    None,
                    false,
                    false,
                )?;
                Some(da)
            } else {
                None
            };
            let db = if b.requires_grad() {
                let _d = e.gpu.direction(Direction::BackwardWeight);
                let db = e.output("matmul.db", &[k, n])?;
                gemm(
                    &e,
                    (k, n, m, 1),
                    (a.buffer(), operand2(&a).t()),
                    (g.buffer(), go),
                    (db.buffer(), Operand::new(0, 0, n, 1)),
                    None,
                    false,
                    false,
                )?;
                Some(db)
            } else {
                None
            };
            Ok(vec![da, db])
        }))
    }

    /// x[N,I]·Wᵀ + b with W[O,I] (any strided view, e.g. an input-channel prefix) and b[O].
    pub fn linear(&self, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let (sx, sw) = (self.shape(), w.shape());
        if sx.len() != 2 || sw.len() != 2 || sx[1] != sw[1] {
            return shape_err("linear", format!("x {sx:?}, weight {sw:?}"));
        }
        let (rows, inp, outp) = (sx[0], sx[1], sw[0]);
        if let Some(b) = bias
            && (b.shape() != [outp] || b.strides() != [1])
        {
            return shape_err("linear", format!("bias {:?} for {outp} outputs", b.shape()));
        }
        let x = self.contiguous()?;
        let e = self.engine().clone();
        let out = e.output("linear", &[rows, outp])?;
        let wo = operand2(w);
        gemm(
            &e,
            (rows, outp, inp, 1),
            (x.buffer(), Operand::new(0, 0, inp, 1)),
            (w.buffer(), wo.t()),
            (out.buffer(), Operand::new(0, 0, outp, 1)),
            bias.map(|b| (b.buffer(), b.offset())),
            false,
            false,
        )?;
        let (xs, ws, has_bias) = (x.clone(), w.clone(), bias.map(|b| b.requires_grad()));
        let mut inputs = vec![&x, w];
        if let Some(b) = bias {
            inputs.push(b);
        }
        Ok(e.clone().record("linear", out, &inputs, move |g| {
            let g = g.contiguous()?;
            let go = Operand::new(0, 0, outp, 1).grad();
            let dx = if xs.requires_grad() {
                let _d = e.gpu.direction(Direction::BackwardData);
                let dx = e.output("linear.dx", &[rows, inp])?;
                gemm(
                    &e,
                    (rows, inp, outp, 1),
                    (g.buffer(), go),
                    (ws.buffer(), wo),
                    (dx.buffer(), Operand::new(0, 0, inp, 1)),
                    None,
                    false,
                    false,
                )?;
                Some(dx)
            } else {
                None
            };
            let dw = if ws.requires_grad() {
                let _d = e.gpu.direction(Direction::BackwardWeight);
                let dw = e.output("linear.dw", &[outp, inp])?;
                gemm(
                    &e,
                    (outp, inp, rows, 1),
                    (g.buffer(), go.t()),
                    (xs.buffer(), Operand::new(0, 0, inp, 1)),
                    (dw.buffer(), Operand::new(0, 0, inp, 1)),
                    None,
                    false,
                    false,
                )?;
                Some(dw)
            } else {
                None
            };
            let mut grads = vec![dx, dw];
            if let Some(needs) = has_bias {
                grads.push(if needs {
                    Some(g.sum_outer(rows, outp, 1)?)
                } else {
                    None
                });
            }
            Ok(grads)
        }))
    }
}
