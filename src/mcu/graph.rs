//! A network description expanded into the ops an MCU runtime executes (activations fused into
//! their convolutions), each with shapes, MACs, parameters and int8 tensor bytes.

use super::net::{Network, conv_out};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Conv,
    Depthwise,
    Pointwise,
    /// Squeeze-and-excite: global pool of the depthwise output.
    SePool,
    /// Squeeze-and-excite fully connected layer.
    SeFc,
    /// Squeeze-and-excite channel scaling.
    SeMul,
    Add,
    Pool,
    Linear,
}

/// An activation tensor: height × width × channels int8 values.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TensorInfo {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl TensorInfo {
    pub fn bytes(&self) -> u64 {
        (self.h * self.w * self.c) as u64
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Op {
    pub name: String,
    pub kind: OpKind,
    /// The block this op belongs to, if any.
    pub block: Option<usize>,
    pub kernel_size: usize,
    pub stride: usize,
    pub inputs: Vec<usize>,
    pub output: usize,
    pub macs: u64,
    /// Weights + one bias per output channel (batch norm folded in).
    pub params: u64,
    /// Flash: int8 weights + 4-byte bias + 4-byte per-channel scale.
    pub weight_bytes: u64,
    /// For ops inside a residual block: the block's input, held until the add.
    pub residual: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub tensors: Vec<TensorInfo>,
    pub ops: Vec<Op>,
}

struct Builder {
    g: Graph,
    residual: Option<usize>,
}

impl Builder {
    fn tensor(&mut self, h: usize, w: usize, c: usize) -> usize {
        self.g.tensors.push(TensorInfo { h, w, c });
        self.g.tensors.len() - 1
    }

    #[allow(clippy::too_many_arguments)]
    fn op(
        &mut self,
        name: String,
        kind: OpKind,
        block: Option<usize>,
        k: usize,
        s: usize,
        inputs: Vec<usize>,
        out: TensorInfo,
        weights: u64,
        cout: usize,
        macs: u64,
    ) -> usize {
        let output = self.tensor(out.h, out.w, out.c);
        let has_bias = !matches!(
            kind,
            OpKind::Add | OpKind::Pool | OpKind::SePool | OpKind::SeMul
        );
        let (params, weight_bytes) = if has_bias {
            (weights + cout as u64, weights + 8 * cout as u64)
        } else {
            (0, 0)
        };
        self.g.ops.push(Op {
            name,
            kind,
            block,
            kernel_size: k,
            stride: s,
            inputs,
            output,
            macs,
            params,
            weight_bytes,
            residual: self.residual,
        });
        output
    }

    /// A convolution of `x` (regular, depthwise or pointwise).
    fn conv(
        &mut self,
        name: String,
        block: Option<usize>,
        x: usize,
        cout: usize,
        k: usize,
        s: usize,
        depthwise: bool,
    ) -> usize {
        let t = self.g.tensors[x];
        let (oh, ow) = (conv_out(t.h, k, s), conv_out(t.w, k, s));
        let kind = if depthwise {
            OpKind::Depthwise
        } else if k == 1 && s == 1 {
            OpKind::Pointwise
        } else {
            OpKind::Conv
        };
        let per_out = if depthwise {
            (k * k) as u64
        } else {
            (k * k * t.c) as u64
        };
        let weights = per_out * cout as u64;
        let macs = (oh * ow * cout) as u64 * per_out;
        self.op(
            name,
            kind,
            block,
            k,
            s,
            vec![x],
            TensorInfo {
                h: oh,
                w: ow,
                c: cout,
            },
            weights,
            cout,
            macs,
        )
    }
}

pub fn build(net: &Network) -> Graph {
    let mut b = Builder {
        g: Graph {
            tensors: Vec::new(),
            ops: Vec::new(),
        },
        residual: None,
    };
    let r = net.input.resolution;
    let input = b.tensor(r, r, net.input.channels);
    let mut x = b.conv(
        "stem".into(),
        None,
        input,
        net.stem.out_channels,
        net.stem.kernel_size,
        net.stem.stride,
        false,
    );
    for (i, blk) in net.blocks.iter().enumerate() {
        let block_in = x;
        let mid = blk.mid();
        b.residual = blk.has_residual().then_some(block_in);
        let mut h = x;
        if blk.expand_ratio != 1 {
            h = b.conv(format!("blocks.{i}.expand"), Some(i), h, mid, 1, 1, false);
        }
        h = b.conv(
            format!("blocks.{i}.depthwise"),
            Some(i),
            h,
            mid,
            blk.kernel_size,
            blk.stride,
            true,
        );
        if let Some(se) = blk.se_channels {
            let t = b.g.tensors[h];
            let pooled = b.op(
                format!("blocks.{i}.se.pool"),
                OpKind::SePool,
                Some(i),
                1,
                1,
                vec![h],
                TensorInfo { h: 1, w: 1, c: mid },
                0,
                0,
                (t.h * t.w * mid) as u64,
            );
            let s1 = b.op(
                format!("blocks.{i}.se.reduce"),
                OpKind::SeFc,
                Some(i),
                1,
                1,
                vec![pooled],
                TensorInfo { h: 1, w: 1, c: se },
                (mid * se) as u64,
                se,
                (mid * se) as u64,
            );
            let s2 = b.op(
                format!("blocks.{i}.se.expand"),
                OpKind::SeFc,
                Some(i),
                1,
                1,
                vec![s1],
                TensorInfo { h: 1, w: 1, c: mid },
                (mid * se) as u64,
                mid,
                (mid * se) as u64,
            );
            h = b.op(
                format!("blocks.{i}.se.mul"),
                OpKind::SeMul,
                Some(i),
                1,
                1,
                vec![h, s2],
                t,
                0,
                0,
                t.bytes(),
            );
        }
        h = b.conv(
            format!("blocks.{i}.project"),
            Some(i),
            h,
            blk.out_channels,
            1,
            1,
            false,
        );
        if blk.has_residual() {
            let t = b.g.tensors[h];
            h = b.op(
                format!("blocks.{i}.add"),
                OpKind::Add,
                Some(i),
                1,
                1,
                vec![h, block_in],
                t,
                0,
                0,
                0,
            );
        }
        b.residual = None;
        x = h;
    }
    if let Some(m) = net.feature_mix_channels {
        x = b.conv("feature_mix".into(), None, x, m, 1, 1, false);
    }
    let t = b.g.tensors[x];
    let pooled = b.op(
        "pool".into(),
        OpKind::Pool,
        None,
        1,
        1,
        vec![x],
        TensorInfo { h: 1, w: 1, c: t.c },
        0,
        0,
        t.bytes(),
    );
    b.op(
        "classifier".into(),
        OpKind::Linear,
        None,
        1,
        1,
        vec![pooled],
        TensorInfo {
            h: 1,
            w: 1,
            c: net.classes,
        },
        (t.c * net.classes) as u64,
        net.classes,
        (t.c * net.classes) as u64,
    );
    b.g
}

impl Graph {
    pub fn macs(&self) -> u64 {
        self.ops.iter().map(|o| o.macs).sum()
    }
    pub fn params(&self) -> u64 {
        self.ops.iter().map(|o| o.params).sum()
    }
    pub fn weight_bytes(&self) -> u64 {
        self.ops.iter().map(|o| o.weight_bytes).sum()
    }
    pub fn bytes(&self, t: usize) -> u64 {
        self.tensors[t].bytes()
    }
}
