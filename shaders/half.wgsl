// f16 storage of saved activations: f32 values packed two to a 32-bit word (pack2x16float,
// core WGSL: no shader-f16 needed), and unpacked back to f32 when backward needs them. The
// centred variants round x − shift[channel] (batch norm's input minus its channel mean) and add
// the shift back on unpacking.

struct P { n: u32, c: u32, inner: u32 }

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src_f32: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst_u32: array<u32>;
@group(0) @binding(3) var<storage, read> src_u32: array<u32>;
@group(0) @binding(4) var<storage, read_write> dst_f32: array<f32>;
@group(0) @binding(5) var<storage, read> shift: array<f32>;

// f16's largest finite value: beyond it pack2x16float's result is unspecified.
const F16_MAX: f32 = 65504.0;

fn word(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * 64u + lid;
}

fn channel_shift(j: u32) -> f32 {
    return shift[(j / p.inner) % p.c];
}

// Word i holds values 2i (low half) and 2i + 1 (high half); an odd count pads the last with 0.
fn pack_pair(i: u32, s: vec2<f32>) {
    let j = 2u * i;
    var v = vec2<f32>(src_f32[j], 0.0);
    if j + 1u < p.n {
        v.y = src_f32[j + 1u];
    }
    dst_u32[i] = pack2x16float(clamp(v - s, vec2<f32>(-F16_MAX), vec2<f32>(F16_MAX)));
}

fn unpack_pair(i: u32, s: vec2<f32>) {
    let j = 2u * i;
    let v = unpack2x16float(src_u32[i]) + s;
    dst_f32[j] = v.x;
    if j + 1u < p.n {
        dst_f32[j + 1u] = v.y;
    }
}

@compute @workgroup_size(64)
fn pack(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = word(wid, nwg, lid);
    if 2u * i < p.n {
        pack_pair(i, vec2<f32>(0.0));
    }
}

@compute @workgroup_size(64)
fn unpack(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = word(wid, nwg, lid);
    if 2u * i < p.n {
        unpack_pair(i, vec2<f32>(0.0));
    }
}

fn pair_shift(i: u32) -> vec2<f32> {
    let j = 2u * i;
    return vec2<f32>(channel_shift(j), select(0.0, channel_shift(j + 1u), j + 1u < p.n));
}

@compute @workgroup_size(64)
fn pack_centred(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = word(wid, nwg, lid);
    if 2u * i < p.n {
        pack_pair(i, pair_shift(i));
    }
}

@compute @workgroup_size(64)
fn unpack_centred(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = word(wid, nwg, lid);
    if 2u * i < p.n {
        unpack_pair(i, pair_shift(i));
    }
}
