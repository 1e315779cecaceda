//! Deployment: the chosen subnet extracted from the supernet with batch norm folded, quantized
//! to int8 by TFLite's spec, run by an integer-only executor with TF Lite Micro's reference
//! arithmetic, and written as a .tflite flatbuffer and a C array.

pub mod accuracy;
pub mod build;
pub mod carray;
mod executor;
pub mod extract;
pub mod fixed;
pub mod graph;
pub mod quant;
pub mod safetensors;
pub mod tflite;
pub mod verify;

pub use extract::extract;
pub use graph::Graph;
pub use quant::{QGraph, QParams, calibrate, quantize};
