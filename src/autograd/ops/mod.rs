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

/// Sizes and offsets travel to the shaders as u32.
pub(crate) fn u(x: usize) -> u32 {
    x as u32
}
