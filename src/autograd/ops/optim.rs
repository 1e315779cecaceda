//! The optimizers' update steps (the kernels `nn::optim` runs).

/// This family's kernels (one shader and what it declares; tests/kernels.rs holds them to it).
pub mod kernel {
    use crate::gpu::kernel::{Family, Overrides, Params, Shader};

    pub const SHADER: Shader = Shader {
        name: "optim",
        source: include_str!("../../../shaders/optim.wgsl"),
    };
    crate::params!(
        /// SGD and Adam (optim.wgsl).
        Optim {
            len: u32, flags: u32, lr: f32, momentum: f32,
            weight_decay: f32, beta1: f32, beta2: f32, eps: f32,
            bias_corr1: f32, bias_corr2: f32,
        }
    );
    /// `flags`: Nesterov momentum.
    pub const NESTEROV: u32 = 1;
    crate::slots!(W = w @ 1, G = g @ 2, M = m @ 3, V = v @ 4);
    crate::kernels! {
        SGD: Optim = SHADER::"sgd";
        ADAM: Optim = SHADER::"adam";
    }
    pub const FAMILY: Family = Family {
        shaders: &[&SHADER],
        params: <Optim as Params>::FIELDS,
        flags: &[("NESTEROV", NESTEROV)],
        slots: SLOTS,
        overrides: <() as Overrides>::NAMES,
        kernels: KERNELS,
    };
}
