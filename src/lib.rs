//! tinynas: once-for-all supernet training on any GPU through wgpu, and TinyNAS search for
//! networks that fit a microcontroller.

pub mod arch;
pub mod autograd;
pub mod bounds;
pub mod chart;
pub mod cli;
pub mod data;
pub mod error;
pub mod export;
pub mod firmware;
pub mod gpu;
pub mod io;
pub mod mcu;
pub mod nn;
pub mod observer;
pub mod pipeline;
pub mod search;
pub mod seed;
pub mod supernet;
pub mod train;

pub use autograd::{Engine, Tensor};
pub use error::{Error, Result};
