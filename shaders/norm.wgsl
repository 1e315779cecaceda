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

fn at(q: u32, c: u32) -> u32 {
    return ((q / p.hw) * p.c + c) * p.hw + q % p.hw;
}

// One workgroup per channel: mean and variance in one pass over x, as sums of x − K and
// (x − K)² with K one of the channel's own values (the shifted-data algorithm: no cancellation
// when the mean is large against the spread, as long as K is near the data).
@compute @workgroup_size(64)
fn bn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let m = p.n * p.hw;
    var mean: f32;
    var var_b: f32;
    if (p.flags & TRAIN) != 0u {
        let k = x[c * p.hw];
        var s = 0.0;
        var s2 = 0.0;
        if p.hw >= 64u {
            // Plane by plane: no index division per element.
            for (var b = 0u; b < p.n; b++) {
                let base = (b * p.c + c) * p.hw;
                for (var j = lid; j < p.hw; j += 64u) {
                    let d = x[base + j] - k;
                    s += d;
                    s2 += d * d;
                }
            }
        } else {
            for (var q = lid; q < m; q += 64u) {
                let d = x[at(q, c)] - k;
                s += d;
                s2 += d * d;
            }
        }
        let dm = wg_sum(s, lid) / f32(m);
        mean = k + dm;
        var_b = max(wg_sum(s2, lid) / f32(m) - dm * dm, 0.0);
    } else {
        mean = run_mean[c];
        var_b = run_var[c];
    }
    if lid == 0u {
        saved[c] = mean;
        saved[p.c + c] = inverseSqrt(var_b + p.eps);
        if (p.flags & UPDATE_RUNNING) != 0u {
            let unbiased = var_b * f32(m) / f32(max(m, 2u) - 1u);
            run_mean[c] = (1.0 - p.momentum) * run_mean[c] + p.momentum * mean;
            run_var[c] = (1.0 - p.momentum) * run_var[c] + p.momentum * unbiased;
        }
    }
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

// One workgroup per channel: y[c] = Σ dz (dβ), y[C + c] = Σ dz·x̂ (dγ).
@compute @workgroup_size(64)
fn bn_backward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let m = p.n * p.hw;
    let mean = saved[c];
    let rstd = saved[p.c + c];
    var s = 0.0;
    var sx = 0.0;
    if p.hw >= 64u {
        for (var b = 0u; b < p.n; b++) {
            let base = (b * p.c + c) * p.hw;
            for (var j = lid; j < p.hw; j += 64u) {
                let i = base + j;
                let xhat = (x[i] - mean) * rstd;
                let g = dz(i, c, xhat);
                s += g;
                sx += g * xhat;
            }
        }
    } else {
        for (var q = lid; q < m; q += 64u) {
            let i = at(q, c);
            let xhat = (x[i] - mean) * rstd;
            let g = dz(i, c, xhat);
            s += g;
            sx += g * xhat;
        }
    }
    let ts = wg_sum(s, lid);
    let tsx = wg_sum(sx, lid);
    if lid == 0u {
        y[c] = ts;
        y[p.c + c] = tsx;
    }
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
