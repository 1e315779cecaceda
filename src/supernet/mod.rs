//! The elastic supernet that runs any subnet of a search space as views of shared weights, and
//! channel re-ordering by importance. (The space and subnet types live in `crate::arch`.)

pub mod block;
pub mod elastic;
pub mod reorder;

pub use elastic::Supernet;
