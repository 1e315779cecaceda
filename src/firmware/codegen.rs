//! The generated C runtime of an exported model: `tinynas_model.h/.c` (geometry, quantization
//! and arena size as macros; weights, int32 biases, multipliers and shifts as `const` arrays;
//! one static arena laid out by `plan`; `tinynas_invoke`) beside the fixed kernels
//! `tinynas_kernels.h/.c`. Portable C99, no heap, no interpreter, no floating point.

use super::patch;
use super::plan::{ArenaPlan, Stage, Step, plan};
use super::requant::{centred_max, check_shifts, folded_bias, rq_short};
use super::unsupported;
use crate::arch::net::Network;
use crate::export::QGraph;
use crate::export::fixed::activation_range;
use crate::export::graph::OpKind;
use crate::{Error, Result};
use std::fmt::{Display, Write};

/// The kernels, the same for every model.
pub const KERNELS_H: &str = include_str!("runtime/tinynas_kernels.h");
pub const KERNELS_C: &str = include_str!("runtime/tinynas_kernels.c");

/// The files of the generated runtime, in the order `Sources::files` gives them.
pub const C_FILES: [&str; 4] = [
    "tinynas_model.h",
    "tinynas_model.c",
    "tinynas_kernels.h",
    "tinynas_kernels.c",
];

/// The generated sources and the plan they were laid out by.
#[derive(Clone, Debug)]
pub struct Sources {
    pub model_h: String,
    pub model_c: String,
    pub plan: ArenaPlan,
    /// Bytes of the `const` arrays (weights, biases, multipliers, shifts, the input table).
    pub const_bytes: u64,
    /// Ops of the generated code (PADs fused).
    pub steps: usize,
}

impl Sources {
    /// (file name, contents) of the four files.
    pub fn files(&self) -> [(&'static str, &str); 4] {
        [
            (C_FILES[0], self.model_h.as_str()),
            (C_FILES[1], self.model_c.as_str()),
            (C_FILES[2], KERNELS_H),
            (C_FILES[3], KERNELS_C),
        ]
    }
}

/// `static const <ty> <name>[n] = {…};` with `per_line` values a line.
fn array<T: Display>(out: &mut String, ty: &str, name: &str, values: &[T], per_line: usize) {
    let _ = write!(
        out,
        "static const {ty} {name}[{}] = {{",
        values.len().max(1)
    );
    if values.is_empty() {
        out.push('0');
    }
    for (i, v) in values.iter().enumerate() {
        if i % per_line == 0 {
            out.push_str("\n   ");
        }
        let _ = write!(out, " {v},");
    }
    out.push_str("\n};\n");
}

fn u16_field(what: &str, op: &str, v: usize) -> Result<usize> {
    if v > u16::MAX as usize {
        return Err(unsupported(format!("{op}: {what} {v} (at most 65,535)")));
    }
    Ok(v)
}

/// The C sources of `q`, the exported graph of network `net`, layer by layer; `about` is one
/// line naming it.
pub fn generate(q: &QGraph, net: &Network, about: &str) -> Result<Sources> {
    generate_staged(q, net, about, Stage::Whole)
}

/// The C sources of `q` with its first stage run as `stage` says.
pub fn generate_staged(q: &QGraph, net: &Network, about: &str, stage: Stage) -> Result<Sources> {
    let p = plan(q, net, stage)?;
    let g = &q.graph;
    let mut consts = String::new();
    let mut calls = String::new();
    let mut stage_calls = String::new();
    let mut const_bytes = 0u64;
    let off = |t: usize| -> u64 { p.offset[t].expect("a step reads a planned tensor") };
    for (n, step) in p.steps.iter().enumerate() {
        let Step {
            op: i,
            inputs,
            pad_top,
            pad_left,
        } = step;
        let op = &g.ops[*i];
        let qop = &q.ops[*i];
        let (xs, ys) = (g.shapes[inputs[0]], g.shapes[op.output]);
        let (pi, po) = (q.params[inputs[0]], q.params[op.output]);
        let (x, y) = (off(inputs[0]), off(op.output));
        let shape = |s: crate::export::graph::Shape| format!("{}x{}x{}", s.h, s.w, s.c);
        let staged = patch::in_stage(&p, n);
        if staged {
            const_bytes += patch::table(&mut consts, &p, n, inputs, op.output);
        } else {
            let _ = writeln!(calls, "    TINYNAS_LAYER_HOOK({n});");
        }
        match &op.kind {
            OpKind::Conv {
                depthwise,
                kernel,
                stride,
                relu6,
                ..
            } => {
                let (k, s) = (*kernel, *stride);
                if k > 255 || s > 255 || *pad_top > 255 || *pad_left > 255 {
                    return Err(unsupported(format!(
                        "{}: kernel {k}, stride {s}, padding {pad_top}",
                        op.name
                    )));
                }
                for (what, v) in [
                    ("height", xs.h),
                    ("width", xs.w),
                    ("channels", xs.c),
                    ("output channels", ys.c),
                ] {
                    u16_field(what, &op.name, v)?;
                }
                let (mult, shift) = q.conv_multipliers(*i);
                check_shifts(&op.name, &shift, 30)?;
                let (amin, amax) = activation_range(*relu6, po.scale, po.zero_point);
                let pointwise = !depthwise && k == 1 && s == 1 && *pad_top == 0;
                // Weights in the kernels' layout; the input zero point folded into the bias
                // where the kernel reads raw int8 (pointwise, depthwise).
                let (weight, bias) = if *depthwise {
                    let c = ys.c;
                    let mut w = vec![0i8; qop.weight.len()];
                    for ch in 0..c {
                        for t in 0..k * k {
                            w[ch * k * k + t] = qop.weight[t * c + ch];
                        }
                    }
                    let b = folded_bias(&op.name, &w, &qop.bias, k * k, pi.zero_point)?;
                    (w, b)
                } else if pointwise {
                    let b = folded_bias(&op.name, &qop.weight, &qop.bias, xs.c, pi.zero_point)?;
                    (qop.weight.clone(), b)
                } else {
                    (qop.weight.clone(), qop.bias.clone())
                };
                emit_layer(
                    &mut consts,
                    n,
                    &op.name,
                    &weight,
                    &bias,
                    &mult,
                    &shift,
                    &mut const_bytes,
                );
                // Pointwise and depthwise read raw int8 (their bias folded), the stem x − zin.
                let xmax = if pointwise || *depthwise {
                    128
                } else {
                    centred_max(pi.zero_point)
                };
                let short = rq_short(&weight, &bias, &shift, xmax) as u8;
                let _ = writeln!(
                    consts,
                    "static const tn_conv_t L{n} = {{{}, {}, {}, {}, {}, {}, {k}, {s}, {pad_top}, {pad_left}, {short}, {}, {}, {amin}, {amax}, w{n}, b{n}, m{n}, s{n}}};\n",
                    xs.h, xs.w, xs.c, ys.h, ys.w, ys.c, pi.zero_point, po.zero_point
                );
                let what = format!("{}: {} -> {}", op.name, shape(xs), shape(ys));
                if *depthwise {
                    let f = if [3, 5, 7].contains(&k) && [1, 2].contains(&s) {
                        format!("tn_dw_k{k}s{s}")
                    } else {
                        "tn_dw".into()
                    };
                    let need = patch::depthwise_plane(&p, n, op.output, (ys.h, ys.w));
                    check_room(&op.name, "scratch", need, p.scratch_bytes)?;
                    if staged {
                        stage_calls.push_str(&patch::conv_call(&p, n, &f, x, y, ", SCRATCH"));
                    } else {
                        let _ = writeln!(
                            calls,
                            "    {f}(&L{n}, A + {x}, A + {y}, SCRATCH); /* {what}, k{k} s{s}{} */",
                            if x == y { ", in place" } else { "" }
                        );
                    }
                } else if pointwise {
                    check_room(&op.name, "scratch", 4 * xs.c as u64, p.scratch_bytes)?;
                    if staged {
                        stage_calls.push_str(&patch::conv_call(
                            &p,
                            n,
                            "tn_pointwise",
                            x,
                            y,
                            ", SCRATCH",
                        ));
                    } else {
                        let _ = writeln!(
                            calls,
                            "    tn_pointwise(&L{n}, A + {x}, A + {y}, SCRATCH); /* {what} */"
                        );
                    }
                } else {
                    let kk = k * k * xs.c;
                    check_room(&op.name, "scratch", (2 * kk * 2) as u64, p.scratch_bytes)?;
                    check_room(
                        &op.name,
                        "kernel buffer",
                        (2 * kk * ys.c) as u64,
                        p.kernel_bytes,
                    )?;
                    if staged {
                        stage_calls.push_str(&patch::conv_call(
                            &p,
                            n,
                            "tn_conv",
                            x,
                            y,
                            ", SCRATCH, KBUF",
                        ));
                    } else {
                        let _ = writeln!(
                            calls,
                            "    tn_conv(&L{n}, A + {x}, A + {y}, SCRATCH, KBUF); /* {what}, k{k} s{s} */"
                        );
                    }
                }
            }
            OpKind::FullyConnected => {
                let (mult, shift) = q.conv_multipliers(*i);
                check_shifts(&op.name, &shift, 30)?;
                let cin = xs.len();
                u16_field("inputs", &op.name, cin)?;
                u16_field("outputs", &op.name, ys.c)?;
                let bias = folded_bias(&op.name, &qop.weight, &qop.bias, cin, pi.zero_point)?;
                // One multiplier and shift (the first) for every output.
                let short = rq_short(&qop.weight, &bias, &shift[..1], 128) as u8;
                emit_layer(
                    &mut consts,
                    n,
                    &op.name,
                    &qop.weight,
                    &bias,
                    &mult,
                    &shift,
                    &mut const_bytes,
                );
                let _ = writeln!(
                    consts,
                    "static const tn_conv_t L{n} = {{1, 1, {cin}, 1, 1, {}, 1, 1, 0, 0, {short}, {}, {}, -128, 127, w{n}, b{n}, m{n}, s{n}}};\n",
                    ys.c, pi.zero_point, po.zero_point
                );
                let _ = writeln!(
                    calls,
                    "    tn_fc(&L{n}, A + {x}, A + {y}); /* {}: {cin} -> {} */",
                    op.name, ys.c
                );
            }
            OpKind::Add => {
                let (mult, shift, left) = q.add_multipliers(*i);
                if left != 20 {
                    return Err(unsupported(format!(
                        "{}: an ADD left shift of {left}",
                        op.name
                    )));
                }
                check_shifts(&op.name, &shift, 0)?;
                let pb = q.params[inputs[1]];
                let _ = writeln!(
                    consts,
                    "/* {} */\nstatic const tn_add_t L{n} = {{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}}};\n",
                    op.name,
                    ys.len(),
                    pi.zero_point,
                    pb.zero_point,
                    po.zero_point,
                    mult[0],
                    mult[1],
                    mult[2],
                    shift[0],
                    shift[1],
                    shift[2]
                );
                const_bytes += 32;
                if staged {
                    stage_calls.push_str(&patch::add_call(&p, n, x, off(inputs[1]), y, ys.c));
                } else {
                    let _ = writeln!(
                        calls,
                        "    tn_add(&L{n}, A + {x}, A + {}, A + {y}); /* {}: {} */",
                        off(inputs[1]),
                        op.name,
                        shape(ys)
                    );
                }
            }
            OpKind::AvgPool => {
                let _ = writeln!(
                    calls,
                    "    tn_avgpool({}, {}, A + {x}, A + {y}); /* {}: {} -> {} */",
                    xs.h * xs.w,
                    xs.c,
                    op.name,
                    shape(xs),
                    ys.c
                );
            }
            OpKind::Pad { .. } => unreachable!("PADs are fused into the convolution after them"),
        }
    }
    let table = q.input_table();
    const_bytes += 256 * table.len() as u64;
    let s = g.input();
    let (pin, pout) = (q.params[0], q.params[g.output()]);
    let input_off = p.offset[0].expect("the input is planned");
    let output_off = p.offset[g.output()].expect("the logits are planned");
    if p.patch.is_some() {
        const_bytes += patch::input_table(&mut consts, &p);
    }
    let input_doc = match &p.patch {
        None => "/* The input inside the arena: fill it, then call tinynas_run(). */\n\
                 int8_t *tinynas_input(void);"
            .to_string(),
        Some(c) => format!(
            "/* Patch-based inference (MCUNetV2): the first {} layers run on {}x{} patches\n\
              * ({} of them), the rest layer by layer. tinynas_invoke() reads its input where it\n\
              * lies, window by window, and never writes it; tinynas_input() is a buffer of its own\n\
              * (TINYNAS_INPUT_BYTES of SRAM beside the arena) for tinynas_run(). */\n\
             #define TINYNAS_PATCHES {}\n\
             #define TINYNAS_PATCH_COUNT {}\n\
             int8_t *tinynas_input(void);",
            c.stage_end + 1,
            c.patches,
            c.patches,
            c.regions.len(),
            c.patches,
            c.regions.len()
        ),
    };
    let macs: u64 = crate::mcu::walk::build(net).macs();
    let model_h = format!(
        "/* {about}\n * Written by `tinynas export`; do not edit. */\n\
         #ifndef TINYNAS_MODEL_H_\n\
         #define TINYNAS_MODEL_H_\n\
         \n\
         #include <stdint.h>\n\
         \n\
         #ifdef __cplusplus\n\
         extern \"C\" {{\n\
         #endif\n\
         \n\
         /* Input: int8 [{h}][{w}][{c}] (HWC), real = (q - zero point) * scale. Fill it from pixels\n\
          * with tinynas_input_table[channel][pixel] (the normalisation of training included). */\n\
         #define TINYNAS_INPUT_HEIGHT {h}\n\
         #define TINYNAS_INPUT_WIDTH {w}\n\
         #define TINYNAS_INPUT_CHANNELS {c}\n\
         #define TINYNAS_INPUT_BYTES {inb}\n\
         #define TINYNAS_INPUT_SCALE {is:e}f\n\
         #define TINYNAS_INPUT_ZERO_POINT ({iz})\n\
         extern const int8_t tinynas_input_table[{c}][256];\n\
         \n\
         /* Output: int8 [{k}] logits; the class is the first largest. */\n\
         #define TINYNAS_CLASSES {k}\n\
         #define TINYNAS_OUTPUT_SCALE {os:e}f\n\
         #define TINYNAS_OUTPUT_ZERO_POINT ({oz})\n\
         \n\
         /* The one static arena (SRAM), laid out at generation time by TinyEngine's planner\n\
          * (`tinynas mem --scheduler tinyengine`): activations, then the scratch region, then the\n\
          * kernel buffer. Define TINYNAS_ARENA_SECTION when compiling tinynas_model.c to place it\n\
          * (e.g. `__attribute__((section(\".dtcm\")))`); it is 8-byte aligned with GCC, Clang and\n\
          * Arm's compilers — another compiler must align it to at least 4 bytes. */\n\
         #define TINYNAS_ARENA_BYTES {arena}\n\
         #define TINYNAS_ACTIVATION_BYTES {act}\n\
         #define TINYNAS_SCRATCH_BYTES {scr}\n\
         #define TINYNAS_KERNEL_BUFFER_BYTES {kb}\n\
         extern int8_t tinynas_arena[TINYNAS_ARENA_BYTES];\n\
         \n\
         #define TINYNAS_MACS {macs}\n\
         #define TINYNAS_LAYERS {layers}\n\
         \n\
         {input_doc}\n\
         /* The logits inside the arena, valid after tinynas_run() until the next run. */\n\
         const int8_t *tinynas_output(void);\n\
         /* One inference on the input in the arena. The run consumes the input (later layers\n\
          * reuse its bytes): fill it again before every run. */\n\
         void tinynas_run(void);\n\
         /* One inference: copies `input` (TINYNAS_INPUT_BYTES) into the arena (unless it is\n\
          * tinynas_input() itself, which must then be filled again first), runs, and copies the\n\
          * logits to `output` (TINYNAS_CLASSES; NULL: leave them in the arena). */\n\
         void tinynas_invoke(const int8_t *input, int8_t *output);\n\
         /* The class of a row of logits: the first largest. */\n\
         int tinynas_argmax(const int8_t *logits);\n\
         \n\
         #ifdef __cplusplus\n\
         }}\n\
         #endif\n\
         \n\
         #endif /* TINYNAS_MODEL_H_ */\n",
        h = s.h,
        w = s.w,
        c = s.c,
        inb = s.len(),
        is = pin.scale,
        iz = pin.zero_point,
        k = g.classes(),
        os = pout.scale,
        oz = pout.zero_point,
        arena = p.total_bytes(),
        act = p.activation_bytes,
        scr = p.scratch_bytes,
        kb = p.kernel_bytes,
        layers = p.steps.len(),
    );
    let mut model_c = format!(
        "/* {about}\n * Written by `tinynas export`; do not edit. */\n\
         #include \"tinynas_model.h\"\n\
         \n\
         #include <string.h>\n\
         \n\
         #include \"tinynas_kernels.h\"\n\
         \n\
         #ifndef TINYNAS_ARENA_SECTION\n\
         #define TINYNAS_ARENA_SECTION\n\
         #endif\n\
         #if defined(__GNUC__) || defined(__clang__) || defined(__ARMCC_VERSION)\n\
         #define TINYNAS_ALIGN8 __attribute__((aligned(8)))\n\
         #else\n\
         #define TINYNAS_ALIGN8 /* the arena must be 4-byte aligned: see tinynas_model.h */\n\
         #endif\n\
         /* Called before each layer (0 .. TINYNAS_LAYERS - 1): profiling. */\n\
         #ifndef TINYNAS_LAYER_HOOK\n\
         #define TINYNAS_LAYER_HOOK(i)\n\
         #endif\n\
         \n\
         TINYNAS_ARENA_SECTION int8_t tinynas_arena[TINYNAS_ARENA_BYTES] TINYNAS_ALIGN8;\n\
         \n"
    );
    model_c.push_str(&consts);
    crate::export::carray::input_table(&mut model_c, &table);
    let _ = write!(
        model_c,
        "\n\
         const int8_t *tinynas_output(void) {{ return tinynas_arena + {output_off}; }}\n\
         \n\
         #define A tinynas_arena\n\
         #define SCRATCH ((int16_t *)(void *)(tinynas_arena + TINYNAS_ACTIVATION_BYTES))\n\
         #define KBUF ((int16_t *)(void *)(tinynas_arena + TINYNAS_ACTIVATION_BYTES + TINYNAS_SCRATCH_BYTES))\n\
         \n"
    );
    if p.patch.is_some() {
        model_c.push_str(&patch::driver(&p, &stage_calls, &calls, s.w));
    } else {
        let _ = write!(
            model_c,
            "int8_t *tinynas_input(void) {{ return tinynas_arena + {input_off}; }}\n\
             \n\
             void tinynas_run(void) {{\n\
             {calls}}}\n\
             \n\
             void tinynas_invoke(const int8_t *input, int8_t *output) {{\n\
             \x20   if (input != tinynas_input()) memcpy(tinynas_input(), input, TINYNAS_INPUT_BYTES);\n\
             \x20   tinynas_run();\n\
             \x20   if (output) memcpy(output, tinynas_output(), TINYNAS_CLASSES);\n\
             }}\n"
        );
    }
    let _ = write!(
        model_c,
        "\n\
         int tinynas_argmax(const int8_t *logits) {{\n\
         \x20   int best = 0;\n\
         \x20   for (int i = 1; i < TINYNAS_CLASSES; i++)\n\
         \x20       if (logits[i] > logits[best]) best = i;\n\
         \x20   return best;\n\
         }}\n"
    );
    Ok(Sources {
        model_h,
        model_c,
        steps: p.steps.len(),
        plan: p,
        const_bytes,
    })
}

fn check_room(op: &str, region: &str, need: u64, have: u64) -> Result<()> {
    if need > have {
        return Err(Error::Invalid(format!(
            "firmware: {op} needs {need} B of {region}, the plan holds {have} B (the estimate must count it)"
        )));
    }
    Ok(())
}

/// A layer's arrays: weights, biases, multipliers, shifts.
#[allow(clippy::too_many_arguments)]
fn emit_layer(
    out: &mut String,
    n: usize,
    name: &str,
    weight: &[i8],
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
    bytes: &mut u64,
) {
    let _ = writeln!(out, "/* {name} */");
    array(out, "int8_t", &format!("w{n}"), weight, 24);
    array(out, "int32_t", &format!("b{n}"), bias, 8);
    array(out, "int32_t", &format!("m{n}"), mult, 8);
    array(out, "int8_t", &format!("s{n}"), shift, 24);
    *bytes +=
        weight.len() as u64 + 4 * bias.len() as u64 + 4 * mult.len() as u64 + shift.len() as u64;
}
