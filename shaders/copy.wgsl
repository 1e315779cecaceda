// Strided copies between a contiguous tensor and a view (up to 4-D): materialise a view, or
// add a contiguous gradient into the matching slice of a parameter's gradient.

struct P {
    len: u32, off: u32, d1: u32, d2: u32,
    d3: u32, s0: u32, s1: u32, s2: u32,
    s3: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn view_index(i: u32) -> u32 {
    let i3 = i % p.d3;
    let i2 = (i / p.d3) % p.d2;
    let i1 = (i / (p.d3 * p.d2)) % p.d1;
    let i0 = i / (p.d3 * p.d2 * p.d1);
    return p.off + i0 * p.s0 + i1 * p.s1 + i2 * p.s2 + i3 * p.s3;
}

// dst[i] = src[view(i)]
@compute @workgroup_size(64)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 64u + lid;
    if i < p.len {
        dst[i] = src[view_index(i)];
    }
}

// dst[view(i)] += src[i]; a view never maps two elements to one place, so no races.
@compute @workgroup_size(64)
fn scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 64u + lid;
    if i < p.len {
        let j = view_index(i);
        dst[j] += src[i];
    }
}
