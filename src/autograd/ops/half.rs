//! f16 storage of saved activations (the kernels `Engine::save` and its reload run).

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "half",
        source: include_str!("../../../shaders/half.wgsl"),
    };
    crate::params!(
        /// f16 storage of saved activations (half.wgsl).
        Half { n: u32, c: u32, inner: u32 }
    );
    crate::slots!(SRC_F32 = src_f32 @ 1, DST_U32 = dst_u32 @ 2, SRC_U32 = src_u32 @ 3, DST_F32 = dst_f32 @ 4, SHIFT = shift @ 5);
    crate::kernels! {
        PACK: Half = SHADER::"pack";
        UNPACK: Half = SHADER::"unpack";
        PACK_CENTRED: Half = SHADER::"pack_centred";
        UNPACK_CENTRED: Half = SHADER::"unpack_centred";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Half as Params>::FIELDS,
        flags: &[],
        slots: SLOTS,
        overrides: <() as Overrides>::NAMES,
        kernels: KERNELS,
    };
}
