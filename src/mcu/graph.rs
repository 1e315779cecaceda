//! A network description expanded into the ops an MCU runtime executes (activations fused into
//! their convolutions), each with shapes, MACs, parameters and int8 tensor bytes.

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
    /// PAD before a stride-2 convolution, in the TFLite graph (see `tflite_pad`).
    Pad,
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

/// The part of an inverted-bottleneck block an op is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Expand,
    Depthwise,
    SePool,
    SeReduce,
    SeExpand,
    SeMul,
    Project,
    Add,
    /// The PAD before the depthwise convolution (TFLite graph only).
    Pad,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Expand => "expand",
            Part::Depthwise => "depthwise",
            Part::SePool => "se.pool",
            Part::SeReduce => "se.reduce",
            Part::SeExpand => "se.expand",
            Part::SeMul => "se.mul",
            Part::Project => "project",
            Part::Add => "add",
            Part::Pad => "depthwise.pad",
        }
    }
}

/// Which layer an op is, without allocating its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpName {
    Stem,
    /// The PAD before the stem (TFLite graph only).
    StemPad,
    Block(usize, Part),
    FeatureMix,
    Pool,
    Classifier,
}

impl std::fmt::Display for OpName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpName::Stem => write!(f, "stem"),
            OpName::StemPad => write!(f, "stem.pad"),
            OpName::Block(i, part) => write!(f, "blocks.{i}.{}", part.name()),
            OpName::FeatureMix => write!(f, "feature_mix"),
            OpName::Pool => write!(f, "pool"),
            OpName::Classifier => write!(f, "classifier"),
        }
    }
}

/// One op as the walker emits it: tensors are numbered 0 (the input), then one per op output.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    pub name: OpName,
    pub kind: OpKind,
    pub block: Option<usize>,
    pub kernel_size: usize,
    pub stride: usize,
    pub inputs: [usize; 2],
    pub n_inputs: usize,
    pub input: TensorInfo,
    pub output: usize,
    pub out: TensorInfo,
    pub macs: u64,
    pub params: u64,
    pub weight_bytes: u64,
    pub residual: Option<usize>,
}

impl OpInfo {
    pub fn inputs(&self) -> &[usize] {
        &self.inputs[..self.n_inputs]
    }
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
