// Softmax cross-entropy, one thread per row of logits [N, K]. Targets are class indices
// (stored as f32) with label smoothing eps, or with SOFT a probability row per sample
// (distillation from a teacher's softmax).

struct P {
    n: u32, k: u32, soft: u32, eps: f32, scale: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> gout: array<f32>;

fn row_max(r: u32) -> f32 {
    var m = logits[r * p.k];
    for (var j = 1u; j < p.k; j++) {
        m = max(m, logits[r * p.k + j]);
    }
    return m;
}

fn log_sum_exp(r: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < p.k; j++) {
        s += exp(logits[r * p.k + j] - m);
    }
    return m + log(s);
}

fn target_prob(r: u32, j: u32) -> f32 {
    if p.soft != 0u {
        return targets[r * p.k + j];
    }
    let hot = select(0.0, 1.0, u32(targets[r]) == j);
    return (1.0 - p.eps) * hot + p.eps / f32(p.k);
}

@compute @workgroup_size(64)
fn ce_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let r = (wid.y * nwg.x + wid.x) * 64u + lid;
    if r >= p.n {
        return;
    }
    let lse = log_sum_exp(r, row_max(r));
    var loss = 0.0;
    for (var j = 0u; j < p.k; j++) {
        loss += target_prob(r, j) * (lse - logits[r * p.k + j]);
    }
    out[r] = loss;
}

// out = dlogits = gout[0] · scale · (softmax − t)
@compute @workgroup_size(64)
fn ce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let r = (wid.y * nwg.x + wid.x) * 64u + lid;
    if r >= p.n {
        return;
    }
    let lse = log_sum_exp(r, row_max(r));
    let g = gout[0] * p.scale;
    for (var j = 0u; j < p.k; j++) {
        let i = r * p.k + j;
        out[i] = g * (exp(logits[i] - lse) - target_prob(r, j));
    }
}

@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let r = (wid.y * nwg.x + wid.x) * 64u + lid;
    if r >= p.n {
        return;
    }
    let lse = log_sum_exp(r, row_max(r));
    for (var j = 0u; j < p.k; j++) {
        out[r * p.k + j] = exp(logits[r * p.k + j] - lse);
    }
}

// Mean squared error over n elements: out[i] = (pred − target)², one thread per element
// (the mean is taken by the reduce kernel); backward: out[i] = gout[0] · scale · 2 (pred − target).
@compute @workgroup_size(64)
fn mse_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 64u + lid;
    if i >= p.n {
        return;
    }
    let d = logits[i] - targets[i];
    out[i] = d * d;
}

@compute @workgroup_size(64)
fn mse_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 64u + lid;
    if i >= p.n {
        return;
    }
    out[i] = gout[0] * p.scale * 2.0 * (logits[i] - targets[i]);
}
