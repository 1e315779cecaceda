/* tinynas_kernels.h: the int8 kernels of tinynas's generated C runtime.
 *
 * Written by `tinynas export`; the same file for every model. Portable C99 (plus GCC/Clang's
 * `__attribute__`), no heap, no floating point. Every kernel computes what TF Lite Micro's
 * reference kernels compute, bit for bit: TFLite's per-channel requantization (a Q31
 * multiplier and a power-of-two shift, double rounding). On cores with the DSP extension
 * (__ARM_FEATURE_DSP: Cortex-M4, M7, M33, M55) the inner products use dual 16-bit
 * multiply-accumulates (SMLAD) and give identical results.
 *
 * Memory: the kernels keep nothing between calls and allocate nothing. Activations are int8
 * HWC; `plane` and `col` are the arena's scratch region (int16), `kbuf` its kernel buffer. */
#ifndef TINYNAS_KERNELS_H_
#define TINYNAS_KERNELS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A convolution (dense k×k, pointwise or depthwise) with its requantization. Zero points of
 * the weights are 0 (TFLite's symmetric int8 weights); padding (top, left) is with the input's
 * zero point, so a padded tap adds nothing. */
typedef struct {
    uint16_t h, w, cin;    /* input */
    uint16_t oh, ow, cout; /* output */
    uint8_t k, s;          /* kernel edge, stride */
    uint8_t pt, pl;        /* padding before the first row and column */
    /* 1: every channel's requantization takes the short form (a right shift of 1 to 22, and
     * |accumulator| < 2^30 proven by the generator from the weights, bias and input range). */
    uint8_t rq_short;
    int16_t zin, zout;     /* input and output zero points */
    int16_t amin, amax;    /* fused activation range (int8) */
    /* Dense and pointwise: OHWI [cout][k][k][cin]; depthwise: [c][k][k]; fully connected:
     * [cout][cin]. */
    const int8_t *weight;
    /* int32 bias; for pointwise, depthwise and fully connected layers the input zero point
     * is folded in (bias − zin·Σw, exact in integers). */
    const int32_t *bias;
    const int32_t *mult; /* Q31 multiplier per output channel */
    const int8_t *shift; /* power-of-two exponent per output channel */
} tn_conv_t;

/* ADD of two int8 tensors, TFLite's way: both inputs shifted left 20 bits and rescaled to
 * twice the larger input scale, summed, rescaled to the output. */
typedef struct {
    uint32_t n;
    int16_t za, zb, zout;
    int32_t ma, mb, mout;
    int8_t sa, sb, sout;
} tn_add_t;

/* Dense k×k convolution (the stem): `col` holds two im2col columns (2·k·k·cin int16), `kbuf`
 * the weights widened to int16 (k·k·cin·cout). */
void tn_conv(const tn_conv_t *L, const int8_t *x, int8_t *restrict y, int16_t *col,
             int16_t *kbuf);

/* 1×1 convolution, stride 1; `col` holds two pixels' channels widened to int16 (4·cin bytes,
 * used on cores with the DSP extension). */
void tn_pointwise(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y,
                  int16_t *restrict col);

/* Depthwise convolution, one channel at a time through `plane` (one padded input channel as
 * int16, the padding the input zero point: (h+2p)·(w+2p) at most). In place when y == x: channel c's outputs overwrite only
 * channel c's inputs, which `plane` already holds. Specialised per kernel and stride. */
void tn_dw_k3s1(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);
void tn_dw_k3s2(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);
void tn_dw_k5s1(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);
void tn_dw_k5s2(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);
void tn_dw_k7s1(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);
void tn_dw_k7s2(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);
/* Any other kernel and stride. */
void tn_dw(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane);

void tn_add(const tn_add_t *L, const int8_t *a, const int8_t *b, int8_t *restrict y);

/* Global average pooling of `hw` pixels of `c` channels (the output keeps the input's scale
 * and zero point). */
void tn_avgpool(uint32_t hw, uint32_t c, const int8_t *restrict x, int8_t *restrict y);

/* Fully connected: L->cin inputs, L->cout outputs, one multiplier and shift. */
void tn_fc(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y);

/* ---- patch-based inference (`tinynas export --patch N`): the first stage patch by patch ---- */

/* One op's geometry in one patch: its input region (rows, columns), its output region, the
 * padding before the input region (the tensor's own border, or 0 inside it), where the output
 * region lies in the stage output (the stage's last op writes it there), and for an ADD where
 * the output region lies in each input's region and that region's width. */
typedef struct {
    uint16_t ih, iw, oh, ow;
    uint16_t pt, pl;
    uint16_t oy, ox;
    uint16_t ay, ax, aw;
    uint16_t by, bx, bw;
} tn_patch_t;

/* A record's geometry replaced by a patch's. */
void tn_geom(tn_conv_t *L, const tn_patch_t *P);

/* Rows y0.. and columns x0.. (h × w pixels of c channels) of an HWC image `width` pixels wide,
 * copied contiguous into y. */
void tn_window(const int8_t *x, uint32_t width, uint32_t c, uint32_t y0, uint32_t x0,
               uint32_t h, uint32_t w, int8_t *restrict y);

/* A 1×1 convolution whose output rows lie `y_row` bytes apart (the stage output). */
void tn_pointwise_rows(const tn_conv_t *L, const int8_t *x, int8_t *y, uint32_t y_row,
                       int16_t *col);

/* ADD on a patch, row by row: P->oh rows of P->ow pixels of `c` channels, each input read at
 * the output region's place in its own region, the output rows `y_row` bytes apart. */
void tn_add_rows(const tn_add_t *L, const tn_patch_t *P, uint32_t c, const int8_t *a,
                 const int8_t *b, int8_t *y, uint32_t y_row);

#ifdef __cplusplus
}
#endif

#endif /* TINYNAS_KERNELS_H_ */
