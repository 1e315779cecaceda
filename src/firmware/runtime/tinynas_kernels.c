/* tinynas_kernels.c: the int8 kernels of tinynas's generated C runtime (see the header).
 * Written by `tinynas export`; the same file for every model. */
#include "tinynas_kernels.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(TINYNAS_NO_DSP)
#include <arm_acle.h>
#define TN_DSP 1
#else
#define TN_DSP 0
#endif

#if defined(__GNUC__)
#define TN_INLINE static inline __attribute__((always_inline))
#else
#define TN_INLINE static inline
#endif

/* ---- TFLite's fixed-point requantization (gemmlowp), exactly as the reference kernels ---- */

/* SaturatingRoundingDoublingHighMul(a, b) for b ≥ 0 (every multiplier here is in [2^30, 2^31)
 * or 0, so the one saturating case, a = b = INT32_MIN, cannot occur): gemmlowp's
 * (a·b + nudge) / 2^31 truncated toward zero, with nudge 2^30 for a·b ≥ 0 and 1 − 2^30 below,
 * is (a·b + 2^30) >> 31 with an arithmetic shift in both cases. */
TN_INLINE int32_t tn_srdhm(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT(x, e), e in 0..31: x / 2^e rounded half away from zero. */
TN_INLINE int32_t tn_rdbpot(int32_t x, int32_t e) {
    const int32_t mask = (int32_t)((1u << e) - 1u);
    const int32_t rem = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + (rem > threshold);
}

/* MultiplyByQuantizedMultiplier(acc, m, shift). */
TN_INLINE int32_t tn_mbqm(int32_t acc, int32_t m, int32_t shift) {
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return tn_rdbpot(tn_srdhm((int32_t)((uint32_t)acc << left), m), right);
}

TN_INLINE int8_t tn_out(int32_t acc, int32_t m, int32_t shift, int32_t zout, int32_t amin,
                        int32_t amax) {
    int32_t v = tn_mbqm(acc, m, shift) + zout;
    v = v < amin ? amin : v;
    v = v > amax ? amax : v;
    return (int8_t)v;
}

#if TN_DSP
/* x rotated right by 8 bits (folded into SXTB16's rotation by the compiler). */
TN_INLINE int32_t tn_ror8(int32_t x) {
    return (int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24));
}

/* Four bytes, or two int16, from any address (one LDR on ARMv7-M). */
TN_INLINE int32_t tn_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
#endif

/* ---- dense k×k convolution (the stem): im2col of two pixels, int16 weights ---- */

/* Column of output pixel (oy, ox): the k·k·cin taps in OHWI order, input − zin, 0 outside. */
static void tn_im2col(const tn_conv_t *L, const int8_t *x, uint32_t oy, uint32_t ox,
                      int16_t *col) {
    const int32_t k = L->k, cin = L->cin, zin = L->zin;
    for (int32_t ky = 0; ky < k; ky++) {
        const int32_t iy = (int32_t)(oy * L->s) + ky - L->pt;
        for (int32_t kx = 0; kx < k; kx++) {
            const int32_t ix = (int32_t)(ox * L->s) + kx - L->pl;
            int16_t *dst = col + (ky * k + kx) * cin;
            if (iy < 0 || iy >= L->h || ix < 0 || ix >= L->w) {
                for (int32_t c = 0; c < cin; c++) dst[c] = 0;
            } else {
                const int8_t *src = x + ((uint32_t)iy * L->w + (uint32_t)ix) * cin;
                for (int32_t c = 0; c < cin; c++) dst[c] = (int16_t)(src[c] - zin);
            }
        }
    }
}

/* Σ a[i]·b[i] over n int16 pairs, added to acc. */
TN_INLINE int32_t tn_dot16(const int16_t *a, const int16_t *b, uint32_t n, int32_t acc) {
    uint32_t i = 0;
#if TN_DSP
    for (; i + 2 <= n; i += 2) acc = __smlad(tn_ld32(a + i), tn_ld32(b + i), acc);
#endif
    for (; i < n; i++) acc += (int32_t)a[i] * b[i];
    return acc;
}

void tn_conv(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *col, int16_t *kbuf) {
    const uint32_t kk = (uint32_t)L->k * L->k * L->cin, cout = L->cout;
    const uint32_t n = (uint32_t)L->oh * L->ow;
    for (uint32_t i = 0; i < kk * cout; i++) kbuf[i] = L->weight[i];
    for (uint32_t q = 0; q < n; q += 2) {
        const uint32_t pixels = q + 1 < n ? 2 : 1;
        for (uint32_t j = 0; j < pixels; j++)
            tn_im2col(L, x, (q + j) / L->ow, (q + j) % L->ow, col + j * kk);
        for (uint32_t o = 0; o < cout; o++) {
            const int16_t *w = kbuf + o * kk;
            for (uint32_t j = 0; j < pixels; j++) {
                const int32_t acc = tn_dot16(w, col + j * kk, kk, L->bias[o]);
                y[(q + j) * cout + o] =
                    tn_out(acc, L->mult[o], L->shift[o], L->zout, L->amin, L->amax);
            }
        }
    }
}

/* ---- pointwise (1×1) convolution ---- */

/* One pixel, every output channel (bias has −zin·Σw folded in). */
static void tn_pointwise_pixel(const tn_conv_t *L, const int8_t *x, int8_t *y) {
    const uint32_t cin = L->cin, cout = L->cout;
    for (uint32_t o = 0; o < cout; o++) {
        const int8_t *w = L->weight + o * cin;
        int32_t acc = L->bias[o];
        for (uint32_t i = 0; i < cin; i++) acc += (int32_t)x[i] * w[i];
        y[o] = tn_out(acc, L->mult[o], L->shift[o], L->zout, L->amin, L->amax);
    }
}

void tn_pointwise(const tn_conv_t *L, const int8_t *x, int8_t *y) {
    const uint32_t n = (uint32_t)L->h * L->w, cin = L->cin, cout = L->cout;
    uint32_t p = 0;
#if TN_DSP
    /* Two pixels by two output channels: four bytes of each widened to int16 pairs (the even
     * and the odd bytes), eight dual multiply-accumulates. */
    for (; p + 2 <= n; p += 2) {
        const int8_t *x0 = x + p * cin, *x1 = x0 + cin;
        int8_t *y0 = y + p * cout, *y1 = y0 + cout;
        uint32_t o = 0;
        for (; o + 2 <= cout; o += 2) {
            const int8_t *w0 = L->weight + o * cin, *w1 = w0 + cin;
            int32_t a00 = L->bias[o], a01 = L->bias[o + 1];
            int32_t a10 = a00, a11 = a01;
            uint32_t i = 0;
            for (; i + 4 <= cin; i += 4) {
                const int32_t va = tn_ld32(x0 + i), vb = tn_ld32(x1 + i);
                const int32_t wa = tn_ld32(w0 + i), wb = tn_ld32(w1 + i);
                const int32_t wa0 = __sxtb16(wa), wa1 = __sxtb16(tn_ror8(wa));
                const int32_t wb0 = __sxtb16(wb), wb1 = __sxtb16(tn_ror8(wb));
                const int32_t va0 = __sxtb16(va), va1 = __sxtb16(tn_ror8(va));
                const int32_t vb0 = __sxtb16(vb), vb1 = __sxtb16(tn_ror8(vb));
                a00 = __smlad(va0, wa0, a00);
                a00 = __smlad(va1, wa1, a00);
                a01 = __smlad(va0, wb0, a01);
                a01 = __smlad(va1, wb1, a01);
                a10 = __smlad(vb0, wa0, a10);
                a10 = __smlad(vb1, wa1, a10);
                a11 = __smlad(vb0, wb0, a11);
                a11 = __smlad(vb1, wb1, a11);
            }
            for (; i < cin; i++) {
                a00 += (int32_t)x0[i] * w0[i];
                a01 += (int32_t)x0[i] * w1[i];
                a10 += (int32_t)x1[i] * w0[i];
                a11 += (int32_t)x1[i] * w1[i];
            }
            const int32_t m0 = L->mult[o], m1 = L->mult[o + 1];
            const int32_t s0 = L->shift[o], s1 = L->shift[o + 1];
            y0[o] = tn_out(a00, m0, s0, L->zout, L->amin, L->amax);
            y0[o + 1] = tn_out(a01, m1, s1, L->zout, L->amin, L->amax);
            y1[o] = tn_out(a10, m0, s0, L->zout, L->amin, L->amax);
            y1[o + 1] = tn_out(a11, m1, s1, L->zout, L->amin, L->amax);
        }
        for (; o < cout; o++) {
            const int8_t *w0 = L->weight + o * cin;
            int32_t a0 = L->bias[o], a1 = a0;
            for (uint32_t i = 0; i < cin; i++) {
                a0 += (int32_t)x0[i] * w0[i];
                a1 += (int32_t)x1[i] * w0[i];
            }
            y0[o] = tn_out(a0, L->mult[o], L->shift[o], L->zout, L->amin, L->amax);
            y1[o] = tn_out(a1, L->mult[o], L->shift[o], L->zout, L->amin, L->amax);
        }
    }
#endif
    for (; p < n; p++) tn_pointwise_pixel(L, x + p * cin, y + p * cout);
}

/* ---- depthwise convolution, one channel at a time through an int16 plane ---- */

TN_INLINE void tn_dw_body(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane,
                          const uint32_t K, const uint32_t S) {
    const uint32_t C = L->cin, H = L->h, W = L->w, OH = L->oh, OW = L->ow;
    /* The padded rows and columns the windows reach. */
    const uint32_t PH = (OH - 1) * S + K, PW = (OW - 1) * S + K;
    const uint32_t rows = H + L->pt < PH ? H : PH - L->pt;
    const uint32_t cols = W + L->pl < PW ? W : PW - L->pl;
    const int32_t zin = L->zin;
    for (uint32_t i = 0; i < PH * PW; i++) plane[i] = 0; /* the padding stays 0 */
    for (uint32_t c = 0; c < C; c++) {
        for (uint32_t r = 0; r < rows; r++) {
            int16_t *dst = plane + (r + L->pt) * PW + L->pl;
            const int8_t *src = x + r * W * C + c;
            for (uint32_t i = 0; i < cols; i++) dst[i] = (int16_t)(src[i * C] - zin);
        }
        const int8_t *wc = L->weight + c * K * K;
        const int32_t bias = L->bias[c], m = L->mult[c], sh = L->shift[c];
#if TN_DSP
        /* Each row's taps in int16 pairs (its last, odd tap alone). */
        int32_t wp[7 * 3], wl[7];
        for (uint32_t ky = 0; ky < K && K <= 7; ky++) {
            for (uint32_t j = 0; j + 1 < K; j += 2)
                wp[ky * 3 + j / 2] = (int32_t)(((uint32_t)(uint16_t)(int16_t)wc[ky * K + j]) |
                                               ((uint32_t)(uint16_t)(int16_t)wc[ky * K + j + 1]
                                                << 16));
            wl[ky] = wc[ky * K + K - 1];
        }
#endif
        for (uint32_t oy = 0; oy < OH; oy++) {
            for (uint32_t ox = 0; ox < OW; ox++) {
                const int16_t *pp = plane + oy * S * PW + ox * S;
                int32_t acc = bias;
                for (uint32_t ky = 0; ky < K; ky++) {
                    const int16_t *row = pp + ky * PW;
#if TN_DSP
                    if (K <= 7 && (K & 1)) {
                        for (uint32_t j = 0; j + 1 < K; j += 2)
                            acc = __smlad(tn_ld32(row + j), wp[ky * 3 + j / 2], acc);
                        acc += (int32_t)row[K - 1] * wl[ky];
                        continue;
                    }
#endif
                    for (uint32_t kx = 0; kx < K; kx++) acc += (int32_t)row[kx] * wc[ky * K + kx];
                }
                y[(oy * OW + ox) * C + c] = tn_out(acc, m, sh, L->zout, L->amin, L->amax);
            }
        }
    }
}

void tn_dw_k3s1(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, 3, 1);
}
void tn_dw_k3s2(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, 3, 2);
}
void tn_dw_k5s1(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, 5, 1);
}
void tn_dw_k5s2(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, 5, 2);
}
void tn_dw_k7s1(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, 7, 1);
}
void tn_dw_k7s2(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, 7, 2);
}
void tn_dw(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, L->k, L->s);
}

/* ---- ADD, average pooling, fully connected ---- */

void tn_add(const tn_add_t *L, const int8_t *a, const int8_t *b, int8_t *y) {
    for (uint32_t i = 0; i < L->n; i++) {
        const int32_t sa = tn_rdbpot(tn_srdhm((a[i] - L->za) * (1 << 20), L->ma), -L->sa);
        const int32_t sb = tn_rdbpot(tn_srdhm((b[i] - L->zb) * (1 << 20), L->mb), -L->sb);
        int32_t v = tn_rdbpot(tn_srdhm(sa + sb, L->mout), -L->sout) + L->zout;
        v = v < -128 ? -128 : v;
        v = v > 127 ? 127 : v;
        y[i] = (int8_t)v;
    }
}

void tn_avgpool(uint32_t hw, uint32_t c, const int8_t *x, int8_t *y) {
    const int32_t n = (int32_t)hw;
    for (uint32_t ch = 0; ch < c; ch++) {
        int32_t acc = 0;
        for (uint32_t i = 0; i < hw; i++) acc += x[i * c + ch];
        int32_t avg = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
        avg = avg < -128 ? -128 : avg;
        avg = avg > 127 ? 127 : avg;
        y[ch] = (int8_t)avg;
    }
}

void tn_fc(const tn_conv_t *L, const int8_t *x, int8_t *y) {
    const uint32_t cin = L->cin;
    for (uint32_t o = 0; o < L->cout; o++) {
        const int8_t *w = L->weight + o * cin;
        int32_t acc = L->bias[o];
        for (uint32_t i = 0; i < cin; i++) acc += (int32_t)x[i] * w[i];
        y[o] = tn_out(acc, L->mult[0], L->shift[0], L->zout, L->amin, L->amax);
    }
}
