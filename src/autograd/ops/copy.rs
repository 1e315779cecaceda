//! Strided views gathered into contiguous tensors and scattered back (the kernels `Tensor::contiguous` and its gradient run).

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "copy",
        source: include_str!("../../../shaders/copy.wgsl"),
    };
    crate::params!(
        /// Strided views gathered and scattered (copy.wgsl).
        Copy {
            len: u32, off: u32, d1: u32, d2: u32,
            d3: u32, s0: u32, s1: u32, s2: u32,
            s3: u32,
        }
    );
    crate::slots!(SRC = src @ 1, DST = dst @ 2);
    crate::kernels! {
        GATHER: Copy = SHADER::"gather";
        SCATTER_ADD: Copy = SHADER::"scatter_add";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Copy as Params>::FIELDS,
        flags: &[],
        slots: SLOTS,
        overrides: <() as Overrides>::NAMES,
        kernels: KERNELS,
    };
}
