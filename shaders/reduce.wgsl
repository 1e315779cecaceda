// Reductions: per-(n,c) plane sums (global average pool, the SE scale gradient), sums over
// axes 0 and 2 of [A,B,C] (bias gradients), a whole-tensor sum, and broadcasts back.

struct P {
    a: u32, b: u32, c: u32, alpha: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, 256>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if lid < s {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    return red[0];
}

// out[r] = alpha · Σ_j x[r·c + j]; one workgroup per row r < a (p.c = row length).
@compute @workgroup_size(256)
fn row_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let r = wid.y * nwg.x + wid.x;
    var s = 0.0;
    if r < p.a {
        for (var j = lid; j < p.c; j += 256u) {
            s += x[r * p.c + j];
        }
    }
    let t = wg_sum(s, lid);
    if lid == 0u && r < p.a {
        out[r] = p.alpha * t;
    }
}

// out[r] = Σ_j x[r·c + j] · y[r·c + j]
@compute @workgroup_size(256)
fn row_dot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let r = wid.y * nwg.x + wid.x;
    var s = 0.0;
    if r < p.a {
        for (var j = lid; j < p.c; j += 256u) {
            s += x[r * p.c + j] * y[r * p.c + j];
        }
    }
    let t = wg_sum(s, lid);
    if lid == 0u && r < p.a {
        out[r] = p.alpha * t;
    }
}

// x viewed as [A,B,C]: out[b] = alpha · Σ_{a,c} x[a,b,c]; one workgroup per b.
@compute @workgroup_size(256)
fn sum_outer(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let bi = wid.y * nwg.x + wid.x;
    var s = 0.0;
    if bi < p.b {
        for (var q = lid; q < p.a * p.c; q += 256u) {
            s += x[((q / p.c) * p.b + bi) * p.c + q % p.c];
        }
    }
    let t = wg_sum(s, lid);
    if lid == 0u && bi < p.b {
        out[bi] = p.alpha * t;
    }
}

// out[i] = alpha · x[i / c]: spreads per-row values (or a scalar with c = len) back.
@compute @workgroup_size(256)
fn broadcast_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if i < p.a * p.c {
        out[i] = p.alpha * x[i / p.c];
    }
}

// out[r] = alpha · Σ_j x[r·c + j], one thread per row: for many short rows (global average
// pooling of small feature maps), where a workgroup and its barriers per row cost far more.
@compute @workgroup_size(64)
fn row_sum_thread(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let r = (wid.y * nwg.x + wid.x) * 64u + lid;
    if r >= p.a {
        return;
    }
    var s = 0.0;
    for (var j = 0u; j < p.c; j++) {
        s += x[r * p.c + j];
    }
    out[r] = p.alpha * s;
}
