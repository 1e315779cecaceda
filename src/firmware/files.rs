//! The two model files of the generated runtime around its layers: `tinynas_model.h` (the
//! geometry, quantization, arena and API a firmware engineer reads) and `tinynas_model.c`'s
//! frame (the arena, the input table, `tinynas_run`/`tinynas_invoke`, layer by layer or with
//! the patch stage's driver).

use super::patch;
use super::plan::ArenaPlan;
use crate::arch::net::Network;
use crate::export::QGraph;
use std::fmt::Write;

/// `tinynas_model.h` and `tinynas_model.c`: the layers' constants `consts` (the input table is
/// added to them) and their calls (`stage_calls` those of a patch stage); `const_bytes` counts
/// the tables added.
#[allow(clippy::too_many_arguments)]
pub(super) fn model_files(
    q: &QGraph,
    net: &Network,
    p: &ArenaPlan,
    about: &str,
    consts: &mut String,
    calls: &str,
    stage_calls: &str,
    const_bytes: &mut u64,
) -> (String, String) {
    let g = &q.graph;
    let table = q.input_table();
    *const_bytes += 256 * table.len() as u64;
    let s = g.input();
    let (pin, pout) = (q.params[0], q.params[g.output()]);
    let input_off = p.offset[0].expect("the input is planned");
    let output_off = p.offset[g.output()].expect("the logits are planned");
    if p.patch.is_some() {
        *const_bytes += patch::input_table(consts, p);
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
    model_c.push_str(consts);
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
        model_c.push_str(&patch::driver(p, stage_calls, calls, s.w));
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
    (model_h, model_c)
}
