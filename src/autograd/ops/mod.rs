//! The differentiable ops, one file per family: forward, backward and the f64 CPU reference
//! side by side. Kernels live in `shaders/<family>.wgsl`.

pub mod activation;
pub mod arith;
pub mod conv;
pub mod depthwise;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod reduce;

pub use activation::Act;

/// Parameter words are u32; f32 parameters travel as their bits.
pub(crate) fn f(x: f32) -> u32 {
    x.to_bits()
}

pub(crate) fn u(x: usize) -> u32 {
    x as u32
}
