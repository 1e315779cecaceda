// Elementwise ops: activations (ACT picks one per pipeline; act and act_grad come from
// activation.wgsl) and their derivatives, add, accumulate, scale and the per-channel broadcast
// multiply of squeeze-and-excite.

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
