//! The once-for-all search space and subnet configurations (the elastic network itself comes
//! with the supernet-training issue).

pub mod elastic;
pub mod space;

pub use elastic::Supernet;
pub use space::{SearchSpace, SubnetConfig};
