//! The generated C runtime of an exported model: `tinynas_model.h/.c` (geometry, quantization
//! and arena size as macros; weights, int32 biases, multipliers and shifts as `const` arrays;
//! one static arena laid out by `plan`; `tinynas_invoke`) beside the fixed kernels
//! `tinynas_kernels.h/.c`. Portable C99, no heap, no interpreter, no floating point.

use super::files;
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
                // The kernel, its arguments after the output, and the call's comment.
                let (f, rest, note) = if *depthwise {
                    let f = if [3, 5, 7].contains(&k) && [1, 2].contains(&s) {
                        format!("tn_dw_k{k}s{s}")
                    } else {
                        "tn_dw".into()
                    };
                    let need = patch::depthwise_plane(&p, n, op.output, (ys.h, ys.w));
                    check_room(&op.name, "scratch", need, p.scratch_bytes)?;
                    let place = if x == y { ", in place" } else { "" };
                    (f, ", SCRATCH", format!("{what}, k{k} s{s}{place}"))
                } else if pointwise {
                    check_room(&op.name, "scratch", 4 * xs.c as u64, p.scratch_bytes)?;
                    ("tn_pointwise".into(), ", SCRATCH", what)
                } else {
                    let kk = k * k * xs.c;
                    check_room(&op.name, "scratch", (2 * kk * 2) as u64, p.scratch_bytes)?;
                    check_room(
                        &op.name,
                        "kernel buffer",
                        (2 * kk * ys.c) as u64,
                        p.kernel_bytes,
                    )?;
                    (
                        "tn_conv".into(),
                        ", SCRATCH, KBUF",
                        format!("{what}, k{k} s{s}"),
                    )
                };
                if staged {
                    stage_calls.push_str(&patch::conv_call(&p, n, &f, x, y, rest));
                } else {
                    let _ = writeln!(
                        calls,
                        "    {f}(&L{n}, A + {x}, A + {y}{rest}); /* {note} */"
                    );
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
    let (model_h, model_c) = files::model_files(
        q,
        net,
        &p,
        about,
        &mut consts,
        &calls,
        &stage_calls,
        &mut const_bytes,
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
