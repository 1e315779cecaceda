//! The evaluator's fast path for search loops: MACs, params, flash and peak SRAM straight from
//! the op walker, with reusable buffers and no names. Gives the same numbers as `evaluate`
//! (checked in tests/mcu_properties.rs).

use super::graph::{OpInfo, OpKind, OpName, Part, walk};
use super::net::Network;
use super::sched::{PlaceScratch, Scheduler, place_into};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub macs: u64,
    pub params: u64,
    pub flash_bytes: u64,
    pub peak_sram_bytes: u64,
}

#[derive(Default)]
pub struct Evaluator {
    bytes: Vec<u64>,
    first: Vec<usize>,
    last: Vec<usize>,
    root: Vec<usize>,
    slot: Vec<usize>,
    sizes: Vec<u64>,
    bfirst: Vec<usize>,
    blast: Vec<usize>,
    place: PlaceScratch,
}

fn totals(s: &mut Summary, o: &OpInfo) {
    s.macs += o.macs;
    s.params += o.params;
    s.flash_bytes += o.weight_bytes;
}

impl Evaluator {
    /// Summary under `scheduler` (the patch scheduler is not on the fast path).
    pub fn summary(
        &mut self,
        net: &Network,
        scheduler: Scheduler,
        inplace_depthwise: bool,
    ) -> Option<Summary> {
        match scheduler {
            Scheduler::Analytic => Some(self.analytic(net, inplace_depthwise)),
            Scheduler::Tflm => Some(self.planned(net, 16, false).0),
            Scheduler::TinyEngine => {
                let (mut s, scratch, kernel) = self.planned(net, 4, true);
                s.peak_sram_bytes += scratch + kernel;
                Some(s)
            }
            Scheduler::Patch => None,
        }
    }

    pub fn analytic(&mut self, net: &Network, inplace: bool) -> Summary {
        let mut s = Summary::default();
        let bytes = &mut self.bytes;
        bytes.clear();
        bytes.push((net.input.resolution * net.input.resolution * net.input.channels) as u64);
        walk(net, |o| {
            totals(&mut s, o);
            bytes.push(o.out.bytes());
            if o.kind == OpKind::Add {
                return;
            }
            let ins: u64 = o.inputs().iter().map(|&t| bytes[t]).sum();
            let out = bytes[o.output];
            let mut m = if o.kind == OpKind::Depthwise && inplace {
                ins.max(out)
            } else {
                ins + out
            };
            let fused_add = matches!(o.name, OpName::Block(_, Part::Project));
            if let Some(r) = o.residual
                && !o.inputs().contains(&r)
                && !fused_add
            {
                m += bytes[r];
            }
            s.peak_sram_bytes = s.peak_sram_bytes.max(m);
        });
        s
    }

    /// Arena planning as `sched::buffers` + `place`; returns (summary, scratch, kernel buffer).
    fn planned(&mut self, net: &Network, alignment: u64, inplace: bool) -> (Summary, u64, u64) {
        let mut s = Summary::default();
        let (mut scratch, mut kernel) = (0u64, 0u64);
        let Evaluator {
            bytes,
            first,
            last,
            root,
            slot,
            sizes,
            bfirst,
            blast,
            place,
        } = self;
        bytes.clear();
        first.clear();
        last.clear();
        root.clear();
        bytes.push((net.input.resolution * net.input.resolution * net.input.channels) as u64);
        first.push(0);
        last.push(0);
        root.push(0);
        let mut n_ops = 0;
        walk(net, |o| {
            totals(&mut s, o);
            let i = n_ops;
            n_ops += 1;
            bytes.push(o.out.bytes());
            first.push(i);
            last.push(i);
            for &t in o.inputs() {
                last[t] = last[t].max(i);
            }
            root.push(if inplace && o.kind == OpKind::Depthwise {
                root[o.inputs[0]]
            } else {
                o.output
            });
            let t = o.input;
            let pad = (o.kernel_size / 2) as u64;
            match o.kind {
                OpKind::Conv if o.kernel_size > 1 => {
                    scratch = scratch.max((o.kernel_size * o.kernel_size * t.c * 4) as u64);
                    kernel = kernel.max(2 * (o.kernel_size * o.kernel_size * t.c * o.out.c) as u64);
                }
                OpKind::Depthwise if inplace => {
                    scratch = scratch.max(2 * (t.h as u64 + 2 * pad) * (t.w as u64 + 2 * pad))
                }
                _ => {}
            }
        });
        // Merge in-place tensors into their root's buffer (roots come first in tensor order).
        sizes.clear();
        bfirst.clear();
        blast.clear();
        let n = bytes.len();
        slot.clear();
        slot.resize(n, usize::MAX);
        for t in 0..n {
            let r = root[t];
            if slot[r] == usize::MAX {
                slot[r] = sizes.len();
                sizes.push(0);
                bfirst.push(first[t]);
                blast.push(last[t]);
            }
            let b = slot[r];
            sizes[b] = sizes[b].max(bytes[t].div_ceil(alignment) * alignment);
            bfirst[b] = bfirst[b].min(first[t]);
            blast[b] = blast[b].max(last[t]);
        }
        s.peak_sram_bytes = place_into(sizes, bfirst, blast, place);
        (s, scratch, kernel)
    }
}
