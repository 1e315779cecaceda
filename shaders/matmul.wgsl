// Batched strided GEMM: C[b] (+)= A[b] · B[b] (+ bias), or with REDUCE_BATCH C = Σ_b A[b]·B[b].
// Strides make transposes and weight views (channel prefixes) free. Each thread owns a 4x4 tile
// of C held in registers; no workgroup memory, so it runs the same on every adapter.
// `bias` is always bound (any read-only buffer when BIAS_COL is off).

struct P {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, a_sb: u32, a_sm: u32, a_sk: u32,
    b_off: u32, b_sb: u32, b_sk: u32, b_sn: u32,
    c_off: u32, c_sb: u32, c_sm: u32, c_sn: u32,
    flags: u32, bias_off: u32,
}
const ACCUMULATE: u32 = 1u;
const REDUCE_BATCH: u32 = 2u;
const BIAS_COL: u32 = 4u;

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const TILE: u32 = 4u;
const WG: u32 = 8u;

fn gemm(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, use_bias: bool) {
    let tiles_n = (p.n + TILE * WG - 1u) / (TILE * WG);
    let tiles_m = (p.m + TILE * WG - 1u) / (TILE * WG);
    let idx = wid.y * nwg.x + wid.x;
    let tn = idx % tiles_n;
    let rest = idx / tiles_n;
    let tm = rest % tiles_m;
    let bb = rest / tiles_m;
    let reduce = (p.flags & REDUCE_BATCH) != 0u;
    if (!reduce && bb >= p.batch) || (reduce && bb >= 1u) {
        return;
    }
    let m0 = (tm * WG + lid.y) * TILE;
    let n0 = (tn * WG + lid.x) * TILE;
    if m0 >= p.m || n0 >= p.n {
        return;
    }
    var acc: array<vec4<f32>, 4>;
    var rows: vec4<u32>;
    var cols: vec4<u32>;
    for (var i = 0u; i < TILE; i++) {
        rows[i] = min(m0 + i, p.m - 1u);
        cols[i] = min(n0 + i, p.n - 1u);
    }
    var b_first = bb;
    var b_last = bb + 1u;
    if reduce {
        b_first = 0u;
        b_last = p.batch;
    }
    for (var ib = b_first; ib < b_last; ib++) {
        let ab = p.a_off + ib * p.a_sb;
        let bbase = p.b_off + ib * p.b_sb;
        let ar = vec4<u32>(ab) + rows * p.a_sm;
        let bc = vec4<u32>(bbase) + cols * p.b_sn;
        for (var kk = 0u; kk < p.k; kk++) {
            let ak = kk * p.a_sk;
            let bk = kk * p.b_sk;
            let av = vec4<f32>(a[ar.x + ak], a[ar.y + ak], a[ar.z + ak], a[ar.w + ak]);
            let bv = vec4<f32>(b[bc.x + bk], b[bc.y + bk], b[bc.z + bk], b[bc.w + bk]);
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
    }
    let cb = p.c_off + bb * p.c_sb;
    for (var i = 0u; i < TILE; i++) {
        let mi = m0 + i;
        if mi >= p.m {
            break;
        }
        for (var j = 0u; j < TILE; j++) {
            let nj = n0 + j;
            if nj >= p.n {
                break;
            }
            var v = acc[i][j];
            if use_bias {
                v += bias[p.bias_off + nj];
            }
            let ci = cb + mi * p.c_sm + nj * p.c_sn;
            if (p.flags & ACCUMULATE) != 0u {
                v += c[ci];
            }
            c[ci] = v;
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    gemm(wid, nwg, lid, (p.flags & BIAS_COL) != 0u);
}
