//! The differentiable ops, one file per family: forward, backward and the f64 CPU reference
//! side by side. Kernels live in `shaders/<family>.wgsl`.
//!
//! Every file of this folder is a module, and every one that declares `pub mod kernel` is an
//! op family listed by `families()`: build.rs lists the files (`op_files!`, `op_families!`),
//! so a new family adds no line here.

include!(concat!(env!("OUT_DIR"), "/op_files.rs"));

macro_rules! declare_modules {
    ($($file:ident),*) => {
        $(pub mod $file;)*
    };
}
op_files!(declare_modules);

macro_rules! declare_families {
    ($($family:ident),*) => {
        /// Every op family's kernels, by file name, for the test that holds each to its shader
        /// (tests/kernels.rs).
        pub fn families() -> &'static [(&'static str, &'static crate::gpu::kernel::Family)] {
            &[$((stringify!($family), &$family::kernel::FAMILY)),*]
        }
    };
}
op_families!(declare_families);

pub use activation::Act;

/// Sizes and offsets travel to the shaders as u32.
pub(crate) fn u(x: usize) -> u32 {
    x as u32
}
