// Depthwise convolution (groups = channels), kernel K and stride S fixed per pipeline.
// Weight [C,1,K,K] read through offset + strides: a channel prefix or the centre K×K of a 7×7.

override K: u32 = 3u;
override S: u32 = 1u;

struct P {
    n: u32, c: u32, h: u32, w: u32,
    oh: u32, ow: u32, pad: u32, split: u32,
    w_off: u32, w_sc: u32, w_sy: u32, w_sx: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn tid(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 64u + lid;
}

// Outputs of a row per thread (inputs, in the backward-data pass): 8 at stride 1 on rows of 8
// or more, else 4 (depthwise.rs picks; on lavapipe 8 against 4 takes the 7×7 forward on 16×16
// maps from 5.1 to 7.1 GFLOP/s and gains nothing at stride 2). A thread loads the input span its W
// outputs share once per kernel row: (W − 1)·S + K values, at most ROW.
override W: u32 = 4u;
const WMAX: u32 = 8u;
// Inputs of one residue class per thread in the strided backward-data pass (4 or 8).
override WR: u32 = 4u;
// The longest span: 7·1 + 7 at W = 8 (stride 1), 3·4 + 7 at W = 4 (strides ≤ 4), ⌈7/S⌉ + 7 in
// the strided backward-data pass; conv.rs sends other strides to the direct kernel, and
// depthwise.rs never pairs W = 8 with a stride above 1.
const ROW: u32 = 19u;

@compute @workgroup_size(64)
fn dw_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    let owv = (p.ow + W - 1u) / W;
    if i >= p.n * p.c * p.oh * owv {
        return;
    }
    let ox0 = (i % owv) * W;
    let oy = (i / owv) % p.oh;
    let nc = i / (owv * p.oh);
    let c = nc % p.c;
    let xb = nc * p.h * p.w;
    let wb = p.w_off + c * p.w_sc;
    let span = (W - 1u) * S + K;
    let x0 = i32(ox0 * S) - i32(p.pad);
    var acc: array<f32, WMAX>;
    var row: array<f32, ROW>;
    for (var ky = 0u; ky < K; ky++) {
        let iy = i32(oy * S + ky) - i32(p.pad);
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        let rb = xb + u32(iy) * p.w;
        for (var j = 0u; j < span; j++) {
            let ix = x0 + i32(j);
            row[j] = select(0.0, src[rb + u32(max(ix, 0))], ix >= 0 && ix < i32(p.w));
        }
        for (var kx = 0u; kx < K; kx++) {
            let wv = wt[wb + ky * p.w_sy + kx * p.w_sx];
            for (var v = 0u; v < W; v++) {
                acc[v] += wv * row[kx + v * S];
            }
        }
    }
    let ob = (nc * p.oh + oy) * p.ow + ox0;
    for (var j = 0u; j < W; j++) {
        if ox0 + j < p.ow {
            dst[ob + j] = acc[j];
        }
    }
}

// src = dy, dst = dx. Stride 1: a correlation of dy with the flipped kernel, W inputs of a row
// per thread as in the forward pass. Stride S > 1: input ix receives from output ox only through
// the taps kx ≡ ix + pad (mod S), so a thread takes WR inputs of one residue class (ix, ix + S,
// ix + 2S, …): they meet consecutive outputs, a correlation again on the subsampled row.
@compute @workgroup_size(64)
fn dw_backward_data(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if S == 1u {
        backward_data_s1(i);
    } else {
        backward_data_strided(i);
    }
}

fn backward_data_strided(i: u32) {
    let groups = ((p.w + S - 1u) / S + WR - 1u) / WR;
    if i >= p.n * p.c * p.h * S * groups {
        return;
    }
    let g = i % groups;
    let r = (i / groups) % S;
    let iy = (i / (groups * S)) % p.h;
    let nc = i / (groups * S * p.h);
    let c = nc % p.c;
    // The first input of residue r: (ix + pad) % S == r.
    let ix0 = (r + S - p.pad % S) % S + g * WR * S;
    if ix0 >= p.w {
        return;
    }
    let b0 = (ix0 + p.pad) / S;
    // Taps kx = r + m·S < K; input ix0 + j·S meets output b0 + j − m through tap m. Every loop
    // runs a constant TM = ⌈K/S⌉ times (taps past K weigh zero), so the compiler can unroll them
    // and keep `row` in registers (7×7 on lavapipe: 2.1 → 2.3 GFLOP/s).
    let tm = (K + S - 1u) / S;
    let yb = nc * p.oh * p.ow;
    let wb = p.w_off + c * p.w_sc;
    let o0 = i32(b0) - i32(tm) + 1;
    var acc: array<f32, WMAX>;
    var row: array<f32, ROW>;
    let py = iy + p.pad;
    for (var jy = 0u; jy < tm; jy++) {
        let ky = py % S + jy * S;
        if ky >= K || ky > py {
            continue;
        }
        let oy = (py - ky) / S;
        if oy >= p.oh {
            continue;
        }
        let rb = yb + oy * p.ow;
        for (var t = 0u; t < tm + WR - 1u; t++) {
            let ox = o0 + i32(t);
            row[t] = select(0.0, src[rb + u32(max(ox, 0))], ox >= 0 && ox < i32(p.ow));
        }
        for (var m = 0u; m < tm; m++) {
            let kx = r + m * S;
            let wv = select(0.0, wt[wb + ky * p.w_sy + min(kx, K - 1u) * p.w_sx], kx < K);
            let b = tm - 1u - m;
            for (var v = 0u; v < WR; v++) {
                acc[v] += wv * row[b + v];
            }
        }
    }
    let ob = (nc * p.h + iy) * p.w;
    for (var j = 0u; j < WR; j++) {
        let ix = ix0 + j * S;
        if ix < p.w {
            dst[ob + ix] = acc[j];
        }
    }
}

fn backward_data_s1(i: u32) {
    let wv4 = (p.w + W - 1u) / W;
    if i >= p.n * p.c * p.h * wv4 {
        return;
    }
    let ix0 = (i % wv4) * W;
    let iy = (i / wv4) % p.h;
    let nc = i / (wv4 * p.h);
    let c = nc % p.c;
    let yb = nc * p.oh * p.ow;
    let wb = p.w_off + c * p.w_sc;
    // dx[ix] = Σ_kx dy[ix + pad − kx]·w[kx]: the dy span for W inputs is ix0 + pad − (K−1) ... ix0 + W − 1 + pad.
    let y0 = i32(ix0 + p.pad) - i32(K - 1u);
    let span = W - 1u + K;
    var acc: array<f32, WMAX>;
    var row: array<f32, ROW>;
    for (var ky = 0u; ky < K; ky++) {
        let oy = i32(iy + p.pad) - i32(ky);
        if oy < 0 || oy >= i32(p.oh) {
            continue;
        }
        let rb = yb + u32(oy) * p.ow;
        for (var j = 0u; j < span; j++) {
            let ox = y0 + i32(j);
            row[j] = select(0.0, src[rb + u32(max(ox, 0))], ox >= 0 && ox < i32(p.ow));
        }
        for (var kx = 0u; kx < K; kx++) {
            // input ix0 + v pairs with dy at span index v + K − 1 − kx.
            let wv = wt[wb + ky * p.w_sy + kx * p.w_sx];
            let b = K - 1u - kx;
            for (var v = 0u; v < W; v++) {
                acc[v] += wv * row[b + v];
            }
        }
    }
    let ob = (nc * p.h + iy) * p.w + ix0;
    for (var j = 0u; j < W; j++) {
        if ix0 + j < p.w {
            dst[ob + j] = acc[j];
        }
    }
}

// Weight gradient, pass 1: workgroup (c, s) sums every K×K tap over its share of the output
// rows' W-wide segments; dst = partial sums [split, C, K·K]. wt = dy, src = x. As in the forward
// pass a thread loads the input span of its W outputs once per kernel row (zeros outside the
// image) and adds one W-wide dot product per tap: no bounds test per tap.
var<workgroup> part: array<f32, 3136>; // 64 threads × 49 taps

@compute @workgroup_size(64)
fn dw_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let g = wid.y * nwg.x + wid.x;
    let c = g % p.c;
    let s = g / p.c;
    let in_split = s < p.split;
    var acc: array<f32, 49>;
    let owv = (p.ow + W - 1u) / W;
    let units = p.n * p.oh * owv;
    let span = (W - 1u) * S + K;
    var row: array<f32, ROW>;
    var dy: array<f32, WMAX>;
    if in_split {
        for (var q = s * 64u + lid; q < units; q += p.split * 64u) {
            let ox0 = (q % owv) * W;
            let oy = (q / owv) % p.oh;
            let n = q / (owv * p.oh);
            let yb = ((n * p.c + c) * p.oh + oy) * p.ow + ox0;
            for (var j = 0u; j < W; j++) {
                dy[j] = select(0.0, wt[yb + j], ox0 + j < p.ow);
            }
            let xb = (n * p.c + c) * p.h * p.w;
            let x0 = i32(ox0 * S) - i32(p.pad);
            for (var ky = 0u; ky < K; ky++) {
                let iy = i32(oy * S + ky) - i32(p.pad);
                if iy < 0 || iy >= i32(p.h) {
                    continue;
                }
                let rb = xb + u32(iy) * p.w;
                for (var j = 0u; j < span; j++) {
                    let ix = x0 + i32(j);
                    row[j] = select(0.0, src[rb + u32(max(ix, 0))], ix >= 0 && ix < i32(p.w));
                }
                for (var kx = 0u; kx < K; kx++) {
                    var t = 0.0;
                    for (var v = 0u; v < W; v++) {
                        t += dy[v] * row[kx + v * S];
                    }
                    acc[ky * K + kx] += t;
                }
            }
        }
    }
    for (var t = 0u; t < K * K; t++) {
        part[t * 64u + lid] = acc[t];
    }
    workgroupBarrier();
    if in_split && lid < K * K {
        var sum = 0.0;
        for (var j = 0u; j < 64u; j++) {
            sum += part[lid * 64u + j];
        }
        dst[(s * p.c + c) * K * K + lid] = sum;
    }
}

// Weight gradient, pass 2: dst[c, t] = Σ_s partial[s, c, t]; src = partial.
@compute @workgroup_size(64)
fn dw_weight_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    let per = p.c * K * K;
    if i >= per {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < p.split; s++) {
        sum += src[s * per + i];
    }
    dst[i] = sum;
}
