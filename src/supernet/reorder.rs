//! Channel re-ordering before expand ratios become elastic (OFA): in every elastic block the
//! middle channels are sorted by importance, the L1 norm of the project conv's weights that read
//! them, most important first, so that a small expand ratio's channel prefix keeps the channels
//! that matter. The permutation is applied to every tensor that shares those channels: expand
//! conv rows and its BN, depthwise kernels and their BN, project conv columns, and the optimizer
//! state of each. The largest subnet computes the same function before and after.

use super::block::ElasticBlock;
use super::elastic::Supernet;
use crate::nn::Sgd;
use crate::{Result, Tensor};

/// `data` of `shape` with index `perm[i]` of dimension `dim` moved to position `i`.
pub fn permute_dim(data: &[f32], shape: &[usize], dim: usize, perm: &[usize]) -> Vec<f32> {
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let n = shape[dim];
    let mut out = vec![0.0; data.len()];
    for o in 0..outer {
        for (i, &p) in perm.iter().enumerate() {
            let src = (o * n + p) * inner;
            let dst = (o * n + i) * inner;
            out[dst..dst + inner].copy_from_slice(&data[src..src + inner]);
        }
    }
    out
}

/// Importance of each middle channel: Σ_out |project[out, c]|.
pub fn importance(block: &ElasticBlock) -> Result<Vec<f32>> {
    let s = block.project.weight.shape().to_vec();
    let w = block.project.weight.to_vec()?;
    let (outs, mids) = (s[0], s[1]);
    Ok((0..mids)
        .map(|c| (0..outs).map(|o| w[o * mids + c].abs()).sum())
        .collect())
}

fn permute(t: &Tensor, dim: usize, perm: &[usize], sgd: Option<&Sgd>) -> Result<()> {
    t.write(&permute_dim(&t.to_vec()?, t.shape(), dim, perm))?;
    if let Some(sgd) = sgd
        && let Some(i) = sgd.params.iter().position(|p| p.tensor.shares_storage(t))
    {
        let e = t.engine();
        let m = &sgd.state_buffers()[i];
        let v = e.gpu.read(m, 0, t.numel())?;
        e.gpu.write(m, 0, &permute_dim(&v, t.shape(), dim, perm))?;
    }
    Ok(())
}

impl Supernet {
    /// Sort every elastic block's middle channels by importance, descending (stable, so equal
    /// importances keep their order). Returns the permutation applied to each block.
    pub fn reorder_channels(&self, sgd: Option<&Sgd>) -> Result<Vec<Vec<usize>>> {
        let mut perms = Vec::new();
        for b in &self.blocks {
            let imp = importance(b)?;
            let mut perm: Vec<usize> = (0..imp.len()).collect();
            perm.sort_by(|&a, &c| imp[c].total_cmp(&imp[a]));
            for layer in [&b.expand, &b.depthwise] {
                for t in [
                    &layer.weight,
                    &layer.gamma,
                    &layer.beta,
                    &layer.running_mean,
                    &layer.running_var,
                ] {
                    permute(t, 0, &perm, sgd)?;
                }
            }
            permute(&b.project.weight, 1, &perm, sgd)?;
            perms.push(perm);
        }
        Ok(perms)
    }
}
