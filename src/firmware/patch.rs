//! The generated code of a patch stage (`--patch N`, `mcu::patch_code`): per stage op a table
//! of its geometry in every patch (`tn_patch_t`), the op's call with its record's geometry
//! replaced by the patch's, and the driver that runs the stage patch by patch before the rest.

use super::plan::ArenaPlan;
use crate::mcu::patch_code::{PatchCode, Region};
use crate::mcu::sched::depthwise_plane_bytes;
use std::fmt::Write;

use crate::mcu::image::{PATCH_ENTRY_BYTES, PATCH_INPUT_ENTRY_BYTES};

fn code(p: &ArenaPlan) -> &PatchCode {
    p.patch.as_ref().expect("a patch plan")
}

/// Whether step `n` runs per patch.
pub fn in_stage(p: &ArenaPlan, n: usize) -> bool {
    p.patch.as_ref().is_some_and(|c| n <= c.stage_end)
}

/// Whether step `n` ends the stage (it writes each patch into the whole stage output).
fn ends_stage(p: &ArenaPlan, n: usize) -> bool {
    p.patch.as_ref().is_some_and(|c| n == c.stage_end)
}

fn region(p: &ArenaPlan, patch: usize, export_tensor: usize) -> Region {
    let t = p.mcu_tensor[export_tensor].expect("a stage tensor has an MCU tensor");
    code(p).regions[patch][t].expect("a stage tensor has a region in every patch")
}

/// The table `P{n}` of step `n`: per patch its input and output regions, the padding before
/// the input region, where the output region lies in the stage output, and (ADD) in each
/// input's region. Returns its bytes.
pub fn table(out: &mut String, p: &ArenaPlan, n: usize, inputs: &[usize], output: usize) -> u64 {
    let op = &p.graph.ops[n];
    let (k, s) = (op.kernel_size, op.stride);
    let pad = crate::mcu::patch_code::conv_pad(k) as isize;
    let patches = code(p).regions.len();
    let _ = write!(out, "static const tn_patch_t P{n}[{patches}] = {{");
    for q in 0..patches {
        let ro = region(p, q, output);
        let ri = region(p, q, inputs[0]);
        let rb = inputs.get(1).map_or(ri, |&t| region(p, q, t));
        let add = op.kind == crate::mcu::graph::OpKind::Add;
        // An ADD: where its output region lies in each input's region, and that region's
        // width; a convolution: the padding before its input region.
        let (pt, pl, within) = if add {
            let at = |r: Region| [ro.y0 - r.y0, ro.x0 - r.x0, r.w()];
            (0, 0, [at(ri), at(rb)].concat())
        } else {
            (
                ri.y0 as isize + pad - (ro.y0 * s) as isize,
                ri.x0 as isize + pad - (ro.x0 * s) as isize,
                vec![0; 6],
            )
        };
        assert!((0..=pad).contains(&pt) && (0..=pad).contains(&pl));
        let within: Vec<String> = within.iter().map(|v| v.to_string()).collect();
        let _ = write!(
            out,
            "\n    {{{}, {}, {}, {}, {pt}, {pl}, {}, {}, {}}},",
            ri.h(),
            ri.w(),
            ro.h(),
            ro.w(),
            ro.y0,
            ro.x0,
            within.join(", ")
        );
    }
    out.push_str("\n};\n\n");
    PATCH_ENTRY_BYTES * patches as u64
}

/// Where patch `p` of step `n` (the stage's last) writes in the whole stage output, as a C
/// expression, and the output's row length in bytes.
fn into_stage_output(p: &ArenaPlan, n: usize) -> (String, usize) {
    let t = code(p).stage_output(&p.graph);
    let s = p.graph.tensors[t];
    let export_t = p
        .mcu_tensor
        .iter()
        .position(|&m| m == Some(t))
        .expect("the stage output is exported");
    let full = p.offset[export_t].expect("planned");
    (
        format!("A + {full} + (P{n}[p].oy * {} + P{n}[p].ox) * {}", s.w, s.c),
        s.w * s.c,
    )
}

/// A convolution's call in the stage: its record copied, the patch's geometry put in. `f` is
/// the kernel, `rest` its arguments after the output.
pub fn conv_call(p: &ArenaPlan, n: usize, f: &str, x: u64, y: u64, rest: &str) -> String {
    if ends_stage(p, n) {
        // A projection: row by row into the whole stage output.
        let (dst, row) = into_stage_output(p, n);
        format!(
            "    {{ tn_conv_t l = L{n}; tn_geom(&l, &P{n}[p]); tn_pointwise_rows(&l, A + {x}, {dst}, {row}{rest}); }}\n"
        )
    } else {
        format!(
            "    {{ tn_conv_t l = L{n}; tn_geom(&l, &P{n}[p]); {f}(&l, A + {x}, A + {y}{rest}); }}\n"
        )
    }
}

/// An ADD's call in the stage, row by row (its inputs' regions may be wider than its own).
pub fn add_call(p: &ArenaPlan, n: usize, a: u64, b: u64, y: u64, channels: usize) -> String {
    // Into the stage output's rows, or the patch's own contiguous ones.
    let (dst, row) = if ends_stage(p, n) {
        let (dst, row) = into_stage_output(p, n);
        (dst, row.to_string())
    } else {
        (format!("A + {y}"), format!("P{n}[p].ow * {channels}"))
    };
    format!("    tn_add_rows(&L{n}, &P{n}[p], {channels}, A + {a}, A + {b}, {dst}, {row});\n")
}

/// The scratch a depthwise step needs: one padded channel of its largest patch, or of the whole
/// tensor outside the stage.
pub fn depthwise_plane(p: &ArenaPlan, n: usize, output: usize, whole: (usize, usize)) -> u64 {
    let op = &p.graph.ops[n];
    let plane = |h, w| depthwise_plane_bytes(h, w, op.kernel_size, op.stride);
    if !in_stage(p, n) {
        return plane(whole.0, whole.1);
    }
    (0..code(p).regions.len())
        .map(|q| {
            let r = region(p, q, output);
            plane(r.h(), r.w())
        })
        .max()
        .unwrap_or(0)
}

/// The input's window table: per patch the first row and column of the input region.
pub fn input_table(out: &mut String, p: &ArenaPlan) -> u64 {
    let patches = code(p).regions.len();
    let _ = write!(out, "static const uint16_t PIN[{patches}][2] = {{");
    for q in 0..patches {
        let r = region(p, q, 0);
        let _ = write!(out, "\n    {{{}, {}}},", r.y0, r.x0);
    }
    out.push_str("\n};\n\n");
    PATCH_INPUT_ENTRY_BYTES * patches as u64
}

/// The driver: the stage per patch (the input's window copied in first), then the rest.
pub fn driver(p: &ArenaPlan, stage_calls: &str, rest_calls: &str, input_w: usize) -> String {
    let patches = code(p).regions.len();
    let c = p.graph.tensors[0].c;
    let x = p.offset[0].expect("the input window is planned");
    format!(
        "static int8_t tinynas_input_buffer[TINYNAS_INPUT_BYTES] TINYNAS_ALIGN8;\n\
         \n\
         int8_t *tinynas_input(void) {{ return tinynas_input_buffer; }}\n\
         \n\
         /* Patch p of the stage: the input's window, then each op on the patch's regions. */\n\
         static void tinynas_stage(const int8_t *input, uint32_t p) {{\n\
         \x20   tn_window(input, {input_w}, {c}, PIN[p][0], PIN[p][1], P0[p].ih, P0[p].iw, A + {x});\n\
         {stage_calls}}}\n\
         \n\
         static void tinynas_rest(void) {{\n\
         {rest_calls}}}\n\
         \n\
         static void tinynas_from(const int8_t *input) {{\n\
         \x20   for (uint32_t p = 0; p < {patches}; p++) tinynas_stage(input, p);\n\
         \x20   tinynas_rest();\n\
         }}\n\
         \n\
         void tinynas_run(void) {{ tinynas_from(tinynas_input_buffer); }}\n\
         \n\
         void tinynas_invoke(const int8_t *input, int8_t *output) {{\n\
         \x20   tinynas_from(input);\n\
         \x20   if (output) memcpy(output, tinynas_output(), TINYNAS_CLASSES);\n\
         }}\n"
    )
}
