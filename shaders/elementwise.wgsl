// Elementwise ops: activations (ACT picks one per pipeline) and their derivatives, add,
// accumulate, scale and the per-channel broadcast multiply of squeeze-and-excite.

override ACT: u32 = 0u; // 0 relu, 1 relu6, 2 h-swish, 3 h-sigmoid, 4 sigmoid

struct P {
    len: u32, hw: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn tid(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 64u + lid;
}

fn act(x: f32) -> f32 {
    switch ACT {
        case 0u: { return max(x, 0.0); }
        case 1u: { return clamp(x, 0.0, 6.0); }
        case 2u: { return x * clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        case 3u: { return clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        default: { return 1.0 / (1.0 + exp(-x)); }
    }
}

// d act / dx, with the subgradient 0 at the kinks (as PyTorch).
fn act_grad(x: f32) -> f32 {
    switch ACT {
        case 0u: { return select(0.0, 1.0, x > 0.0); }
        case 1u: { return select(0.0, 1.0, x > 0.0 && x < 6.0); }
        case 2u: {
            if x <= -3.0 { return 0.0; }
            if x >= 3.0 { return 1.0; }
            return (2.0 * x + 3.0) / 6.0;
        }
        case 3u: { return select(0.0, 1.0 / 6.0, x > -3.0 && x < 3.0); }
        default: {
            let s = 1.0 / (1.0 + exp(-x));
            return s * (1.0 - s);
        }
    }
}

@compute @workgroup_size(64)
fn act_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i < p.len {
        out[i] = act(a[i]);
    }
}

// a = x, b = dy.
@compute @workgroup_size(64)
fn act_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i < p.len {
        out[i] = b[i] * act_grad(a[i]);
    }
}

@compute @workgroup_size(64)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i < p.len {
        out[i] = a[i] + b[i];
    }
}

// out += alpha · a
@compute @workgroup_size(64)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i < p.len {
        out[i] += p.alpha * a[i];
    }
}

// out = alpha · a
@compute @workgroup_size(64)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i < p.len {
        out[i] = p.alpha * a[i];
    }
}

// out[n,c,hw] = a[n,c,hw] · b[n,c]
@compute @workgroup_size(64)
fn mul_channel(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i < p.len {
        out[i] = a[i] * b[i / p.hw];
    }
}
