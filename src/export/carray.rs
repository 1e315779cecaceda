//! The model as C++ source the way TF Lite Micro firmware embeds it: `model_data.h` declares a
//! 16-byte aligned byte array, its length, the input and output geometry and the per-channel
//! table that maps a sensor pixel to the model's int8 input; `model_data.cc` defines them.

use super::quant::QGraph;
use std::fmt::Write;

/// (model_data.h, model_data.cc) for the model `tflite` of `q`; `about` is one line naming it.
pub fn sources(q: &QGraph, tflite: &[u8], about: &str, arena_bytes: u64) -> (String, String) {
    let g = &q.graph;
    let (i, o) = (q.params[0], q.params[g.output()]);
    let s = g.input();
    let table = q.input_table();
    let h = format!(
        "// {about}\n\
         // Written by `tinynas export`; do not edit.\n\
         #ifndef TINYNAS_MODEL_DATA_H_\n\
         #define TINYNAS_MODEL_DATA_H_\n\
         \n\
         #include <stdint.h>\n\
         \n\
         // The .tflite flatbuffer: pass it to tflite::GetModel().\n\
         extern const unsigned char g_model_data[];\n\
         extern const unsigned int g_model_data_len;\n\
         \n\
         // Input: int8 [1][{h}][{w}][{c}] (NHWC), scale {is:e}, zero point {iz}. Fill it from\n\
         // pixels with tinynas_input_table[channel][pixel].\n\
         #define TINYNAS_INPUT_HEIGHT {h}\n\
         #define TINYNAS_INPUT_WIDTH {w}\n\
         #define TINYNAS_INPUT_CHANNELS {c}\n\
         extern const int8_t tinynas_input_table[{c}][256];\n\
         \n\
         // Output: int8 [1][{k}] logits, scale {os:e}, zero point {oz}; the class is the argmax.\n\
         #define TINYNAS_CLASSES {k}\n\
         \n\
         // The tensor arena to reserve: TFLM's planned head (exact) + its persistent tail as\n\
         // tinynas estimates it for a 32-bit MCU, rounded up to 16 bytes, + 16 for alignment.\n\
         #define TINYNAS_ARENA_BYTES {arena_bytes}\n\
         \n\
         #endif  // TINYNAS_MODEL_DATA_H_\n",
        h = s.h,
        w = s.w,
        c = s.c,
        is = i.scale,
        iz = i.zero_point,
        os = o.scale,
        oz = o.zero_point,
        k = g.classes(),
    );
    let mut cc = String::with_capacity(tflite.len() * 6 + 4096);
    let _ = write!(
        cc,
        "// {about}\n// Written by `tinynas export`; do not edit.\n#include \"model_data.h\"\n\nalignas(16) const unsigned char g_model_data[] = {{\n"
    );
    for line in tflite.chunks(16) {
        cc.push_str("   ");
        for b in line {
            let _ = write!(cc, " 0x{b:02x},");
        }
        cc.push('\n');
    }
    let _ = write!(
        cc,
        "}};\nconst unsigned int g_model_data_len = {};\n\n",
        tflite.len()
    );
    input_table(&mut cc, &table);
    (h, cc)
}

/// The definition of `tinynas_input_table` (one row of 256 per input channel), as
/// model_data.cc and the generated C runtime both carry it.
pub fn input_table(out: &mut String, table: &[[i8; 256]]) {
    let _ = writeln!(
        out,
        "const int8_t tinynas_input_table[{}][256] = {{",
        table.len()
    );
    for t in table {
        out.push_str("  {");
        for (j, v) in t.iter().enumerate() {
            if j % 16 == 0 {
                out.push_str("\n   ");
            }
            let _ = write!(out, " {v},");
        }
        out.push_str("\n  },\n");
    }
    out.push_str("};\n");
}
