//! An exported model's top-1 on a split: the float graph and the integer executor side by side,
//! on every core.

use super::{Graph, QGraph};
use crate::data::Dataset;
use crate::mcu::sched::argmax;

/// The float and int8 top-1 of a model on a split.
pub fn accuracy(q: &QGraph, ds: &Dataset, rgb: bool) -> (f64, f64) {
    let a = accuracy_and_logits(q, ds, rgb);
    (a.float_top1, a.int8_top1)
}

/// The float and int8 top-1 of a model on a split, and every image's int8 input and logits.
pub struct SplitRun {
    pub float_top1: f64,
    pub int8_top1: f64,
    pub inputs: Vec<Vec<i8>>,
    pub logits: Vec<Vec<i8>>,
}

/// `accuracy`, keeping each image's int8 input and the integer executor's logits.
pub fn accuracy_and_logits(q: &QGraph, ds: &Dataset, rgb: bool) -> SplitRun {
    let g: &Graph = &q.graph;
    let r = g.input().h;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = ds.len().div_ceil(threads).max(1);
    type Part = (usize, usize, Vec<Vec<i8>>, Vec<Vec<i8>>);
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..ds.len())
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    let (mut f, mut i) = (0usize, 0usize);
                    let (mut inputs, mut logits) = (Vec::new(), Vec::new());
                    for k in start..(start + chunk).min(ds.len()) {
                        let px = ds.pixels(k, r, rgb);
                        let label = ds.labels[k] as usize;
                        let fl = g.run_f32(&g.norm.apply(&px)).swap_remove(g.output());
                        f += (argmax(&fl) == label) as usize;
                        let x = q.input_from_pixels(&px);
                        let y = q.logits(&x);
                        i += (argmax(&y) == label) as usize;
                        inputs.push(x);
                        logits.push(y);
                    }
                    (f, i, inputs, logits)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("accuracy worker"))
            .collect()
    });
    let n = ds.len().max(1) as f64;
    let mut out = SplitRun {
        float_top1: parts.iter().map(|p| p.0).sum::<usize>() as f64 / n,
        int8_top1: parts.iter().map(|p| p.1).sum::<usize>() as f64 / n,
        inputs: Vec::with_capacity(ds.len()),
        logits: Vec::with_capacity(ds.len()),
    };
    for (_, _, x, y) in parts {
        out.inputs.extend(x);
        out.logits.extend(y);
    }
    out
}
