//! The exported network's float weights as a safetensors file (model.safetensors), by layer,
//! in TFLite's layouts.

use super::Graph;
use super::graph::OpKind;
use crate::{Error, Result};

/// The float weights of the exported network, by layer, in TFLite's layouts.
pub fn float_weights(g: &Graph) -> Result<Vec<u8>> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for op in &g.ops {
        let cin = g.shapes[op.inputs[0]].c;
        let shape = match &op.kind {
            OpKind::Conv {
                depthwise: true,
                kernel,
                ..
            } => vec![1, *kernel, *kernel, op.bias.len()],
            OpKind::Conv { kernel, .. } => vec![op.bias.len(), *kernel, *kernel, cin],
            OpKind::FullyConnected => vec![op.bias.len(), g.shapes[op.inputs[0]].len()],
            _ => continue,
        };
        named.push((
            format!("{}.weight", op.name),
            shape,
            bytemuck::cast_slice(&op.weight).to_vec(),
        ));
        named.push((
            format!("{}.bias", op.name),
            vec![op.bias.len()],
            bytemuck::cast_slice(&op.bias).to_vec(),
        ));
    }
    let views = named
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Invalid(format!("model.safetensors: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None)
        .map_err(|e| Error::Invalid(format!("model.safetensors: {e}")))
}
