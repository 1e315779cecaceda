// Batched strided GEMM: C[b] (+)= A[b] · B[b] (+ bias), or with REDUCE_BATCH C = Σ_b A[b]·B[b].
// Strides make transposes and weight views (channel prefixes) free. Each thread owns a 4x4 tile
// of C held in registers; no workgroup memory, so it runs the same on every adapter.
// `bias` is always bound (any read-only buffer when BIAS_COL is off).
//
// Vectorized loads: where an operand is contiguous along one of its dimensions and 16-byte
// aligned (matmul.rs checks), it is also bound as vec4s (a4, b4 alias a, b) and read 4 at a time:
// VA = 1: A contiguous along m, VA = 2: along k; VB = 1: B contiguous along n, VB = 2: along k.
// With either operand contiguous along k, k advances 4 at a time (a 4x4 block of each operand).
// Lanes past the matrix edge read neighbouring (or zero) values into rows/columns never written.
override VA: u32 = 0u;
override VB: u32 = 0u;

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
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;

const TILE: u32 = 4u;
const WG: u32 = 8u;

// A[rows, k]: `ar` holds the rows' starts, `a0` the first row's start (VA = 1: 4 rows at once).
fn load_a(ar: vec4<u32>, a0: u32, k: u32) -> vec4<f32> {
    let ak = k * p.a_sk;
    if VA == 1u {
        return a4[(a0 + ak) / 4u];
    }
    return vec4<f32>(a[ar.x + ak], a[ar.y + ak], a[ar.z + ak], a[ar.w + ak]);
}

// B[k, cols]: `bc` holds the columns' starts, `b0` the first column's start (VB = 1).
fn load_b(bc: vec4<u32>, b0: u32, k: u32) -> vec4<f32> {
    let bk = k * p.b_sk;
    if VB == 1u {
        return b4[(b0 + bk) / 4u];
    }
    return vec4<f32>(b[bc.x + bk], b[bc.y + bk], b[bc.z + bk], b[bc.w + bk]);
}

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
        var kk = 0u;
        if VA == 2u || VB == 2u {
            for (; kk + 4u <= p.k; kk += 4u) {
                // at[t] = A[rows, kk + t] and bt[t] = B[kk + t, cols] for t < 4.
                var at: mat4x4<f32>;
                var bt: mat4x4<f32>;
                if VA == 2u {
                    at = transpose(mat4x4<f32>(a4[(ar.x + kk) / 4u], a4[(ar.y + kk) / 4u],
                                               a4[(ar.z + kk) / 4u], a4[(ar.w + kk) / 4u]));
                } else {
                    for (var t = 0u; t < 4u; t++) {
                        at[t] = load_a(ar, ab + m0, kk + t);
                    }
                }
                if VB == 2u {
                    bt = transpose(mat4x4<f32>(b4[(bc.x + kk) / 4u], b4[(bc.y + kk) / 4u],
                                               b4[(bc.z + kk) / 4u], b4[(bc.w + kk) / 4u]));
                } else {
                    for (var t = 0u; t < 4u; t++) {
                        bt[t] = load_b(bc, bbase + n0, kk + t);
                    }
                }
                for (var t = 0u; t < 4u; t++) {
                    acc[0] += at[t].x * bt[t];
                    acc[1] += at[t].y * bt[t];
                    acc[2] += at[t].z * bt[t];
                    acc[3] += at[t].w * bt[t];
                }
            }
        }
        for (; kk < p.k; kk++) {
            let av = load_a(ar, ab + m0, kk);
            let bv = load_b(bc, bbase + n0, kk);
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
