// Optimizer updates, one thread per parameter element.

struct P {
    len: u32, flags: u32, lr: f32, momentum: f32,
    weight_decay: f32, beta1: f32, beta2: f32, eps: f32,
    bias_corr1: f32, bias_corr2: f32,
}
const NESTEROV: u32 = 1u;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

fn tid(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 64u + lid;
}

// SGD with momentum (PyTorch's form): b = μb + g + λw; step = g + λw + μb (Nesterov) or b.
@compute @workgroup_size(64)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i >= p.len {
        return;
    }
    let grad = g[i] + p.weight_decay * w[i];
    let buf = p.momentum * m[i] + grad;
    m[i] = buf;
    var step = buf;
    if (p.flags & NESTEROV) != 0u {
        step = grad + p.momentum * buf;
    }
    w[i] -= p.lr * step;
}

// Adam (L2 weight decay added to the gradient, as torch.optim.Adam).
@compute @workgroup_size(64)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i >= p.len {
        return;
    }
    let grad = g[i] + p.weight_decay * w[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * grad;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    w[i] -= p.lr * (mi / p.bias_corr1) / (sqrt(vi / p.bias_corr2) + p.eps);
}
