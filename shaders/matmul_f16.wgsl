// f16 arithmetic for the GEMM (`--f16`, adapters with shader-f16; compiled after matmul.wgsl
// with `enable f16;` in front). Operands are read as f32, multiplied by a power of two
// (p.scale_a, p.scale_b: matmul.rs scales incoming gradients up so that small values stay in
// f16's normal range; exact, undone at the end) and rounded to f16. Each 4-deep block of k is
// multiplied and summed in f16 (vec4<f16> FMAs); the blocks are summed in f32.

fn accumulate_f16(t: Tile) -> array<vec4<f32>, 4> {
    var acc: array<vec4<f32>, 4>;
    let range = batch_range(t);
    let sa = p.scale_a;
    let sb = p.scale_b;
    for (var ib = range.x; ib < range.y; ib++) {
        let ab = p.a_off + ib * p.a_sb;
        let bbase = p.b_off + ib * p.b_sb;
        let ar = vec4<u32>(ab) + t.rows * p.a_sm;
        let bc = vec4<u32>(bbase) + t.b_col;
        var kk = 0u;
        for (; kk + 4u <= p.k; kk += 4u) {
            let at = mat4x4<f16>(block_a(t, ab, kk) * sa);
            let bt = mat4x4<f16>(block_b(t, bbase, kk) * sb);
            var part: array<vec4<f16>, 4>;
            for (var i = 0u; i < 4u; i++) {
                part[0] += at[i].x * bt[i];
                part[1] += at[i].y * bt[i];
                part[2] += at[i].z * bt[i];
                part[3] += at[i].w * bt[i];
            }
            for (var r = 0u; r < 4u; r++) {
                acc[r] += vec4<f32>(part[r]);
            }
        }
        for (; kk < p.k; kk++) {
            let av = vec4<f16>(load_a(ar, ab + t.m0, kk) * sa);
            let bv = vec4<f16>(load_b(bc, bc.x, kk) * sb);
            acc[0] += vec4<f32>(av.x * bv);
            acc[1] += vec4<f32>(av.y * bv);
            acc[2] += vec4<f32>(av.z * bv);
            acc[3] += vec4<f32>(av.w * bv);
        }
    }
    let unscale = 1.0 / (sa * sb);
    for (var r = 0u; r < 4u; r++) {
        acc[r] *= unscale;
    }
    return acc;
}

@compute @workgroup_size(8, 8, 1)
fn matmul_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = tile(wid, nwg, lid);
    if !t.valid {
        return;
    }
    store(t, accumulate_f16(t));
}
