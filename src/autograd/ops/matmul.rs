//! The batched strided GEMM that `matmul` and `linear` (dense.rs) and the pointwise convolution
//! (conv.rs) share: its kernels, the launcher that picks vector loads, f16 and batch splitting,
//! and the f64 references of the matrix products.

use super::u;
use crate::autograd::Engine;
use crate::error::Result;
use crate::gpu::{Arg, GpuBuffer, Work};
use kernel::{ACCUMULATE, BIAS_COL, Matmul, REDUCE_BATCH};

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "matmul",
        source: include_str!("../../../shaders/matmul.wgsl"),
    };
    pub const SHADER_F16: Shader = Shader {
        name: "matmul_f16",
        source: concat!(
            "enable f16;\n",
            include_str!("../../../shaders/matmul.wgsl"),
            include_str!("../../../shaders/matmul_f16.wgsl")
        ),
    };
    crate::params!(
        /// Batched strided GEMM (matmul.wgsl; matmul_f16.wgsl appended to it where the adapter has
        /// shader-f16).
        Matmul {
            m: u32, n: u32, k: u32, batch: u32,
            a_off: u32, a_sb: u32, a_sm: u32, a_sk: u32,
            b_off: u32, b_sb: u32, b_sk: u32, b_sn: u32,
            c_off: u32, c_sb: u32, c_sm: u32, c_sn: u32,
            flags: u32, bias_off: u32,
            scale_a: f32, scale_b: f32,
            n_in: u32,
            chunk: u32,
        }
    );
    crate::overrides!(
        /// Vector widths of the A and B loads (`VA`, `VB`: 0 scalar, 4 vec4).
        MatmulConsts { va = VA, vb = VB }
    );
    /// `flags`: add to C instead of overwriting it.
    pub const ACCUMULATE: u32 = 1;
    /// `flags`: sum the batch into one C.
    pub const REDUCE_BATCH: u32 = 2;
    /// `flags`: add a bias per column.
    pub const BIAS_COL: u32 = 4;
    crate::slots!(A = a @ 1, B = b @ 2, C = c @ 3, BIAS = bias @ 4, A4 = a4 @ 5, B4 = b4 @ 6);
    crate::kernels! {
        MATMUL: Matmul, MatmulConsts = SHADER::"matmul";
        MATMUL_F16: Matmul, MatmulConsts = SHADER_F16::"matmul_f16";
        MATMUL_SUM_PARTS: Matmul = SHADER::"matmul_sum_parts";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER, &SHADER_F16],
        params: <Matmul as Params>::FIELDS,
        flags: &[
            ("ACCUMULATE", ACCUMULATE),
            ("REDUCE_BATCH", REDUCE_BATCH),
            ("BIAS_COL", BIAS_COL),
        ],
        slots: SLOTS,
        overrides: <MatmulConsts as Overrides>::NAMES,
        kernels: KERNELS,
    };
}

/// Element offsets and strides of one GEMM operand: (offset, batch, row, col).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operand {
    pub off: usize,
    pub sb: usize,
    pub sr: usize,
    pub sc: usize,
    /// An incoming gradient: scaled up before f16 rounding (see GRAD_SCALE).
    pub grad: bool,
}

/// f16 GEMMs multiply gradient operands by this power of two before rounding them to f16 (and
/// divide the result by it): gradients of ~1e-7…1e-2 land in f16's normal range instead of
/// underflowing, far from its 65,504 maximum. The same idea as AMP's loss scaling, per GEMM.
const GRAD_SCALE: f32 = 256.0;

impl Operand {
    pub fn new(off: usize, sb: usize, sr: usize, sc: usize) -> Operand {
        Operand {
            off,
            sb,
            sr,
            sc,
            grad: false,
        }
    }
    /// Mark as an incoming gradient.
    pub fn grad(self) -> Operand {
        Operand { grad: true, ..self }
    }
    /// Swap rows and columns.
    pub fn t(self) -> Operand {
        Operand {
            sr: self.sc,
            sc: self.sr,
            ..self
        }
    }
}

const TILE: usize = 32;
/// Sums over the batch with fewer output tiles than this are split (see `gemm`).
const SPLIT_BELOW: usize = 16;

/// C[b] = A[b]·B[b] for b < batch, or with `reduce_batch` C = Σ_b A[b]·B[b]; C[M,N], K inner.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    e: &Engine,
    (m, n, k, batch): (usize, usize, usize, usize),
    (a, ao): (&GpuBuffer, Operand),
    (b, bo): (&GpuBuffer, Operand),
    (c, co): (&GpuBuffer, Operand),
    bias: Option<(&GpuBuffer, usize)>,
    reduce_batch: bool,
    accumulate: bool,
) -> Result<()> {
    let mut flags = 0;
    if accumulate {
        flags |= ACCUMULATE;
    }
    if reduce_batch {
        flags |= REDUCE_BATCH;
    }
    if bias.is_some() {
        flags |= BIAS_COL;
    }
    let (bias_buf, bias_off) = bias.unwrap_or((a, 0));
    // A sum over the batch with few output tiles (a weight gradient of 8x16) is split into
    // chunks of the batch, each summed by its own workgroups into a scratch slab, then the slabs
    // are added up: otherwise one or two workgroups would walk all 64 images alone.
    let tiles = m.div_ceil(TILE) * n.div_ceil(TILE);
    let chunk = if reduce_batch && bias.is_none() && tiles < SPLIT_BELOW && batch >= 4 {
        batch.div_ceil(SPLIT_BELOW.div_ceil(tiles).min(batch))
    } else {
        0
    };
    let chunks = if chunk > 0 { batch.div_ceil(chunk) } else { 1 };
    let parts = if chunk > 0 {
        Some(e.gpu.alloc("gemm.parts", chunks * m * n)?)
    } else {
        None
    };
    // Where the GEMM itself writes: C, or the slabs [chunks, m, n].
    let (out, oo, out_flags) = match &parts {
        Some(buf) => (&**buf, Operand::new(0, m * n, n, 1), flags & !ACCUMULATE),
        None => (c, co, flags),
    };
    // A batch that shares A (a pointwise convolution's weights) is folded into the columns: one
    // GEMM with batch·n columns, whose tiles stay full when n is small (a 2x2 or 4x4 feature map).
    // Vector loads along n then need every entry's columns to start on a 4-element boundary.
    let fold = batch > 1 && ao.sb == 0 && !reduce_batch && n % TILE != 0;
    let (cols, entries) = if fold { (batch * n, 1) } else { (n, batch) };
    let groups =
        m.div_ceil(TILE) * cols.div_ceil(TILE) * if reduce_batch { chunks } else { entries };
    // Costs for the profiler: 2·m·n·k per batch entry; each operand read once (a zero batch
    // stride is a broadcast), the output written once (and read when accumulating).
    let per = |sb: usize| if sb == 0 { 1.0 } else { batch as f64 };
    let outs = (m * n) as f64 * if reduce_batch { 1.0 } else { batch as f64 };
    let (va, vb) = if e.gpu.vector_loads() {
        let vb = vector_b(&bo);
        (
            vector_a(&ao),
            if fold && vb == 1 && n % 4 != 0 { 0 } else { vb },
        )
    } else {
        (0, 0)
    };
    let kernel = if e.gpu.f16_gemm() {
        kernel::MATMUL_F16
    } else {
        kernel::MATMUL
    };
    let scale = |o: &Operand| if o.grad { GRAD_SCALE } else { 1.0 };
    e.gpu.run(
        kernel,
        &kernel::MatmulConsts {
            va: Some(va),
            vb: Some(vb),
        },
        &Matmul {
            m: u(m),
            n: u(cols),
            k: u(k),
            batch: u(entries),
            a_off: u(ao.off),
            a_sb: u(ao.sb),
            a_sm: u(ao.sr),
            a_sk: u(ao.sc),
            b_off: u(bo.off),
            b_sb: u(bo.sb),
            b_sk: u(bo.sr),
            b_sn: u(bo.sc),
            c_off: u(oo.off),
            c_sb: u(oo.sb),
            c_sm: u(oo.sr),
            c_sn: u(oo.sc),
            flags: out_flags,
            bias_off: u(bias_off),
            scale_a: scale(&ao),
            scale_b: scale(&bo),
            n_in: u(n),
            chunk: u(chunk),
        },
        &[
            Arg(kernel::A, a),
            Arg(kernel::B, b),
            Arg(kernel::C, out),
            Arg(kernel::BIAS, bias_buf),
            Arg(kernel::A4, a),
            Arg(kernel::B4, b),
        ],
        groups as u32,
        Work::new(
            2.0 * (m * n * k * batch) as f64,
            4.0 * ((m * k) as f64 * per(ao.sb)
                + (k * n) as f64 * per(bo.sb)
                + outs * if accumulate { 2.0 } else { 1.0 }),
            || {
                let b = if reduce_batch { "Σ" } else { "×" };
                format!("{m}×{k}·{k}×{n} {b}{batch}")
            },
        ),
    )?;
    if let Some(parts) = &parts {
        let mn = m * n;
        e.gpu.run(
            kernel::MATMUL_SUM_PARTS,
            &(),
            &Matmul {
                m: u(m),
                n: u(n),
                batch: u(chunks),
                c_off: u(co.off),
                c_sb: u(co.sb),
                c_sm: u(co.sr),
                c_sn: u(co.sc),
                flags,
                n_in: u(n),
                ..Matmul::default()
            },
            &[Arg(kernel::A, parts), Arg(kernel::C, c)],
            mn.div_ceil(64) as u32,
            Work::new(
                (chunks * mn) as f64,
                4.0 * ((chunks + if accumulate { 2 } else { 1 }) * mn) as f64,
                || format!("{chunks}×{m}×{n}"),
            ),
        )?;
    }
    Ok(())
}

/// Whether every start the kernel reads 4 at a time is a multiple of 4 elements (16 bytes).
fn aligned(v: &[usize]) -> bool {
    v.iter().all(|x| x % 4 == 0)
}

/// matmul.wgsl's VA: 2 when A's rows are contiguous along k, 1 when its columns are contiguous
/// along m, 0 (scalar loads) otherwise.
fn vector_a(o: &Operand) -> u32 {
    if o.sc == 1 && aligned(&[o.off, o.sb, o.sr]) {
        2
    } else if o.sr == 1 && aligned(&[o.off, o.sb, o.sc]) {
        1
    } else {
        0
    }
}

/// matmul.wgsl's VB: 2 when B's columns are contiguous along k, 1 when its rows are contiguous
/// along n, 0 otherwise.
fn vector_b(o: &Operand) -> u32 {
    if o.sr == 1 && aligned(&[o.off, o.sb, o.sc]) {
        2
    } else if o.sc == 1 && aligned(&[o.off, o.sb, o.sr]) {
        1
    } else {
        0
    }
}

/// f64 CPU references.
pub mod reference {
    /// a[M,K]·b[K,N]
    pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for p in 0..k {
                let av = a[i * k + p];
                for j in 0..n {
                    c[i * n + j] += av * b[p * n + j];
                }
            }
        }
        c
    }

    pub fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    /// y = x·Wᵀ + b; x[N,I], w[O,I].
    pub fn linear(
        x: &[f64],
        w: &[f64],
        b: Option<&[f64]>,
        n: usize,
        i: usize,
        o: usize,
    ) -> Vec<f64> {
        let mut y = matmul(x, &transpose(w, o, i), n, i, o);
        if let Some(b) = b {
            for r in 0..n {
                for c in 0..o {
                    y[r * o + c] += b[c];
                }
            }
        }
        y
    }

    /// (dx, dw, db) of `linear`.
    pub fn linear_backward(
        x: &[f64],
        w: &[f64],
        dy: &[f64],
        n: usize,
        i: usize,
        o: usize,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let dx = matmul(dy, w, n, o, i);
        let dw = matmul(&transpose(dy, n, o), x, o, n, i);
        let mut db = vec![0.0; o];
        for r in 0..n {
            for c in 0..o {
                db[c] += dy[r * o + c];
            }
        }
        (dx, dw, db)
    }
}
