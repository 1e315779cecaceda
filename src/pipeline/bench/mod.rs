//! The benchmarks of BENCHMARKS.md as library functions with typed options and reports: GPU
//! kernel throughput (`ops`), supernet training steps (`train`), measuring subnets of a run
//! (`measure`), the MCU evaluator and the int8 executor on one core (`cpu`), and the latency
//! model's fit in QEMU (`latency`). Nothing here prints; the command line draws the reports.

pub mod cpu;
pub mod latency;
pub mod measure;
pub mod ops;
pub mod train;
