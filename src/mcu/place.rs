//! Placing buffers in an arena, as TF Lite Micro's greedy planner and TinyEngine's first fit
//! do: largest first, each into the lowest gap among the buffers live at the same time.

/// A buffer to place: bytes (aligned), live from op `first` to op `last` inclusive.
#[derive(Clone, Debug)]
pub struct Buffer {
    pub size: u64,
    pub first: usize,
    pub last: usize,
    pub tensors: Vec<usize>,
    /// A stride-2 depthwise convolution in place: after op `.0` only its output, the first
    /// `.1` bytes, is live (TinyEngine's `stride2_inplace_idx`).
    pub shrink: Option<(usize, u64)>,
}

impl Buffer {
    /// The bytes it occupies while op `op` runs (its smaller size after a shrink).
    pub fn extent(&self, op: usize) -> u64 {
        extent(self.size, self.shrink, op)
    }
}

/// Which of two buffers of the same size a planner places first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The later buffer (TF Lite Micro: a stable sort of its buffers listed in reverse).
    LaterFirst,
    /// The earlier buffer (TinyEngine: `sortSize` picks the first largest, again and again).
    EarlierFirst,
}

/// Greedy placement as TF Lite Micro's GreedyMemoryPlanner and TinyEngine's first fit:
/// largest first (ties by `order`), each into the lowest gap among the already placed buffers
/// that are live at the same time; a buffer that shrinks occupies only its smaller size after
/// it shrinks.
pub fn place(buffers: &[Buffer], order: Order) -> Vec<u64> {
    let sizes: Vec<u64> = buffers.iter().map(|b| b.size).collect();
    let first: Vec<usize> = buffers.iter().map(|b| b.first).collect();
    let last: Vec<usize> = buffers.iter().map(|b| b.last).collect();
    let shrink: Vec<Option<(usize, u64)>> = buffers.iter().map(|b| b.shrink).collect();
    let mut scratch = PlaceScratch::default();
    place_into(&sizes, &first, &last, &shrink, order, &mut scratch);
    scratch.offsets
}

/// Reusable work space of `place_into`.
#[derive(Default)]
pub struct PlaceScratch {
    order: Vec<usize>,
    /// Placed buffers, kept sorted by offset.
    placed: Vec<usize>,
    pub offsets: Vec<u64>,
}

/// The bytes buffer `size`/`shrink` occupies from op `lo` on.
fn extent(size: u64, shrink: Option<(usize, u64)>, lo: usize) -> u64 {
    match shrink {
        Some((at, small)) if lo > at => small,
        _ => size,
    }
}

/// `place` on parallel slices, allocation-free once `s` has grown; returns the arena size.
/// `shrink` is empty (no buffer shrinks) or one entry per buffer.
pub fn place_into(
    sizes: &[u64],
    first: &[usize],
    last: &[usize],
    shrink: &[Option<(usize, u64)>],
    order: Order,
    s: &mut PlaceScratch,
) -> u64 {
    let n = sizes.len();
    s.order.clear();
    s.order.extend(0..n);
    s.order.sort_unstable_by(|&a, &b| {
        sizes[b].cmp(&sizes[a]).then(match order {
            Order::LaterFirst => b.cmp(&a),
            Order::EarlierFirst => a.cmp(&b),
        })
    });
    s.offsets.clear();
    s.offsets.resize(n, 0);
    s.placed.clear();
    let shrinks = shrink.iter().any(|x| x.is_some());
    let mut arena = 0;
    for k in 0..n {
        let i = s.order[k];
        let mut cand = 0;
        if !shrinks {
            // Placed buffers in offset order: the first gap that holds it.
            for &j in &s.placed {
                if first[j] > last[i] || first[i] > last[j] {
                    continue;
                }
                if cand + sizes[i] <= s.offsets[j] {
                    break;
                }
                cand = cand.max(s.offsets[j] + sizes[j]);
            }
        } else {
            // Extents change over time: over each stretch of the common lifetime where both
            // are constant, the two must not overlap; move past every conflict until none is
            // left (the lowest such position, as the first-fit scan above finds).
            loop {
                let mut bump = cand;
                for &j in &s.placed {
                    let (lo, hi) = (first[i].max(first[j]), last[i].min(last[j]));
                    if lo > hi {
                        continue;
                    }
                    let mut starts = [lo, lo, lo];
                    for (slot, sh) in starts[1..].iter_mut().zip([shrink[i], shrink[j]]) {
                        if let Some((at, _)) = sh
                            && at >= lo
                            && at < hi
                        {
                            *slot = at + 1;
                        }
                    }
                    for &from in &starts {
                        let ei = extent(sizes[i], shrink[i], from);
                        let ej = extent(sizes[j], shrink[j], from);
                        let oj = s.offsets[j];
                        if cand < oj + ej && oj < cand + ei {
                            bump = bump.max(oj + ej);
                        }
                    }
                }
                if bump == cand {
                    break;
                }
                cand = bump;
            }
        }
        s.offsets[i] = cand;
        arena = arena.max(cand + sizes[i]);
        let pos = s.placed.partition_point(|&j| s.offsets[j] <= cand);
        s.placed.insert(pos, i);
    }
    arena
}
