//! The jobs a user runs, as library functions with typed options and typed reports: measuring
//! subnets and fitting the predictor on a trained run, the search and its report, a subnet's
//! evaluation, a network's memory (of a model given by file or by name: `mem::Model`), the
//! files commands are given (`inputs`), the benchmarks (`bench`). Progress and
//! messages go to an `Observer`; nothing here prints. (Space optimization is
//! `search::space::rank_spaces`, training `train`.)

pub mod bench;
pub mod demo;
pub mod demo_options;
pub mod eval;
pub mod evidence;
pub mod export;
pub mod export_run;
pub mod finetune;
pub mod firmware;
pub mod inputs;
mod measure;
pub mod mem;
pub mod predictor;
pub mod search;
pub mod search_outputs;
pub mod space;
pub mod train;
pub mod trust;
