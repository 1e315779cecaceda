//! The evaluator's fast path for search loops: MACs, params, flash and peak SRAM straight from
//! the op walker, with reusable buffers and no names. Gives the same numbers as `evaluate`
//! (checked in tests/mcu_properties.rs).

use super::graph::{OpInfo, OpKind};
use super::image::{ImageCounter, RUNTIME_STACK_BYTES, TfliteCounter};
use super::place::{Order, PlaceScratch, place_into};
use super::sched::Scheduler;
use super::tflm_tail::TailCounter;
use super::walk::walk_ops;
use crate::arch::net::{Network, conv_out};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub macs: u64,
    pub params: u64,
    /// The deliverable's flash under the scheduler's runtime (`mcu::image`).
    pub flash_bytes: u64,
    /// The planner's peak (the arena).
    pub peak_sram_bytes: u64,
    /// The SRAM the device must hold: the peak plus the runtime's own (`mcu::image`).
    pub sram_bytes: u64,
    /// The generated C's instructions on the device's core and its milliseconds at the device's
    /// clock, as `mcu::latency` predicts them; `search::Checker` fills them in where the device
    /// has a core and a clock (the evaluator alone knows no device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
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
    bshrink: Vec<Option<(usize, u64)>>,
    place: PlaceScratch,
    image: ImageCounter,
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
            Scheduler::Analytic => {
                let mut s = self.analytic(net, inplace_depthwise);
                s.sram_bytes = s.peak_sram_bytes;
                Some(s)
            }
            Scheduler::Tflm => {
                let (mut s, extra) = self.planned(net, 16, false, true);
                s.sram_bytes = extra.tail.reserve_mcu32(s.peak_sram_bytes);
                s.flash_bytes = extra.tflite_bytes;
                Some(s)
            }
            Scheduler::TinyEngine => {
                let (mut s, extra) = self.planned(net, 4, true, false);
                s.peak_sram_bytes += extra.scratch + extra.kernel;
                s.sram_bytes = s.peak_sram_bytes + RUNTIME_STACK_BYTES;
                s.flash_bytes = self.image.bytes(net.input.channels);
                Some(s)
            }
            Scheduler::Patch => None,
        }
    }

    /// The analytic bound block by block, without visiting ops (the search's hot path); the
    /// same rules as `sched::analytic`.
    pub fn analytic(&mut self, net: &Network, inplace: bool) -> Summary {
        let mut s = Summary::default();
        let mut layer = |macs: u64, weights: u64, cout: u64| {
            s.macs += macs;
            s.params += weights + cout;
            s.flash_bytes += weights + 8 * cout;
        };
        let mut peak = 0u64;
        let r = net.input.resolution;
        let (k, st, c0) = (net.stem.kernel_size, net.stem.stride, net.stem.out_channels);
        let mut h = conv_out(r, k, st);
        let mut c = c0;
        let hw = (h * h) as u64;
        layer(
            hw * (k * k * net.input.channels * c0) as u64,
            (k * k * net.input.channels * c0) as u64,
            c0 as u64,
        );
        peak = peak.max((r * r * net.input.channels) as u64 + hw * c0 as u64);
        for b in &net.blocks {
            let (mid, cout, k) = (b.mid() as u64, b.out_channels as u64, b.kernel_size);
            let hin = (h * h) as u64;
            let ho = conv_out(h, k, b.stride);
            let hout = (ho * ho) as u64;
            let a = hin * c as u64;
            let res = if b.has_residual() { a } else { 0 };
            let dw_in = if b.expand_ratio != 1 {
                layer(hin * c as u64 * mid, c as u64 * mid, mid);
                peak = peak.max(a + hin * mid);
                hin * mid
            } else {
                a
            };
            // The residual is held beside the depthwise unless it is the depthwise's own input,
            // which then cannot be overwritten in place.
            let held = if b.expand_ratio != 1 { res } else { 0 };
            let in_place = inplace && !(b.expand_ratio == 1 && res > 0);
            let m2 = hout * mid;
            let kk = (k * k) as u64;
            layer(hout * mid * kk, mid * kk, mid);
            peak = peak.max(if in_place { dw_in.max(m2) } else { dw_in + m2 } + held);
            if let Some(se) = b.se_channels {
                let se = se as u64;
                layer(m2, 0, 0); // pooling
                layer(mid * se, mid * se, se);
                layer(mid * se, mid * se, mid);
                layer(m2, 0, 0); // scaling
                peak = peak
                    .max(m2 + mid + res)
                    .max(mid + se + res)
                    .max(se + mid + res)
                    .max(2 * m2 + mid + res);
            }
            layer(hout * mid * cout, mid * cout, cout);
            peak = peak.max(m2 + hout * cout);
            h = ho;
            c = b.out_channels;
        }
        let hw = (h * h) as u64;
        if let Some(m) = net.feature_mix_channels {
            layer(hw * (c * m) as u64, (c * m) as u64, m as u64);
            peak = peak.max(hw * (c + m) as u64);
            c = m;
        }
        layer(hw * c as u64, 0, 0); // global pooling
        peak = peak.max(hw * c as u64 + c as u64);
        layer(
            (c * net.classes) as u64,
            (c * net.classes) as u64,
            net.classes as u64,
        );
        peak = peak.max((c + net.classes) as u64);
        s.peak_sram_bytes = peak;
        s
    }

    /// Arena planning as `sched::buffers` + `place`; returns the summary and what the walk
    /// counted beside it (scratch, kernel buffer, TFLM's tail; the C image in `self.image`).
    fn planned(
        &mut self,
        net: &Network,
        alignment: u64,
        inplace: bool,
        tflite: bool,
    ) -> (Summary, Extra) {
        let mut s = Summary::default();
        let (mut scratch, mut kernel) = (0u64, 0u64);
        let mut tail = TailCounter::default();
        let mut tflite_file = TfliteCounter::default();
        let Evaluator {
            bytes,
            first,
            last,
            root,
            slot,
            sizes,
            bfirst,
            blast,
            bshrink,
            place,
            image,
        } = self;
        image.clear();
        bytes.clear();
        first.clear();
        last.clear();
        root.clear();
        bytes.push((net.input.resolution * net.input.resolution * net.input.channels) as u64);
        first.push(0);
        last.push(0);
        root.push(0);
        let mut n_ops = 0;
        walk_ops(net, tflite, |o| {
            totals(&mut s, o);
            if inplace {
                image.add(o);
            } else {
                tail.add(o.kind, o.out.c);
                tflite_file.add(o);
            }
            let i = n_ops;
            n_ops += 1;
            bytes.push(o.out.bytes());
            first.push(i);
            last.push(i);
            for &t in o.inputs() {
                last[t] = last[t].max(i);
            }
            // In place unless the input is the block input a residual add reads later.
            root.push(
                if inplace && o.kind == OpKind::Depthwise && o.residual != Some(o.inputs[0]) {
                    root[o.inputs[0]]
                } else {
                    o.output
                },
            );
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
                OpKind::Pointwise if inplace => scratch = scratch.max(4 * t.c as u64),
                _ => {}
            }
        });
        // Merge in-place tensors into their root's buffer (roots come first in tensor order).
        sizes.clear();
        bfirst.clear();
        blast.clear();
        bshrink.clear();
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
                bshrink.push(None);
            }
            let b = slot[r];
            let size = bytes[t].div_ceil(alignment) * alignment;
            // A depthwise output smaller than the input it overwrites: after its op only it
            // is live (as `sched::buffers`).
            if t != r && size < sizes[b] {
                bshrink[b] = Some((first[t], size));
            }
            sizes[b] = sizes[b].max(size);
            bfirst[b] = bfirst[b].min(first[t]);
            blast[b] = blast[b].max(last[t]);
        }
        let order = if inplace {
            Order::EarlierFirst
        } else {
            Order::LaterFirst
        };
        s.peak_sram_bytes = place_into(sizes, bfirst, blast, bshrink, order, place);
        let extra = Extra {
            scratch,
            kernel,
            tail: tail.tail(n),
            tflite_bytes: tflite_file.bytes(),
        };
        (s, extra)
    }
}

/// What `planned` counts beside the arena.
struct Extra {
    scratch: u64,
    kernel: u64,
    tail: super::tflm_tail::Tail,
    tflite_bytes: u64,
}
