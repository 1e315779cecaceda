//! The network definition, a leaf every other part asks: the search space and subnet
//! configurations, the network description (stem, inverted-bottleneck blocks, classifier), the
//! channel rounding, and the one function that turns a subnet into its blocks
//! (`subnet::subnet_blocks`), which the GPU supernet runs, the MCU evaluator measures and the
//! exporter writes.

pub mod models;
pub mod net;
pub mod space;
pub mod subnet;

pub use net::{Block, Network, make_divisible};
pub use space::{SearchSpace, SubnetConfig};
pub use subnet::BlockSlot;
