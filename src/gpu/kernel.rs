//! Typed kernels: each shader's uniform block `struct P` is a `#[repr(C)]` Pod struct here, each
//! entry point a `Kernel<P>` constant tying it to the parameters it reads, and each flag the
//! shaders test is defined here once. A test (tests/kernels.rs) parses the WGSL and holds the
//! two sides equal: field names, types and order, flag values, and every entry point's existence.

use std::marker::PhantomData;

/// A shader's uniform parameters (its `struct P`).
pub trait Params: bytemuck::Pod {
    /// The WGSL file that declares `struct P`.
    const WGSL: &'static str;
    /// (name, type) of each field, in order.
    const FIELDS: &'static [(&'static str, &'static str)];
}

macro_rules! params {
    ($(#[$m:meta])* $name:ident in $wgsl:literal { $($f:ident : $t:ident),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $(pub $f: $t),*
        }
        impl Params for $name {
            const WGSL: &'static str = $wgsl;
            const FIELDS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($f), stringify!($t))),*];
        }
        const _: () = assert!(
            std::mem::size_of::<$name>() <= super::batch::PARAM_BYTES as usize,
            "parameters larger than a dispatch's uniform block"
        );
    };
}

params!(
    /// Batched strided GEMM (matmul.wgsl, and matmul_f16.wgsl appended to it).
    Matmul in "matmul.wgsl" {
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
params!(
    /// Dense and grouped convolutions, im2col (conv.wgsl).
    Conv in "conv.wgsl" {
        n: u32, cin: u32, h: u32, w: u32,
        cout: u32, oh: u32, ow: u32, groups: u32,
        kh: u32, kw: u32, stride: u32, pad: u32,
        w_off: u32, w_s0: u32, w_s1: u32, w_s2: u32,
        w_s3: u32,
    }
);
params!(
    /// Strided views gathered and scattered (copy.wgsl).
    Copy in "copy.wgsl" {
        len: u32, off: u32, d1: u32, d2: u32,
        d3: u32, s0: u32, s1: u32, s2: u32,
        s3: u32,
    }
);
params!(
    /// Depthwise convolution (depthwise.wgsl).
    Depthwise in "depthwise.wgsl" {
        n: u32, c: u32, h: u32, w: u32,
        oh: u32, ow: u32, pad: u32, split: u32,
        w_off: u32, w_sc: u32, w_sy: u32, w_sx: u32,
    }
);
params!(
    /// Elementwise arithmetic and activations (elementwise.wgsl).
    Elementwise in "elementwise.wgsl" { len: u32, hw: u32, alpha: f32 }
);
params!(
    /// f16 storage of saved activations (half.wgsl).
    Half in "half.wgsl" { n: u32, c: u32, inner: u32 }
);
params!(
    /// Losses and softmax (loss.wgsl).
    Loss in "loss.wgsl" { n: u32, k: u32, soft: u32, eps: f32, scale: f32 }
);
params!(
    /// Batch norm (norm.wgsl).
    Norm in "norm.wgsl" {
        n: u32, c: u32, hw: u32, flags: u32,
        eps: f32, momentum: f32,
    }
);
params!(
    /// SGD and Adam (optim.wgsl).
    Optim in "optim.wgsl" {
        len: u32, flags: u32, lr: f32, momentum: f32,
        weight_decay: f32, beta1: f32, beta2: f32, eps: f32,
        bias_corr1: f32, bias_corr2: f32,
    }
);
params!(
    /// Row sums, broadcasts and dot products (reduce.wgsl).
    Reduce in "reduce.wgsl" { a: u32, b: u32, c: u32, alpha: f32 }
);

/// An entry point of a shader, typed by the parameters it reads.
pub struct Kernel<P: Params> {
    /// The shader module (`gpu::pipelines::shader_source`).
    pub shader: &'static str,
    pub entry: &'static str,
    params: PhantomData<P>,
}

impl<P: Params> Clone for Kernel<P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Params> std::marker::Copy for Kernel<P> {}

impl<P: Params> Kernel<P> {
    pub const fn new(shader: &'static str, entry: &'static str) -> Kernel<P> {
        Kernel {
            shader,
            entry,
            params: PhantomData,
        }
    }
}

macro_rules! kernels {
    ($($name:ident: $p:ident = $shader:literal :: $entry:literal;)*) => {
        $(pub const $name: Kernel<$p> = Kernel::new($shader, $entry);)*
        /// (shader, entry, WGSL file of its parameters) of every kernel.
        pub const ALL: &[(&str, &str, &str)] = &[$(($shader, $entry, <$p as Params>::WGSL)),*];
    };
}

kernels! {
    MATMUL: Matmul = "matmul"::"matmul";
    MATMUL_F16: Matmul = "matmul_f16"::"matmul_f16";
    MATMUL_SUM_PARTS: Matmul = "matmul"::"matmul_sum_parts";
    CONV_FORWARD: Conv = "conv"::"conv_forward";
    CONV_BACKWARD_DATA: Conv = "conv"::"conv_backward_data";
    CONV_BACKWARD_WEIGHT: Conv = "conv"::"conv_backward_weight";
    IM2COL: Conv = "conv"::"im2col";
    GATHER: Copy = "copy"::"gather";
    SCATTER_ADD: Copy = "copy"::"scatter_add";
    DW_FORWARD: Depthwise = "depthwise"::"dw_forward";
    DW_BACKWARD_DATA: Depthwise = "depthwise"::"dw_backward_data";
    DW_BACKWARD_WEIGHT: Depthwise = "depthwise"::"dw_backward_weight";
    DW_WEIGHT_SUM: Depthwise = "depthwise"::"dw_weight_sum";
    ACT_FORWARD: Elementwise = "elementwise"::"act_forward";
    ACT_BACKWARD: Elementwise = "elementwise"::"act_backward";
    ADD: Elementwise = "elementwise"::"add";
    MUL_CHANNEL: Elementwise = "elementwise"::"mul_channel";
    SCALE: Elementwise = "elementwise"::"scale";
    PACK: Half = "half"::"pack";
    UNPACK: Half = "half"::"unpack";
    PACK_CENTRED: Half = "half"::"pack_centred";
    UNPACK_CENTRED: Half = "half"::"unpack_centred";
    CE_FORWARD: Loss = "loss"::"ce_forward";
    CE_BACKWARD: Loss = "loss"::"ce_backward";
    MSE_FORWARD: Loss = "loss"::"mse_forward";
    MSE_BACKWARD: Loss = "loss"::"mse_backward";
    SOFTMAX: Loss = "loss"::"softmax";
    BN_STATS_THREAD: Norm = "norm"::"bn_stats_thread";
    BN_STATS: Norm = "norm"::"bn_stats";
    BN_APPLY: Norm = "norm"::"bn_apply";
    BN_BACKWARD_REDUCE_THREAD: Norm = "norm"::"bn_backward_reduce_thread";
    BN_BACKWARD_REDUCE: Norm = "norm"::"bn_backward_reduce";
    BN_BACKWARD_DATA: Norm = "norm"::"bn_backward_data";
    SGD: Optim = "optim"::"sgd";
    ADAM: Optim = "optim"::"adam";
    ROW_SUM_THREAD: Reduce = "reduce"::"row_sum_thread";
    ROW_SUM: Reduce = "reduce"::"row_sum";
    BROADCAST_ROWS: Reduce = "reduce"::"broadcast_rows";
    ROW_DOT: Reduce = "reduce"::"row_dot";
    SUM_OUTER: Reduce = "reduce"::"sum_outer";
}

/// Flags the shaders test, defined once here; (WGSL file, name, value) of each for the test
/// that holds the shaders' `const`s equal to them.
pub mod flags {
    /// matmul.wgsl `flags`.
    pub const ACCUMULATE: u32 = 1;
    pub const REDUCE_BATCH: u32 = 2;
    pub const BIAS_COL: u32 = 4;
    /// norm.wgsl `flags`.
    pub const TRAIN: u32 = 1;
    pub const UPDATE_RUNNING: u32 = 2;
    /// optim.wgsl `flags`.
    pub const NESTEROV: u32 = 1;
    /// activation.wgsl: the `ACT` of a pipeline without an activation.
    pub const ACT_NONE: u32 = 99;

    pub const ALL: &[(&str, &str, u32)] = &[
        ("matmul.wgsl", "ACCUMULATE", ACCUMULATE),
        ("matmul.wgsl", "REDUCE_BATCH", REDUCE_BATCH),
        ("matmul.wgsl", "BIAS_COL", BIAS_COL),
        ("norm.wgsl", "TRAIN", TRAIN),
        ("norm.wgsl", "UPDATE_RUNNING", UPDATE_RUNNING),
        ("optim.wgsl", "NESTEROV", NESTEROV),
        ("activation.wgsl", "ACT_NONE", ACT_NONE),
    ];
}

/// (WGSL file, fields) of every parameter struct, for the test against the shaders.
pub fn layouts() -> Vec<(&'static str, &'static [(&'static str, &'static str)])> {
    fn l<P: Params>() -> (&'static str, &'static [(&'static str, &'static str)]) {
        (P::WGSL, P::FIELDS)
    }
    vec![
        l::<Matmul>(),
        l::<Conv>(),
        l::<Copy>(),
        l::<Depthwise>(),
        l::<Elementwise>(),
        l::<Half>(),
        l::<Loss>(),
        l::<Norm>(),
        l::<Optim>(),
        l::<Reduce>(),
    ]
}
