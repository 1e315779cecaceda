// A bias per channel and an activation in one pass, the epilogue of a convolution or a linear
// layer without batch norm: y = act(x + bias[c]) for x[N, C, inner…] (ACT and act/act_grad come
// from activation.wgsl, prepended by the family's file). Backward recomputes z = x + bias[c]
// and writes dz = dy · act'(z); the bias gradient is dz summed per channel.

struct P {
    len: u32, c: u32, inner: u32, bias_off: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 64u + lid;
}

// The pre-activation of element i.
fn z(i: u32) -> f32 {
    return x[i] + bias[p.bias_off + (i / p.inner) % p.c];
}

// out = act(x + bias[c])
@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.len {
        out[i] = act(z(i));
    }
}

// out = dy · act'(x + bias[c])
@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i < p.len {
        out[i] = dy[i] * act_grad(z(i));
    }
}
