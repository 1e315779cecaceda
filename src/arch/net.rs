//! The network description (JSON, serde) of a MobileNet-style classifier, its validation, and
//! the channel rounding (a subnet's network is built in `super::subnet`).

use crate::error::{Document, Error, Result};
use crate::io::parse_json;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub resolution: usize,
    pub channels: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stem {
    pub out_channels: usize,
    #[serde(default = "three")]
    pub kernel_size: usize,
    #[serde(default = "two")]
    pub stride: usize,
}

fn three() -> usize {
    3
}
fn two() -> usize {
    2
}
fn one() -> usize {
    1
}

/// An inverted-bottleneck block: [1×1 expand] → k×k depthwise → [SE] → 1×1 project (+ residual).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    #[serde(default = "one")]
    pub stride: usize,
    /// Any positive integer; 1 means no expansion layer.
    pub expand_ratio: usize,
    /// Width of the expanded (depthwise) layer; default in_channels · expand_ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid_channels: Option<usize>,
    /// Squeeze-and-excite with this many hidden channels (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se_channels: Option<usize>,
    /// Residual connection; default: when stride is 1 and in_channels == out_channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<bool>,
}

impl Block {
    /// A block with the defaults: middle width in·e, no squeeze-and-excite, residual by rule.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stride: usize,
        expand_ratio: usize,
    ) -> Block {
        Block {
            in_channels,
            out_channels,
            kernel_size,
            stride,
            expand_ratio,
            mid_channels: None,
            se_channels: None,
            residual: None,
        }
    }

    pub fn mid(&self) -> usize {
        self.mid_channels
            .unwrap_or(self.in_channels * self.expand_ratio)
    }
    pub fn has_residual(&self) -> bool {
        self.residual
            .unwrap_or(self.stride == 1 && self.in_channels == self.out_channels)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub name: String,
    pub input: Input,
    pub stem: Stem,
    pub blocks: Vec<Block>,
    /// Optional 1×1 conv before pooling (MobileNetV2's 1280-channel layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_mix_channels: Option<usize>,
    pub classes: usize,
}

/// `entry` of the network description holds `value`, which cannot work: `why`.
fn invalid(entry: String, value: impl ToString, why: impl Into<String>) -> Error {
    Error::entry(Document::NetworkDescription, entry, value, why.into())
}

/// `entry` of the network description cannot work as written: `why`.
fn invalid_entry(entry: String, why: impl Into<String>) -> Error {
    Error::bad_entry(Document::NetworkDescription, entry, why.into())
}

/// Output size of a "same"-padded convolution.
pub fn conv_out(size: usize, kernel: usize, stride: usize) -> usize {
    (size + 2 * (kernel / 2) - kernel) / stride + 1
}

/// The explicit (before, after) padding of H and W that a TFLite model needs for a k×k
/// stride-s convolution of n pixels padded as here (k/2 on each side), or None where TFLite's
/// SAME pads the same pixels (stride 1; stride 2 of an odd size). SAME puts the odd pixel
/// after, so a stride-2 convolution of an even size becomes PAD (k/2 before, what the last
/// window reaches after) + VALID.
pub fn tflite_pad(n: usize, kernel: usize, stride: usize) -> Option<(usize, usize)> {
    let p = kernel / 2;
    if p == 0 {
        return None;
    }
    let out = conv_out(n, kernel, stride);
    let same_out = n.div_ceil(stride);
    let total = ((same_out - 1) * stride + kernel).saturating_sub(n);
    if out == same_out && total / 2 == p {
        return None;
    }
    Some((p, ((out - 1) * stride + kernel).saturating_sub(n + p)))
}

impl Network {
    pub fn from_json(text: &str) -> Result<Network> {
        let net: Network = parse_json(text, "network description")?;
        net.validate()?;
        Ok(net)
    }

    /// Channels chain, every number within `crate::bounds`, kernels odd, the resolution
    /// survives the strides, and the network's MACs and tensors small enough that every count
    /// the evaluator makes fits in u64 (summed here in u128 first).
    pub fn validate(&self) -> Result<()> {
        use crate::bounds::{
            MAX_BLOCKS, MAX_CHANNELS, MAX_CLASSES, MAX_EXPAND, MAX_KERNEL, MAX_MACS,
            MAX_RESOLUTION, MAX_STRIDE, MAX_TENSOR_BYTES,
        };
        let int = |field: &str, v: usize, hi: usize| {
            crate::bounds::entry_int(Document::NetworkDescription, field, v, 1, hi)
        };
        int("input.resolution", self.input.resolution, MAX_RESOLUTION)?;
        int("input.channels", self.input.channels, MAX_CHANNELS)?;
        int("stem.out_channels", self.stem.out_channels, MAX_CHANNELS)?;
        int("stem.kernel_size", self.stem.kernel_size, MAX_KERNEL)?;
        int("stem.stride", self.stem.stride, MAX_STRIDE)?;
        if self.stem.kernel_size.is_multiple_of(2) {
            return Err(invalid(
                "stem.kernel_size".into(),
                self.stem.kernel_size,
                "must be odd (\"same\" padding)",
            ));
        }
        int("classes", self.classes, MAX_CLASSES)?;
        if self.blocks.len() > MAX_BLOCKS {
            return Err(invalid_entry(
                "blocks".into(),
                format!("{} blocks; at most {MAX_BLOCKS}", self.blocks.len()),
            ));
        }
        let mut size = Size::default();
        let r = self.input.resolution;
        let mut res = conv_out(r, self.stem.kernel_size, self.stem.stride);
        let mut c = self.stem.out_channels;
        let k = self.stem.kernel_size;
        size.layer(
            || "stem".into(),
            (res * res * c) as u128 * (self.input.channels * k * k) as u128,
            (res * res * c) as u128,
        )?;
        for (i, b) in self.blocks.iter().enumerate() {
            // Field names are formatted only for an error: this runs for every subnet scored.
            let f = |name: &str| format!("blocks[{i}].{name}");
            let int = |name: &str, v: usize, hi: usize| {
                if (1..=hi).contains(&v) {
                    Ok(())
                } else {
                    int(&f(name), v, hi)
                }
            };
            if b.in_channels != c {
                return Err(invalid(
                    f("in_channels"),
                    b.in_channels,
                    format!("does not chain: the previous layer gives {c}"),
                ));
            }
            int("out_channels", b.out_channels, MAX_CHANNELS)?;
            int("kernel_size", b.kernel_size, MAX_KERNEL)?;
            int("stride", b.stride, MAX_STRIDE)?;
            int("expand_ratio", b.expand_ratio, MAX_EXPAND)?;
            match b.mid_channels {
                Some(m) => int("mid_channels", m, MAX_CHANNELS)?,
                None if b.mid() > MAX_CHANNELS => {
                    return Err(invalid(
                        f("expand_ratio"),
                        b.expand_ratio,
                        format!(
                            "x {} input channels is over {MAX_CHANNELS} middle channels",
                            b.in_channels
                        ),
                    ));
                }
                None => {}
            }
            if let Some(se) = b.se_channels {
                int("se_channels", se, MAX_CHANNELS)?;
            }
            if b.expand_ratio == 1 && b.mid() != b.in_channels {
                return Err(invalid(
                    f("mid_channels"),
                    b.mid(),
                    format!(
                        "with expand_ratio 1 (no expansion layer): the depthwise runs on the {} input channels",
                        b.in_channels
                    ),
                ));
            }
            if b.kernel_size % 2 == 0 {
                return Err(invalid(f("kernel_size"), b.kernel_size, "must be odd"));
            }
            if b.residual == Some(true) && (b.stride != 1 || b.in_channels != b.out_channels) {
                return Err(invalid_entry(
                    f("residual"),
                    "needs stride 1 and in_channels == out_channels",
                ));
            }
            if res < b.stride {
                return Err(invalid_entry(
                    f("stride"),
                    format!(
                        "resolution {} is too small for the strides (feature map {res}x{res} before this block)",
                        self.input.resolution
                    ),
                ));
            }
            let (mid, k) = (b.mid() as u128, b.kernel_size as u128);
            let out = conv_out(res, b.kernel_size, b.stride);
            let (a_in, a_out) = ((res * res) as u128, (out * out) as u128);
            let se = b.se_channels.unwrap_or(0) as u128;
            let cout = b.out_channels as u128;
            size.layer(
                || f("expand_ratio"),
                a_in * mid * c as u128 + a_out * mid * k * k + 2 * mid * se + a_out * mid * cout,
                (a_in * mid).max(a_out * cout),
            )?;
            res = out;
            c = b.out_channels;
        }
        if let Some(m) = self.feature_mix_channels {
            int("feature_mix_channels", m, MAX_CHANNELS)?;
            let a = (res * res) as u128;
            size.layer(
                || "feature_mix_channels".into(),
                a * (c * m) as u128,
                a * m as u128,
            )?;
            c = m;
        }
        size.layer(
            || "classes".into(),
            (c * self.classes) as u128,
            self.classes as u128,
        )?;
        debug_assert!(size.macs <= MAX_MACS && MAX_TENSOR_BYTES < u64::MAX as u128);
        Ok(())
    }
}

/// The running MAC count and the largest tensor, checked against `crate::bounds`.
#[derive(Default)]
struct Size {
    macs: u128,
}

impl Size {
    fn layer(&mut self, field: impl Fn() -> String, macs: u128, out_bytes: u128) -> Result<()> {
        use crate::bounds::{MAX_MACS, MAX_TENSOR_BYTES};
        self.macs += macs;
        if out_bytes > MAX_TENSOR_BYTES {
            return Err(invalid_entry(
                field(),
                format!(
                    "a tensor of {out_bytes} bytes here is over the {MAX_TENSOR_BYTES}-byte limit; the network is far too large for any microcontroller"
                ),
            ));
        }
        if self.macs > MAX_MACS {
            return Err(invalid_entry(
                field(),
                format!(
                    "the network reaches {} MACs here, over the limit of {MAX_MACS}; it is far too large for any microcontroller",
                    self.macs
                ),
            ));
        }
        Ok(())
    }
}

/// MCUNet / ProxylessNAS rounding: `max(8, int(v+4)//8*8)`, +8 if that is below 0.9·v.
pub fn make_divisible(v: f64) -> usize {
    let r = (8usize).max(((v + 4.0) as usize) / 8 * 8);
    if (r as f64) < 0.9 * v { r + 8 } else { r }
}
