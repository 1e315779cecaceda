// Batched strided GEMM: C[b] (+)= A[b] · B[b] (+ bias), or with REDUCE_BATCH C = Σ_b A[b]·B[b].
// Strides make transposes and weight views (channel prefixes) free. Columns are numbered across
// batch entries when matmul.rs folds a batch that shares A into the columns (a pointwise
// convolution of a 4x4 feature map is one GEMM with 64·16 columns, not 64 GEMMs with 16):
// column j is entry j / n_in, column j % n_in (without folding, n_in = n and the entry is 0). Each thread owns a 4x4 tile
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
    scale_a: f32, scale_b: f32, // matmul_f16.wgsl only
    n_in: u32,
    // REDUCE_BATCH in chunks (matmul.rs splits sums over many images into few tiles): workgroup
    // row bb sums entries [bb·chunk, (bb + 1)·chunk) into slab bb of C; 0 = one sum over all.
    chunk: u32,
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

// One thread's 4x4 tile of C: its first row and column, batch entry, clamped rows/columns, and
// the columns' offsets in B and C from the batch entry's start.
struct Tile {
    m0: u32, n0: u32, bb: u32,
    rows: vec4<u32>, cols: vec4<u32>,
    b_col: vec4<u32>, c_col: vec4<u32>,
    valid: bool,
}

fn tile(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> Tile {
    var t: Tile;
    let tiles_n = (p.n + TILE * WG - 1u) / (TILE * WG);
    let tiles_m = (p.m + TILE * WG - 1u) / (TILE * WG);
    let idx = wid.y * nwg.x + wid.x;
    let tn = idx % tiles_n;
    let rest = idx / tiles_n;
    t.bb = rest / tiles_m;
    t.m0 = (rest % tiles_m * WG + lid.y) * TILE;
    t.n0 = (tn * WG + lid.x) * TILE;
    let reduce = (p.flags & REDUCE_BATCH) != 0u;
    let slabs = select(1u, (p.batch + p.chunk - 1u) / max(p.chunk, 1u), p.chunk > 0u);
    t.valid = !((!reduce && t.bb >= p.batch) || (reduce && t.bb >= slabs)) && t.m0 < p.m && t.n0 < p.n;
    // One division: the next columns step on from the first (clamped ones repeat the last).
    var entry = min(t.n0, p.n - 1u) / p.n_in;
    var col = min(t.n0, p.n - 1u) % p.n_in;
    for (var i = 0u; i < TILE; i++) {
        t.rows[i] = min(t.m0 + i, p.m - 1u);
        t.cols[i] = min(t.n0 + i, p.n - 1u);
        if i > 0u && t.cols[i] != t.cols[i - 1u] {
            col += 1u;
            if col == p.n_in {
                col = 0u;
                entry += 1u;
            }
        }
        t.b_col[i] = entry * p.b_sb + col * p.b_sn;
        t.c_col[i] = entry * p.c_sb + col * p.c_sn;
    }
    return t;
}

// The batch entries a tile sums over: its own, or all of them with REDUCE_BATCH.
fn batch_range(t: Tile) -> vec2<u32> {
    if (p.flags & REDUCE_BATCH) != 0u {
        if p.chunk > 0u {
            return vec2<u32>(t.bb * p.chunk, min((t.bb + 1u) * p.chunk, p.batch));
        }
        return vec2<u32>(0u, p.batch);
    }
    return vec2<u32>(t.bb, t.bb + 1u);
}

// Columns t < 4 of the blocks A[rows, kk..kk+4] and B[kk..kk+4, cols]: at[t] = A[rows, kk + t],
// bt[t] = B[kk + t, cols].
fn block_a(t: Tile, ab: u32, kk: u32) -> mat4x4<f32> {
    let ar = vec4<u32>(ab) + t.rows * p.a_sm;
    if VA == 2u {
        return transpose(mat4x4<f32>(a4[(ar.x + kk) / 4u], a4[(ar.y + kk) / 4u],
                                     a4[(ar.z + kk) / 4u], a4[(ar.w + kk) / 4u]));
    }
    var at: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        at[i] = load_a(ar, ab + t.m0, kk + i);
    }
    return at;
}

fn block_b(t: Tile, bbase: u32, kk: u32) -> mat4x4<f32> {
    let bc = vec4<u32>(bbase) + t.b_col;
    if VB == 2u {
        return transpose(mat4x4<f32>(b4[(bc.x + kk) / 4u], b4[(bc.y + kk) / 4u],
                                     b4[(bc.z + kk) / 4u], b4[(bc.w + kk) / 4u]));
    }
    var bt: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        bt[i] = load_b(bc, bc.x, kk + i);
    }
    return bt;
}

fn accumulate(t: Tile) -> array<vec4<f32>, 4> {
    var acc: array<vec4<f32>, 4>;
    let range = batch_range(t);
    for (var ib = range.x; ib < range.y; ib++) {
        let ab = p.a_off + ib * p.a_sb;
        let bbase = p.b_off + ib * p.b_sb;
        let ar = vec4<u32>(ab) + t.rows * p.a_sm;
        let bc = vec4<u32>(bbase) + t.b_col;
        var kk = 0u;
        if VA == 2u || VB == 2u {
            for (; kk + 4u <= p.k; kk += 4u) {
                let at = block_a(t, ab, kk);
                let bt = block_b(t, bbase, kk);
                for (var i = 0u; i < 4u; i++) {
                    acc[0] += at[i].x * bt[i];
                    acc[1] += at[i].y * bt[i];
                    acc[2] += at[i].z * bt[i];
                    acc[3] += at[i].w * bt[i];
                }
            }
        }
        for (; kk < p.k; kk++) {
            let av = load_a(ar, ab + t.m0, kk);
            let bv = load_b(bc, bc.x, kk);
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
    }
    return acc;
}

fn store(t: Tile, acc: array<vec4<f32>, 4>) {
    let cb = p.c_off + t.bb * p.c_sb;
    for (var i = 0u; i < TILE; i++) {
        let mi = t.m0 + i;
        if mi >= p.m {
            break;
        }
        for (var j = 0u; j < TILE; j++) {
            let nj = t.n0 + j;
            if nj >= p.n {
                break;
            }
            var v = acc[i][j];
            if (p.flags & BIAS_COL) != 0u {
                v += bias[p.bias_off + nj % p.n_in];
            }
            let ci = cb + mi * p.c_sm + t.c_col[j];
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
    let t = tile(wid, nwg, lid);
    if !t.valid {
        return;
    }
    store(t, accumulate(t));
}

// C (+)= Σ_s slab s of `a` ([batch = slabs, m, n] contiguous): the second half of a split sum.
@compute @workgroup_size(64)
fn matmul_sum_parts(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 64u + lid;
    let mn = p.m * p.n;
    if i >= mn {
        return;
    }
    var v = 0.0;
    for (var s = 0u; s < p.batch; s++) {
        v += a[s * mn + i];
    }
    let ci = p.c_off + (i / p.n) * p.c_sm + (i % p.n) * p.c_sn;
    if (p.flags & ACCUMULATE) != 0u {
        v += c[ci];
    }
    c[ci] = v;
}
