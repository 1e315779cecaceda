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

/* A channel's requantization, prepared once: MultiplyByQuantizedMultiplier(acc, m, shift) is
 * RoundingDivideByPOT(SRDHM(acc << left, m), right), and RoundingDivideByPOT(x, e) for e ≥ 1
 * is (x + 2^(e−1) − [x < 0]) >> e — formed in unsigned arithmetic, shifted logically where x
 * ≥ 0 (the sum may pass 2^31) and arithmetically where x < 0 (it stays in range). */
typedef struct {
    int32_t m, left, right;
    uint32_t half, negmask;
} tn_rq_t;

TN_INLINE tn_rq_t tn_rq(int32_t m, int32_t shift) {
    tn_rq_t r;
    r.m = m;
    r.left = shift > 0 ? shift : 0;
    r.right = shift > 0 ? 0 : -shift;
    r.half = r.right > 0 ? 1u << (r.right - 1) : 0u;
    r.negmask = r.right > 0 ? 0xffffffffu : 0u;
    return r;
}

TN_INLINE int32_t tn_rq_apply(int32_t acc, tn_rq_t r) {
    const int32_t x = tn_srdhm((int32_t)((uint32_t)acc << r.left), r.m);
    const uint32_t s = (uint32_t)x + r.half + ((uint32_t)(x >> 31) & r.negmask);
    return x >= 0 ? (int32_t)(s >> r.right) : ((int32_t)s) >> r.right;
}

TN_INLINE int8_t tn_clamp(int32_t v, int32_t lo, int32_t hi) {
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

#if TN_DSP
/* x rotated right by 8 bits. */
TN_INLINE int32_t tn_ror8(int32_t x) {
    return (int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24));
}

/* Bytes 1 and 3 of x sign-extended to int16 pairs: SXTB16 with its rotation, one instruction
 * (GCC does not fold the rotation into it by itself). */
TN_INLINE int32_t tn_sxtb16_odd(int32_t x) {
#if defined(__GNUC__)
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return __sxtb16(tn_ror8(x));
#endif
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
    const int32_t k = L->k, cin = L->cin, zin = L->zin, h = L->h, w = L->w;
    for (int32_t ky = 0; ky < k; ky++) {
        const int32_t iy = (int32_t)(oy * L->s) + ky - L->pt;
        for (int32_t kx = 0; kx < k; kx++) {
            const int32_t ix = (int32_t)(ox * L->s) + kx - L->pl;
            int16_t *dst = col + (ky * k + kx) * cin;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                for (int32_t c = 0; c < cin; c++) dst[c] = 0;
            } else {
                const int8_t *src = x + ((uint32_t)iy * (uint32_t)w + (uint32_t)ix) * (uint32_t)cin;
                for (int32_t c = 0; c < cin; c++) dst[c] = (int16_t)(src[c] - zin);
            }
        }
    }
}

void tn_conv(const tn_conv_t *L, const int8_t *x, int8_t *restrict y, int16_t *col,
             int16_t *kbuf) {
    const uint32_t kk = (uint32_t)L->k * L->k * L->cin, cout = L->cout;
    const uint32_t n = (uint32_t)L->oh * L->ow, ow = L->ow;
    const int32_t zout = L->zout, amin = L->amin, amax = L->amax;
    for (uint32_t i = 0; i < kk * cout; i++) kbuf[i] = L->weight[i];
    for (uint32_t q = 0; q < n; q += 2) {
        const uint32_t pixels = q + 1 < n ? 2 : 1;
        const int16_t *c0 = col, *c1 = col + kk;
        for (uint32_t j = 0; j < pixels; j++)
            tn_im2col(L, x, (q + j) / ow, (q + j) % ow, col + j * kk);
        for (uint32_t o = 0; o < cout; o++) {
            const int16_t *w = kbuf + o * kk;
            const tn_rq_t r = tn_rq(L->mult[o], L->shift[o]);
            int32_t a0 = L->bias[o], a1 = a0;
            uint32_t i = 0;
#if TN_DSP
            for (; i + 2 <= kk; i += 2) {
                const int32_t wv = tn_ld32(w + i);
                a0 = __smlad(tn_ld32(c0 + i), wv, a0);
                a1 = __smlad(tn_ld32(c1 + i), wv, a1);
            }
#endif
            for (; i < kk; i++) {
                a0 += (int32_t)c0[i] * w[i];
                a1 += (int32_t)c1[i] * w[i];
            }
            y[q * cout + o] = tn_clamp(tn_rq_apply(a0, r) + zout, amin, amax);
            if (pixels == 2) y[(q + 1) * cout + o] = tn_clamp(tn_rq_apply(a1, r) + zout, amin, amax);
        }
    }
}

/* ---- pointwise (1×1) convolution ---- */

void tn_pointwise(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y) {
    const uint32_t n = (uint32_t)L->h * L->w, cin = L->cin, cout = L->cout;
    const int32_t zout = L->zout, amin = L->amin, amax = L->amax;
    const int8_t *const W = L->weight;
    const int32_t *const bias = L->bias, *const mult = L->mult;
    const int8_t *const shift = L->shift;
    uint32_t p = 0;
#if TN_DSP
    /* Two pixels by two output channels: four bytes of each widened to int16 pairs (the even
     * and the odd bytes), eight dual multiply-accumulates. */
    for (; p + 2 <= n; p += 2) {
        const int8_t *x0 = x + p * cin, *x1 = x0 + cin;
        int8_t *y0 = y + p * cout, *y1 = y0 + cout;
        uint32_t o = 0;
        for (; o + 2 <= cout; o += 2) {
            const int8_t *w0 = W + o * cin, *w1 = w0 + cin;
            int32_t a00 = bias[o], a01 = bias[o + 1];
            int32_t a10 = a00, a11 = a01;
            const int8_t *pa = x0, *pb = x1, *qa = w0, *qb = w1;
            const int8_t *const end = x0 + (cin & ~3u);
            while (pa != end) {
                const int32_t va = tn_ld32(pa), vb = tn_ld32(pb);
                const int32_t wa = tn_ld32(qa), wb = tn_ld32(qb);
                pa += 4;
                pb += 4;
                qa += 4;
                qb += 4;
                const int32_t wa0 = __sxtb16(wa), wa1 = tn_sxtb16_odd(wa);
                const int32_t wb0 = __sxtb16(wb), wb1 = tn_sxtb16_odd(wb);
                const int32_t va0 = __sxtb16(va), va1 = tn_sxtb16_odd(va);
                const int32_t vb0 = __sxtb16(vb), vb1 = tn_sxtb16_odd(vb);
                a00 = __smlad(va1, wa1, __smlad(va0, wa0, a00));
                a01 = __smlad(va1, wb1, __smlad(va0, wb0, a01));
                a10 = __smlad(vb1, wa1, __smlad(vb0, wa0, a10));
                a11 = __smlad(vb1, wb1, __smlad(vb0, wb0, a11));
            }
            for (uint32_t i = cin & ~3u; i < cin; i++) {
                a00 += (int32_t)x0[i] * w0[i];
                a01 += (int32_t)x0[i] * w1[i];
                a10 += (int32_t)x1[i] * w0[i];
                a11 += (int32_t)x1[i] * w1[i];
            }
            const tn_rq_t r0 = tn_rq(mult[o], shift[o]), r1 = tn_rq(mult[o + 1], shift[o + 1]);
            y0[o] = tn_clamp(tn_rq_apply(a00, r0) + zout, amin, amax);
            y0[o + 1] = tn_clamp(tn_rq_apply(a01, r1) + zout, amin, amax);
            y1[o] = tn_clamp(tn_rq_apply(a10, r0) + zout, amin, amax);
            y1[o + 1] = tn_clamp(tn_rq_apply(a11, r1) + zout, amin, amax);
        }
        for (; o < cout; o++) {
            const int8_t *w0 = W + o * cin;
            int32_t a0 = bias[o], a1 = a0;
            for (uint32_t i = 0; i < cin; i++) {
                a0 += (int32_t)x0[i] * w0[i];
                a1 += (int32_t)x1[i] * w0[i];
            }
            const tn_rq_t r = tn_rq(mult[o], shift[o]);
            y0[o] = tn_clamp(tn_rq_apply(a0, r) + zout, amin, amax);
            y1[o] = tn_clamp(tn_rq_apply(a1, r) + zout, amin, amax);
        }
    }
#endif
    for (; p < n; p++) {
        const int8_t *xp = x + p * cin;
        int8_t *yp = y + p * cout;
        for (uint32_t o = 0; o < cout; o++) {
            const int8_t *w = W + o * cin;
            int32_t acc = bias[o];
            for (uint32_t i = 0; i < cin; i++) acc += (int32_t)xp[i] * w[i];
            yp[o] = tn_clamp(tn_rq_apply(acc, tn_rq(mult[o], shift[o])) + zout, amin, amax);
        }
    }
}

/* ---- depthwise convolution, one channel at a time through an int16 plane ---- */

TN_INLINE void tn_dw_body(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane,
                          const uint32_t K, const uint32_t S) {
    const uint32_t C = L->cin, H = L->h, W = L->w, OH = L->oh, OW = L->ow;
    const uint32_t pt = L->pt, pl = L->pl;
    const int32_t zin = L->zin, zout = L->zout, amin = L->amin, amax = L->amax;
    const int8_t *const weight = L->weight;
    const int32_t *const bias = L->bias, *const mult = L->mult;
    const int8_t *const shift = L->shift;
    /* The padded rows and columns the windows reach. */
    const uint32_t PH = (OH - 1) * S + K, PW = (OW - 1) * S + K;
    const uint32_t rows = H + pt < PH ? H : PH - pt;
    const uint32_t cols = W + pl < PW ? W : PW - pl;
    for (uint32_t i = 0; i < PH * PW; i++) plane[i] = 0; /* the padding stays 0 */
    for (uint32_t c = 0; c < C; c++) {
        for (uint32_t r = 0; r < rows; r++) {
            int16_t *dst = plane + (r + pt) * PW + pl;
            const int8_t *src = x + r * W * C + c;
            for (uint32_t i = 0; i < cols; i++) dst[i] = (int16_t)(src[i * C] - zin);
        }
        const int8_t *wc = weight + c * K * K;
        const int32_t b = bias[c];
        const tn_rq_t rq = tn_rq(mult[c], shift[c]);
        int8_t *yc = y + c;
#if TN_DSP
        if (K <= 7 && (K & 1)) {
            /* Each row's taps in int16 pairs, its last (odd) tap alone. */
            int32_t wp[7 * 3], wl[7];
            for (uint32_t ky = 0; ky < K; ky++) {
                for (uint32_t j = 0; j + 1 < K; j += 2)
                    wp[ky * 3 + j / 2] =
                        (int32_t)(((uint32_t)(uint16_t)(int16_t)wc[ky * K + j]) |
                                  ((uint32_t)(uint16_t)(int16_t)wc[ky * K + j + 1] << 16));
                wl[ky] = wc[ky * K + K - 1];
            }
            for (uint32_t oy = 0; oy < OH; oy++) {
                const int16_t *prow = plane + oy * S * PW;
                int8_t *yrow = yc + oy * OW * C;
                uint32_t ox = 0;
                if (S == 1 && K <= 5) {
                    /* Two outputs side by side share their taps: (t0 t1) (t2 t3)… with
                     * the odd pairs (t1 t2)… packed from the same words. */
                    for (; ox + 2 <= OW; ox += 2) {
                        int32_t a0 = b, a1 = b;
                        for (uint32_t ky = 0; ky < K; ky++) {
                            const int16_t *t = prow + ky * PW + ox;
                            int32_t prev = tn_ld32(t);
                            for (uint32_t j = 0; j + 1 < K; j += 2) {
                                const int32_t next = tn_ld32(t + j + 2);
                                const int32_t wv = wp[ky * 3 + j / 2];
                                a0 = __smlad(prev, wv, a0);
                                /* (t[j+1], t[j+2]): prev's high half, next's low half. */
                                const int32_t mid = (int32_t)(((uint32_t)prev >> 16) |
                                                              ((uint32_t)next << 16));
                                a1 = __smlad(mid, wv, a1);
                                prev = next;
                            }
                            /* prev holds (t[K-1], t[K]). */
                            a0 += (int32_t)(int16_t)prev * wl[ky];
                            a1 += (prev >> 16) * wl[ky];
                        }
                        yrow[ox * C] = tn_clamp(tn_rq_apply(a0, rq) + zout, amin, amax);
                        yrow[(ox + 1) * C] = tn_clamp(tn_rq_apply(a1, rq) + zout, amin, amax);
                    }
                }
                for (; ox < OW; ox++) {
                    const int16_t *pp = prow + ox * S;
                    int32_t acc = b;
                    for (uint32_t ky = 0; ky < K; ky++) {
                        const int16_t *t = pp + ky * PW;
                        for (uint32_t j = 0; j + 1 < K; j += 2)
                            acc = __smlad(tn_ld32(t + j), wp[ky * 3 + j / 2], acc);
                        acc += (int32_t)t[K - 1] * wl[ky];
                    }
                    yrow[ox * C] = tn_clamp(tn_rq_apply(acc, rq) + zout, amin, amax);
                }
            }
            continue;
        }
#endif
        for (uint32_t oy = 0; oy < OH; oy++) {
            for (uint32_t ox = 0; ox < OW; ox++) {
                const int16_t *pp = plane + oy * S * PW + ox * S;
                int32_t acc = b;
                for (uint32_t ky = 0; ky < K; ky++)
                    for (uint32_t kx = 0; kx < K; kx++)
                        acc += (int32_t)pp[ky * PW + kx] * wc[ky * K + kx];
                yc[(oy * OW + ox) * C] = tn_clamp(tn_rq_apply(acc, rq) + zout, amin, amax);
            }
        }
    }
}

/* The specialised depthwise kernels: the body with its kernel and stride as constants. */
#define TN_DW_SPECIALISED(K, S)                                                          \
    void tn_dw_k##K##s##S(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) { \
        tn_dw_body(L, x, y, plane, K, S);                                                 \
    }
TN_DW_SPECIALISED(3, 1)
TN_DW_SPECIALISED(3, 2)
TN_DW_SPECIALISED(5, 1)
TN_DW_SPECIALISED(5, 2)
TN_DW_SPECIALISED(7, 1)
TN_DW_SPECIALISED(7, 2)
void tn_dw(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_body(L, x, y, plane, L->k, L->s);
}

/* ---- ADD, average pooling, fully connected ---- */

void tn_add(const tn_add_t *L, const int8_t *a, const int8_t *b, int8_t *restrict y) {
    const uint32_t n = L->n;
    const int32_t za = L->za, zb = L->zb, zout = L->zout;
    const tn_rq_t ra = tn_rq(L->ma, L->sa), rb = tn_rq(L->mb, L->sb), ro = tn_rq(L->mout, L->sout);
    for (uint32_t i = 0; i < n; i++) {
        /* The inputs' shifts are ≤ 0: RoundingDivideByPOT(SRDHM(·)), as TFLM's ADD. */
        const int32_t sa = tn_rq_apply((a[i] - za) * (1 << 20), ra);
        const int32_t sb = tn_rq_apply((b[i] - zb) * (1 << 20), rb);
        y[i] = tn_clamp(tn_rq_apply(sa + sb, ro) + zout, -128, 127);
    }
}

void tn_avgpool(uint32_t hw, uint32_t c, const int8_t *restrict x, int8_t *restrict y) {
    const int32_t n = (int32_t)hw;
    for (uint32_t ch = 0; ch < c; ch++) {
        int32_t acc = 0;
        for (uint32_t i = 0; i < hw; i++) acc += x[i * c + ch];
        const int32_t avg = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
        y[ch] = tn_clamp(avg, -128, 127);
    }
}

void tn_fc(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y) {
    const uint32_t cin = L->cin, cout = L->cout;
    const int32_t zout = L->zout, amin = L->amin, amax = L->amax;
    const tn_rq_t r = tn_rq(L->mult[0], L->shift[0]);
    for (uint32_t o = 0; o < cout; o++) {
        const int8_t *w = L->weight + o * cin;
        int32_t acc = L->bias[o];
        uint32_t i = 0;
#if TN_DSP
        for (; i + 4 <= cin; i += 4) {
            const int32_t v = tn_ld32(x + i), wv = tn_ld32(w + i);
            acc = __smlad(__sxtb16(v), __sxtb16(wv), acc);
            acc = __smlad(tn_sxtb16_odd(v), tn_sxtb16_odd(wv), acc);
        }
#endif
        for (; i < cin; i++) acc += (int32_t)x[i] * w[i];
        y[o] = tn_clamp(tn_rq_apply(acc, r) + zout, amin, amax);
    }
}
