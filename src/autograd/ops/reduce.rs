//! Reductions: global average pooling, whole-tensor sum and mean, and the helpers that sum
//! gradients over broadcast axes.

use super::u;
use crate::autograd::Tensor;
use crate::error::{Result, shape_err};
use crate::gpu::Arg;
use crate::gpu::Work;
use kernel::Reduce;

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "reduce",
        source: include_str!("../../../shaders/reduce.wgsl"),
    };
    crate::params!(
        /// Row sums, broadcasts and dot products (reduce.wgsl).
        Reduce { a: u32, b: u32, c: u32, alpha: f32 }
    );
    crate::slots!(X = x @ 1, Y = y @ 2, OUT = out @ 3);
    crate::kernels! {
        ROW_SUM_THREAD: Reduce = SHADER::"row_sum_thread";
        ROW_SUM: Reduce = SHADER::"row_sum";
        BROADCAST_ROWS: Reduce = SHADER::"broadcast_rows";
        ROW_DOT: Reduce = SHADER::"row_dot";
        SUM_OUTER: Reduce = SHADER::"sum_outer";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Reduce as Params>::FIELDS,
        flags: &[],
        slots: SLOTS,
        overrides: <() as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

impl Tensor {
    /// Rows of `len` contiguous values → alpha·Σ per row (not recorded).
    fn row_sum_raw(
        &self,
        rows: usize,
        len: usize,
        alpha: f32,
        out_shape: &[usize],
    ) -> Result<Tensor> {
        let x = self.contiguous()?;
        let e = self.engine();
        let out = e.output("row_sum", out_shape)?;
        // Many short rows: a thread each; few long rows: a workgroup each.
        let (kernel, groups) = if len <= 256 && rows >= 64 {
            (kernel::ROW_SUM_THREAD, rows.div_ceil(64))
        } else {
            (kernel::ROW_SUM, rows)
        };
        e.gpu.run(
            kernel,
            &(),
            &Reduce {
                a: u(rows),
                b: 0,
                c: u(len),
                alpha,
            },
            &[Arg(kernel::X, x.buffer()), Arg(kernel::OUT, out.buffer())],
            groups as u32,
            Work::new((rows * len) as f64, 4.0 * (rows * (len + 1)) as f64, || {
                format!("{rows}×{len}")
            }),
        )?;
        Ok(out)
    }

    /// out[i] = alpha · x[i / len], an `out_shape` tensor (not recorded).
    fn broadcast_raw(&self, len: usize, alpha: f32, out_shape: &[usize]) -> Result<Tensor> {
        let x = self.contiguous()?;
        let e = self.engine();
        let out = e.output("broadcast", out_shape)?;
        let n = out.numel();
        e.gpu.run(
            kernel::BROADCAST_ROWS,
            &(),
            &Reduce {
                a: u(x.numel()),
                b: 0,
                c: u(len),
                alpha,
            },
            &[Arg(kernel::X, x.buffer()), Arg(kernel::OUT, out.buffer())],
            n.div_ceil(256) as u32,
            Work::new(n as f64, 4.0 * (x.numel() + n) as f64, || {
                format!("{}→{n}", x.numel())
            }),
        )?;
        Ok(out)
    }

    /// Per-row dot products of two tensors of the same size, shaped `out_shape` (not recorded).
    pub(crate) fn row_dot(&self, other: &Tensor, out_shape: &[usize]) -> Result<Tensor> {
        let (a, b) = (self.contiguous()?, other.contiguous()?);
        let rows: usize = out_shape.iter().product();
        let len = a.numel() / rows;
        let e = self.engine();
        let out = e.output("row_dot", out_shape)?;
        e.gpu.run(
            kernel::ROW_DOT,
            &(),
            &Reduce {
                a: u(rows),
                b: 0,
                c: u(len),
                alpha: 1.0,
            },
            &[
                Arg(kernel::X, a.buffer()),
                Arg(kernel::Y, b.buffer()),
                Arg(kernel::OUT, out.buffer()),
            ],
            rows as u32,
            Work::new(
                2.0 * (rows * len) as f64,
                4.0 * (2 * rows * len + rows) as f64,
                || format!("{rows}×{len}"),
            ),
        )?;
        Ok(out)
    }

    /// x viewed as [a,b,c] → Σ over a and c, shape [b] (bias gradients; not recorded).
    pub(crate) fn sum_outer(&self, a: usize, b: usize, c: usize) -> Result<Tensor> {
        let x = self.contiguous()?;
        let e = self.engine();
        let out = e.output("sum_outer", &[b])?;
        e.gpu.run(
            kernel::SUM_OUTER,
            &(),
            &Reduce {
                a: u(a),
                b: u(b),
                c: u(c),
                alpha: 1.0,
            },
            &[Arg(kernel::X, x.buffer()), Arg(kernel::OUT, out.buffer())],
            b as u32,
            Work::new((a * b * c) as f64, 4.0 * (a * b * c + b) as f64, || {
                format!("{a}×{b}×{c}")
            }),
        )?;
        Ok(out)
    }

    /// [N,C,H,W] → [N,C], the mean over H·W.
    pub fn global_avg_pool(&self) -> Result<Tensor> {
        let s = self.shape().to_vec();
        if s.len() != 4 {
            return shape_err("global_avg_pool", format!("x {s:?}: need [N, C, H, W]"));
        }
        let hw = s[2] * s[3];
        let out = self.row_sum_raw(s[0] * s[1], hw, 1.0 / hw as f32, &s[..2])?;
        let e = self.engine().clone();
        Ok(e.record("global_avg_pool", out, &[self], move |g| {
            Ok(vec![Some(g.broadcast_raw(hw, 1.0 / hw as f32, &s)?)])
        }))
    }

    fn reduce_all(&self, alpha: f32, op: &'static str) -> Result<Tensor> {
        let n = self.numel();
        let out = self.row_sum_raw(1, n, alpha, &[1])?;
        let shape = self.shape().to_vec();
        let e = self.engine().clone();
        Ok(e.record(op, out, &[self], move |g| {
            Ok(vec![Some(g.broadcast_raw(n, alpha, &shape)?)])
        }))
    }

    /// Σ of every element, shape [1].
    pub fn sum(&self) -> Result<Tensor> {
        self.reduce_all(1.0, "sum")
    }

    /// Mean of every element, shape [1].
    pub fn mean(&self) -> Result<Tensor> {
        self.reduce_all(1.0 / self.numel() as f32, "mean")
    }
}
