//! Layers, parameter sets, optimizers and learning-rate schedules on top of the autograd.

pub mod init;
pub mod layers;
pub mod net;
pub mod optim;

pub use layers::{ConvBn, Linear};
pub use optim::{Adam, CosineSchedule, Sgd};

use crate::Tensor;

/// A named trainable tensor. `decay` is false for batch-norm and bias parameters, which weight
/// decay skips.
#[derive(Clone)]
pub struct ParamEntry {
    pub name: String,
    pub tensor: Tensor,
    pub decay: bool,
}

/// Running statistics and other state that is saved but not trained.
#[derive(Clone)]
pub struct BufferEntry {
    pub name: String,
    pub tensor: Tensor,
}

/// Anything holding parameters lists them in a fixed order (optimizer state, checkpoints and
/// the CPU reference rely on it).
pub trait Module {
    fn params(&self, prefix: &str, out: &mut Vec<ParamEntry>);
    fn buffers(&self, _prefix: &str, _out: &mut Vec<BufferEntry>) {}

    fn param_list(&self) -> Vec<ParamEntry> {
        let mut v = Vec::new();
        self.params("", &mut v);
        v
    }
    fn buffer_list(&self) -> Vec<BufferEntry> {
        let mut v = Vec::new();
        self.buffers("", &mut v);
        v
    }
}
