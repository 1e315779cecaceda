// Direct 2-D convolution, any stride, padding and groups (NCHW). The weight is read through
// offset + strides, so an out/in-channel prefix or a centre crop of a larger kernel is a view.

struct P {
    n: u32, cin: u32, h: u32, w: u32,
    cout: u32, oh: u32, ow: u32, groups: u32,
    kh: u32, kw: u32, stride: u32, pad: u32,
    w_off: u32, w_s0: u32, w_s1: u32, w_s2: u32,
    w_s3: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn tid(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 64u + lid;
}

fn widx(co: u32, ci: u32, ky: u32, kx: u32) -> u32 {
    return p.w_off + co * p.w_s0 + ci * p.w_s1 + ky * p.w_s2 + kx * p.w_s3;
}

// src = x, dst = y: one thread per 4 consecutive outputs of a row (the index arithmetic and
// the weight loads are shared by the 4).
@compute @workgroup_size(64)
fn conv_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    let segs = (p.ow + 3u) / 4u;
    if i >= p.n * p.cout * p.oh * segs {
        return;
    }
    let ox0 = (i % segs) * 4u;
    let r = i / segs;
    let oy = r % p.oh;
    let co = (r / p.oh) % p.cout;
    let n = r / (p.oh * p.cout);
    let cig = p.cin / p.groups;
    let g = co / (p.cout / p.groups);
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < cig; c++) {
        let xc = (n * p.cin + g * cig + c) * p.h;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            if iy < 0 || iy >= i32(p.h) {
                continue;
            }
            let row = (xc + u32(iy)) * p.w;
            for (var kx = 0u; kx < p.kw; kx++) {
                let wv = wt[widx(co, c, ky, kx)];
                for (var j = 0u; j < 4u; j++) {
                    let ix = i32((ox0 + j) * p.stride + kx) - i32(p.pad);
                    if ix >= 0 && ix < i32(p.w) {
                        acc[j] += src[row + u32(ix)] * wv;
                    }
                }
            }
        }
    }
    let out = r * p.ow + ox0;
    for (var j = 0u; j < 4u && ox0 + j < p.ow; j++) {
        dst[out + j] = acc[j];
    }
}

// src = dy, dst = dx: one thread per input element.
@compute @workgroup_size(64)
fn conv_backward_data(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = tid(wid, nwg, lid);
    if i >= p.n * p.cin * p.h * p.w {
        return;
    }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.cin;
    let n = i / (p.w * p.h * p.cin);
    let cig = p.cin / p.groups;
    let cog = p.cout / p.groups;
    let g = ci / cig;
    let c = ci % cig;
    var acc = 0.0;
    for (var o = 0u; o < cog; o++) {
        let co = g * cog + o;
        let yc = (n * p.cout + co) * p.oh;
        for (var ky = 0u; ky < p.kh; ky++) {
            let ty = i32(iy + p.pad) - i32(ky);
            if ty < 0 || (u32(ty) % p.stride) != 0u || u32(ty) / p.stride >= p.oh {
                continue;
            }
            let oy = u32(ty) / p.stride;
            for (var kx = 0u; kx < p.kw; kx++) {
                let tx = i32(ix + p.pad) - i32(kx);
                if tx < 0 || (u32(tx) % p.stride) != 0u || u32(tx) / p.stride >= p.ow {
                    continue;
                }
                acc += src[(yc + oy) * p.ow + u32(tx) / p.stride] * wt[widx(co, c, ky, kx)];
            }
        }
    }
    dst[i] = acc;
}

// wt = dy (contiguous), src = x, dst = dW contiguous [cout, cin/groups, kh, kw].
// One workgroup per weight element; 64 threads split the N·OH·OW sum, then a tree reduction.
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn conv_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let e = wid.y * nwg.x + wid.x;
    let cig = p.cin / p.groups;
    let total = p.cout * cig * p.kh * p.kw;
    let kx = e % p.kw;
    let ky = (e / p.kw) % p.kh;
    let c = (e / (p.kw * p.kh)) % cig;
    let co = e / (p.kw * p.kh * cig);
    let g = co / (p.cout / p.groups);
    let ci = g * cig + c;
    let positions = p.n * p.oh * p.ow;
    var acc = 0.0;
    if e < total {
        // Position q = (n, oy, ox) advances by 64 a step; its coordinates are carried along
        // instead of divided out again (three divisions per position cost more than the FMA).
        var ox = lid % p.ow;
        var oy = (lid / p.ow) % p.oh;
        var n = lid / (p.ow * p.oh);
        let step_x = 64u % p.ow;
        let step_y = 64u / p.ow;
        for (var q = lid; q < positions; q += 64u) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            let ix = i32(ox * p.stride + kx) - i32(p.pad);
            if iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
                let dy = wt[((n * p.cout + co) * p.oh + oy) * p.ow + ox];
                acc += dy * src[((n * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix)];
            }
            ox += step_x;
            oy += step_y;
            if ox >= p.ow {
                ox -= p.ow;
                oy += 1u;
            }
            // On maps smaller than 64 positions a step crosses whole images.
            while oy >= p.oh {
                oy -= p.oh;
                n += 1u;
            }
        }
    }
    part[lid] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if lid < s {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    if lid == 0u && e < total {
        dst[e] = part[0];
    }
}

// im2col for groups = 1: dst[n, (ci·kh + ky)·kw + kx, oy, ox] = x[n, ci, oy·s + ky − pad,
// ox·s + kx − pad] (0 outside the image); src = x. One thread per output row of one
// (image, kernel tap), so the index arithmetic is shared by the row.
@compute @workgroup_size(64)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = tid(wid, nwg, lid);
    let ck = p.cin * p.kh * p.kw;
    if t >= p.n * ck * p.oh {
        return;
    }
    let oy = t % p.oh;
    let nr = t / p.oh;
    let r = nr % ck;
    let n = nr / ck;
    let kx = r % p.kw;
    let ky = (r / p.kw) % p.kh;
    let ci = r / (p.kw * p.kh);
    let iy = i32(oy * p.stride + ky) - i32(p.pad);
    let ob = t * p.ow;
    if iy < 0 || iy >= i32(p.h) {
        for (var ox = 0u; ox < p.ow; ox++) {
            dst[ob + ox] = 0.0;
        }
        return;
    }
    let rb = ((n * p.cin + ci) * p.h + u32(iy)) * p.w;
    for (var ox = 0u; ox < p.ow; ox++) {
        let ix = i32(ox * p.stride + kx) - i32(p.pad);
        dst[ob + ox] = select(0.0, src[rb + u32(max(ix, 0))], ix >= 0 && ix < i32(p.w));
    }
}
