// Batch norm over NCHW with C active channels (a prefix of the module's channels), with an
// optional activation fused into the same pass (ACT, from activation.wgsl; 99 = none): the
// backward passes recompute the pre-activation z = x̂·γ + β and apply act'(z), so no
// activation pass over memory remains.
// stats: saved[c] = mean, saved[C + c] = 1/sqrt(var + eps) (batch or running statistics).
// Elements per thread in the elementwise passes: 4 when H·W is a multiple of 4 (they then share
// a channel, whose statistics are loaded once), else 1.
override V: u32 = 1u;

struct P {
    n: u32, c: u32, hw: u32, flags: u32,
    eps: f32, momentum: f32,
}
const TRAIN: u32 = 1u;        // batch statistics (else running statistics)
const UPDATE_RUNNING: u32 = 2u;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> saved: array<f32>;
@group(0) @binding(3) var<storage, read_write> run_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> run_var: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read> sums: array<f32>;

// The gradient at the pre-activation of element i (channel c, normalised value xhat).
fn dz(i: u32, c: u32, xhat: f32) -> f32 {
    return dy[i] * act_grad(xhat * gamma[c] + beta[c]);
}

var<workgroup> red: array<f32, 64>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if lid < s {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

// A thread's share of channel c: positions j0, j0 + 64, … (< hw) of images b0, b0 + bstep, ….
// Planes of 64 positions or more are swept plane by plane by the 64 threads of a workgroup;
// smaller ones image-strided (thread lid takes position lid % hw of every (64 / hw)-th image);
// neither needs an index division per element.
struct Share { b0: u32, bstep: u32, j0: u32 }

fn wg_share(lid: u32) -> Share {
    if p.hw >= 64u {
        return Share(0u, 1u, lid);
    }
    let step = 64u / p.hw;
    return Share(select(p.n, lid / p.hw, lid < step * p.hw), step, lid % p.hw);
}

// Shifted sums [Σ(x − k), Σ(x − k)²] over a share of channel c.
fn stats_sums(c: u32, k: f32, sh: Share) -> vec2<f32> {
    var s = vec2<f32>(0.0);
    for (var b = sh.b0; b < p.n; b += sh.bstep) {
        let base = (b * p.c + c) * p.hw;
        for (var j = sh.j0; j < p.hw; j += 64u) {
            let d = x[base + j] - k;
            s += vec2<f32>(d, d * d);
        }
    }
    return s;
}

// Channel c's saved statistics from the shifted sums (or the running ones), and the running
// averages' update.
fn store_stats(c: u32, k: f32, sums: vec2<f32>) {
    let m = p.n * p.hw;
    var mean: f32;
    var var_b: f32;
    if (p.flags & TRAIN) != 0u {
        let dm = sums.x / f32(m);
        mean = k + dm;
        var_b = max(sums.y / f32(m) - dm * dm, 0.0);
    } else {
        mean = run_mean[c];
        var_b = run_var[c];
    }
    saved[c] = mean;
    saved[p.c + c] = inverseSqrt(var_b + p.eps);
    if (p.flags & UPDATE_RUNNING) != 0u {
        let unbiased = var_b * f32(m) / f32(max(m, 2u) - 1u);
        run_mean[c] = (1.0 - p.momentum) * run_mean[c] + p.momentum * mean;
        run_var[c] = (1.0 - p.momentum) * run_var[c] + p.momentum * unbiased;
    }
}

// One workgroup per channel: mean and variance in one pass over x, as sums of x − K and
// (x − K)² with K one of the channel's own values (the shifted-data algorithm: no cancellation
// when the mean is large against the spread, as long as K is near the data).
@compute @workgroup_size(64)
fn bn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let k = x[c * p.hw];
    var sums = vec2<f32>(0.0);
    if (p.flags & TRAIN) != 0u {
        let s = stats_sums(c, k, wg_share(lid));
        sums = vec2<f32>(wg_sum(s.x, lid), wg_sum(s.y, lid));
    }
    if lid == 0u {
        store_stats(c, k, sums);
    }
}

// One thread per channel, for channels of few values (N·H·W ≤ 1,024, batch_norm.rs): a
// workgroup's tree of barriers costs more than the sums there (lavapipe: 64×576×4 took 2 ms).
@compute @workgroup_size(64)
fn bn_stats_thread(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let c = (wid.y * nwg.x + wid.x) * 64u + lid;
    if c >= p.c {
        return;
    }
    let k = x[c * p.hw];
    var sums = vec2<f32>(0.0);
    if (p.flags & TRAIN) != 0u {
        for (var j0 = 0u; j0 < min(p.hw, 64u); j0++) {
            sums += stats_sums(c, k, Share(0u, 1u, j0));
        }
    }
    store_stats(c, k, sums);
}

@compute @workgroup_size(64)
fn bn_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i0 = ((wid.y * nwg.x + wid.x) * 64u + lid) * V;
    if i0 >= p.n * p.c * p.hw {
        return;
    }
    let c = (i0 / p.hw) % p.c;
    let scale = saved[p.c + c] * gamma[c];
    let shift = beta[c] - saved[c] * scale;
    for (var k = 0u; k < V; k++) {
        y[i0 + k] = act(x[i0 + k] * scale + shift);
    }
}

// [Σ dz, Σ dz·x̂] over a share of channel c.
fn grad_sums(c: u32, sh: Share) -> vec2<f32> {
    let mean = saved[c];
    let rstd = saved[p.c + c];
    var s = vec2<f32>(0.0);
    for (var b = sh.b0; b < p.n; b += sh.bstep) {
        let base = (b * p.c + c) * p.hw;
        for (var j = sh.j0; j < p.hw; j += 64u) {
            let i = base + j;
            let xhat = (x[i] - mean) * rstd;
            let g = dz(i, c, xhat);
            s += vec2<f32>(g, g * xhat);
        }
    }
    return s;
}

// One workgroup per channel: y[c] = Σ dz (dβ), y[C + c] = Σ dz·x̂ (dγ).
@compute @workgroup_size(64)
fn bn_backward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let s = grad_sums(c, wg_share(lid));
    let ts = wg_sum(s.x, lid);
    let tsx = wg_sum(s.y, lid);
    if lid == 0u {
        y[c] = ts;
        y[p.c + c] = tsx;
    }
}

// One thread per channel, as bn_stats_thread.
@compute @workgroup_size(64)
fn bn_backward_reduce_thread(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
    let c = (wid.y * nwg.x + wid.x) * 64u + lid;
    if c >= p.c {
        return;
    }
    var s = vec2<f32>(0.0);
    for (var j0 = 0u; j0 < min(p.hw, 64u); j0++) {
        s += grad_sums(c, Share(0u, 1u, j0));
    }
    y[c] = s.x;
    y[p.c + c] = s.y;
}

// dx with batch statistics; `sums` holds the reduce pass's output [Σdz, Σdz·x̂].
@compute @workgroup_size(64)
fn bn_backward_data(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i0 = ((wid.y * nwg.x + wid.x) * 64u + lid) * V;
    if i0 >= p.n * p.c * p.hw {
        return;
    }
    let c = (i0 / p.hw) % p.c;
    let m = f32(p.n * p.hw);
    let rstd = saved[p.c + c];
    let mean = saved[c];
    let k_g = gamma[c] * rstd;
    let train = (p.flags & TRAIN) != 0u;
    let sum_m = select(0.0, sums[c] / m, train);
    let sumx_m = select(0.0, sums[p.c + c] / m, train);
    for (var k = 0u; k < V; k++) {
        let i = i0 + k;
        let xhat = (x[i] - mean) * rstd;
        y[i] = k_g * (dz(i, c, xhat) - sum_m - xhat * sumx_m);
    }
}
