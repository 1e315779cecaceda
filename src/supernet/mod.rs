//! The once-for-all search space, subnet configurations, the elastic supernet that runs any
//! subnet as views of shared weights, and channel re-ordering by importance.

pub mod elastic;
pub mod reorder;
pub mod space;

pub use elastic::Supernet;
pub use space::{SearchSpace, SubnetConfig};
