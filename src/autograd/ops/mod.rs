//! The differentiable ops, one file per family: forward, backward and the f64 CPU reference
//! side by side. Kernels live in `shaders/<family>.wgsl`.

pub mod activation;
pub mod arith;
pub mod conv;
pub mod conv_shape;
pub mod copy;
pub mod depthwise;
pub mod half;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod reduce;

pub use activation::Act;

/// Every op family's kernels, for the test that holds each to its shader (tests/kernels.rs).
pub fn families() -> &'static [(&'static str, &'static crate::gpu::kernel::Family)] {
    &[
        ("matmul", &matmul::kernel::FAMILY),
        ("conv", &conv::kernel::FAMILY),
        ("depthwise", &depthwise::kernel::FAMILY),
        ("elementwise", &arith::kernel::FAMILY),
        ("norm", &norm::kernel::FAMILY),
        ("loss", &loss::kernel::FAMILY),
        ("reduce", &reduce::kernel::FAMILY),
        ("copy", &copy::kernel::FAMILY),
        ("half", &half::kernel::FAMILY),
        ("optim", &optim::kernel::FAMILY),
    ]
}

/// Sizes and offsets travel to the shaders as u32.
pub(crate) fn u(x: usize) -> u32 {
    x as u32
}
