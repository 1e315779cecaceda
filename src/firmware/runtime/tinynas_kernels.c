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
/* A loop of constant trip count unrolled whole (its loads then shared between outputs). */
#define TN_UNROLL _Pragma("GCC unroll 8")
#else
#define TN_INLINE static inline
#define TN_UNROLL
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

/* The short form, for layers whose record says so (rq_short: every channel's shift is a right
 * shift of 1 to 22 and the generator proved |acc| < 2^30 from the weights, bias and input
 * range): SRDHM(acc, m) = (2·acc·m + 2^31) >> 32, one SMMULR, and RoundingDivideByPOT(h, e)
 * + zout = (h + 2^(e−1) + zout·2^e − [h < 0]) >> e — the zero point's multiple of 2^e passes
 * the shift unchanged, and nothing overflows under those bounds. */
typedef struct {
    int32_t m, k, e;
} tn_rqs_t;

/* `zo2` is 2·zout + 1: k = 2^(e−1) + zout·2^e = zo2·2^(e−1), and e − 1 = ~shift. */
TN_INLINE tn_rqs_t tn_rqs(int32_t m, int32_t shift, int32_t zo2) {
    tn_rqs_t r;
    r.m = m;
    r.e = -shift;
    r.k = (int32_t)((uint32_t)zo2 << (uint32_t)~shift);
    return r;
}

TN_INLINE int32_t tn_smmulr(int32_t a, int32_t b) {
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && !defined(TINYNAS_NO_DSP)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* acc requantized, plus the output zero point (not yet clamped). */
TN_INLINE int32_t tn_rqs_apply(int32_t acc, tn_rqs_t r) {
    const int32_t h = tn_smmulr(acc * 2, r.m);
    return (h + r.k + (h >> 31)) >> r.e;
}

TN_INLINE int8_t tn_clamp(int32_t v, int32_t lo, int32_t hi) {
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* v saturated to int8 (one SSAT). */
TN_INLINE int8_t tn_sat8(int32_t v) {
#if TN_DSP
    return (int8_t)__ssat(v, 8);
#else
    return tn_clamp(v, -128, 127);
#endif
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

/* The short requantization saturating to int8; two pixels by two output channels, two taps a dual
 * multiply-accumulate. */
TN_INLINE void tn_conv_short(const tn_conv_t *L, const int8_t *x, int8_t *restrict y,
                             int16_t *col, const int16_t *kbuf) {
    const uint32_t kk = (uint32_t)L->k * L->k * L->cin, cout = L->cout;
    const uint32_t n = (uint32_t)L->oh * L->ow, ow = L->ow;
    const int32_t zo2 = 2 * L->zout + 1;
    for (uint32_t q = 0; q < n; q += 2) {
        const uint32_t pixels = q + 1 < n ? 2 : 1;
        const int16_t *const c0 = col, *const c1 = col + kk;
        for (uint32_t j = 0; j < pixels; j++)
            tn_im2col(L, x, (q + j) / ow, (q + j) % ow, col + j * kk);
        if (pixels == 1) memset(col + kk, 0, kk * sizeof(int16_t));
        int8_t *const y0 = y + q * cout, *const y1 = y0 + cout;
        uint32_t o = 0;
        for (; o + 2 <= cout; o += 2) {
            const int16_t *const w0 = kbuf + o * kk, *const w1 = w0 + kk;
            int32_t a00 = L->bias[o], a01 = L->bias[o + 1], a10 = a00, a11 = a01;
            uint32_t i = 0;
#if TN_DSP
            for (; i + 2 <= kk; i += 2) {
                const int32_t u = tn_ld32(c0 + i), v = tn_ld32(c1 + i);
                const int32_t p0 = tn_ld32(w0 + i), p1 = tn_ld32(w1 + i);
                a00 = __smlad(u, p0, a00);
                a10 = __smlad(v, p0, a10);
                a01 = __smlad(u, p1, a01);
                a11 = __smlad(v, p1, a11);
            }
#endif
            for (; i < kk; i++) {
                a00 += (int32_t)c0[i] * w0[i];
                a10 += (int32_t)c1[i] * w0[i];
                a01 += (int32_t)c0[i] * w1[i];
                a11 += (int32_t)c1[i] * w1[i];
            }
            const tn_rqs_t r0 = tn_rqs(L->mult[o], L->shift[o], zo2);
            const tn_rqs_t r1 = tn_rqs(L->mult[o + 1], L->shift[o + 1], zo2);
            y0[o] = tn_sat8(tn_rqs_apply(a00, r0));
            y0[o + 1] = tn_sat8(tn_rqs_apply(a01, r1));
            if (pixels == 2) {
                y1[o] = tn_sat8(tn_rqs_apply(a10, r0));
                y1[o + 1] = tn_sat8(tn_rqs_apply(a11, r1));
            }
        }
        for (; o < cout; o++) {
            const int16_t *const w0 = kbuf + o * kk;
            int32_t a0 = L->bias[o], a1 = a0;
            for (uint32_t i = 0; i < kk; i++) {
                a0 += (int32_t)c0[i] * w0[i];
                a1 += (int32_t)c1[i] * w0[i];
            }
            const tn_rqs_t r = tn_rqs(L->mult[o], L->shift[o], zo2);
            y0[o] = tn_sat8(tn_rqs_apply(a0, r));
            if (pixels == 2) y1[o] = tn_sat8(tn_rqs_apply(a1, r));
        }
    }
}

/* The general requantization (any shift, any accumulator). */
static void tn_conv_exact(const tn_conv_t *L, const int8_t *x, int8_t *restrict y,
                          int16_t *col, const int16_t *kbuf) {
    const uint32_t kk = (uint32_t)L->k * L->k * L->cin, cout = L->cout;
    const uint32_t n = (uint32_t)L->oh * L->ow, ow = L->ow;
    const int32_t zout = L->zout, amin = L->amin, amax = L->amax;
    for (uint32_t q = 0; q < n; q++) {
        tn_im2col(L, x, q / ow, q % ow, col);
        for (uint32_t o = 0; o < cout; o++) {
            const int16_t *w = kbuf + o * kk;
            int32_t acc = L->bias[o];
            for (uint32_t i = 0; i < kk; i++) acc += (int32_t)col[i] * w[i];
            const tn_rq_t r = tn_rq(L->mult[o], L->shift[o]);
            y[q * cout + o] = tn_clamp(tn_rq_apply(acc, r) + zout, amin, amax);
        }
    }
}

void tn_conv(const tn_conv_t *L, const int8_t *x, int8_t *restrict y, int16_t *col,
             int16_t *kbuf) {
    const uint32_t kk = (uint32_t)L->k * L->k * L->cin, cout = L->cout;
    for (uint32_t i = 0; i < kk * cout; i++) kbuf[i] = L->weight[i];
    if (L->rq_short && L->amin == -128 && L->amax == 127)
        tn_conv_short(L, x, y, col, kbuf);
    else
        tn_conv_exact(L, x, y, col, kbuf);
}

/* ---- pointwise (1×1) convolution ---- */

#if TN_DSP
/* One group of four channels of tn_pw_short's 2×2 block: two weight words widened, eight dual
 * multiply-accumulates against the widened pixels `c`. */
#define TN_PW_GROUP(c, q)                                                              \
    do {                                                                               \
        const int32_t wa = tn_ld32(q), wb = tn_ld32((q) + cin);                        \
        const int32_t wa0 = __sxtb16(wa), wa1 = tn_sxtb16_odd(wa);                     \
        a00 = __smlad((c)[1], wa1, __smlad((c)[0], wa0, a00));                         \
        a10 = __smlad((c)[3], wa1, __smlad((c)[2], wa0, a10));                         \
        const int32_t wb0 = __sxtb16(wb), wb1 = tn_sxtb16_odd(wb);                     \
        a01 = __smlad((c)[1], wb1, __smlad((c)[0], wb0, a01));                         \
        a11 = __smlad((c)[3], wb1, __smlad((c)[2], wb0, a11));                         \
    } while (0)
#endif

/* Pointwise with the short requantization, saturating to int8; `by8`: cin is a multiple of 8. */
TN_INLINE void tn_pw_short(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y,
                           int16_t *restrict col, const int by8) {
    const uint32_t n = (uint32_t)L->h * L->w, cin = L->cin, cout = L->cout;
    const int32_t zo2 = 2 * L->zout + 1;
    const int8_t *const W = L->weight;
    const int32_t *const bias = L->bias, *const mult = L->mult;
    const int8_t *const shift = L->shift;
    uint32_t p = 0;
#if TN_DSP
    /* Two pixels by two output channels. The pixels' channels, four at a time, are widened
     * once into `col` as int16 pairs (even bytes, odd bytes: x0's then x1's, 16 bytes a
     * group); each weight word is widened the same way, and eight dual multiply-accumulates
     * take four channels of both pixels and both outputs. */
    const uint32_t groups = cin >> 2, rest = cin & ~3u;
    for (; p + 2 <= n; p += 2) {
        const int8_t *const x0 = x + p * cin, *const x1 = x0 + cin;
        int8_t *const y0 = y + p * cout, *const y1 = y0 + cout;
        int32_t *const c32 = (int32_t *)(void *)col;
        for (uint32_t g = 0; g < groups; g++) {
            const int32_t va = tn_ld32(x0 + 4 * g), vb = tn_ld32(x1 + 4 * g);
            c32[4 * g] = __sxtb16(va);
            c32[4 * g + 1] = tn_sxtb16_odd(va);
            c32[4 * g + 2] = __sxtb16(vb);
            c32[4 * g + 3] = tn_sxtb16_odd(vb);
        }
        const int32_t *const cend = c32 + 4 * groups;
        uint32_t o = 0;
        for (; o + 2 <= cout; o += 2) {
            const int8_t *const w0 = W + o * cin, *const w1 = w0 + cin;
            int32_t a00 = bias[o], a01 = bias[o + 1];
            int32_t a10 = a00, a11 = a01;
            const int32_t *c = c32;
            const int8_t *qa = w0;
            if (!by8 && (groups & 1)) {
                TN_PW_GROUP(c, qa);
                qa += 4;
                c += 4;
            }
            while (c != cend) {
                TN_PW_GROUP(c, qa);
                TN_PW_GROUP(c + 4, qa + 4);
                qa += 8;
                c += 8;
            }

            for (uint32_t i = rest; !by8 && i < cin; i++) {
                a00 += (int32_t)x0[i] * w0[i];
                a01 += (int32_t)x0[i] * w1[i];
                a10 += (int32_t)x1[i] * w0[i];
                a11 += (int32_t)x1[i] * w1[i];
            }
            const tn_rqs_t r0 = tn_rqs(mult[o], shift[o], zo2);
            const tn_rqs_t r1 = tn_rqs(mult[o + 1], shift[o + 1], zo2);
            y0[o] = tn_sat8(tn_rqs_apply(a00, r0));
            y1[o] = tn_sat8(tn_rqs_apply(a10, r0));
            y0[o + 1] = tn_sat8(tn_rqs_apply(a01, r1));
            y1[o + 1] = tn_sat8(tn_rqs_apply(a11, r1));
        }
        for (; o < cout; o++) {
            const int8_t *w0 = W + o * cin;
            int32_t a0 = bias[o], a1 = a0;
            for (uint32_t i = 0; i < cin; i++) {
                a0 += (int32_t)x0[i] * w0[i];
                a1 += (int32_t)x1[i] * w0[i];
            }
            const tn_rqs_t r = tn_rqs(mult[o], shift[o], zo2);
            y0[o] = tn_sat8(tn_rqs_apply(a0, r));
            y1[o] = tn_sat8(tn_rqs_apply(a1, r));
        }
    }
#else
    (void)col;
    (void)by8;
#endif
    for (; p < n; p++) {
        const int8_t *xp = x + p * cin;
        int8_t *yp = y + p * cout;
        for (uint32_t o = 0; o < cout; o++) {
            const int8_t *w = W + o * cin;
            int32_t acc = bias[o];
            for (uint32_t i = 0; i < cin; i++) acc += (int32_t)xp[i] * w[i];
            yp[o] = tn_sat8(tn_rqs_apply(acc, tn_rqs(mult[o], shift[o], zo2)));
        }
    }
}

/* Pointwise with the general requantization (any shift, any accumulator). */
static void tn_pw_exact(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y) {
    const uint32_t n = (uint32_t)L->h * L->w, cin = L->cin, cout = L->cout;
    const int32_t zout = L->zout, amin = L->amin, amax = L->amax;
    for (uint32_t p = 0; p < n; p++) {
        const int8_t *xp = x + p * cin;
        int8_t *yp = y + p * cout;
        for (uint32_t o = 0; o < cout; o++) {
            const int8_t *w = L->weight + o * cin;
            int32_t acc = L->bias[o];
            for (uint32_t i = 0; i < cin; i++) acc += (int32_t)xp[i] * w[i];
            const tn_rq_t r = tn_rq(L->mult[o], L->shift[o]);
            yp[o] = tn_clamp(tn_rq_apply(acc, r) + zout, amin, amax);
        }
    }
}

void tn_pointwise(const tn_conv_t *L, const int8_t *restrict x, int8_t *restrict y,
                  int16_t *restrict col) {
    /* The short requantization where the generator proved it exact, saturating to int8 where
     * the activation range is all of it (the usual case: ReLU6 and none calibrated); the
     * general form, any range, otherwise. */
    if (!L->rq_short || L->amin != -128 || L->amax != 127)
        tn_pw_exact(L, x, y);
    else if ((L->cin & 7) == 0)
        tn_pw_short(L, x, y, col, 1); /* the usual case: no tails */
    else
        tn_pw_short(L, x, y, col, 0);
}

/* ---- depthwise convolution, one channel at a time through an int16 plane ---- */

/* The plane: the padded rows and columns the windows reach, the padding the input's zero
 * point (the bias has zin·Σw taken out, so a padded tap adds nothing), one channel copied in
 * at a time. Returns the plane's row length. */
TN_INLINE uint32_t tn_dw_plane_init(const tn_conv_t *L, int16_t *plane, const uint32_t K,
                                    const uint32_t S) {
    const uint32_t PH = (L->oh - 1u) * S + K, PW = (L->ow - 1u) * S + K;
    const int16_t zin = L->zin;
    for (uint32_t i = 0; i < PH * PW; i++) plane[i] = zin;
    return PW;
}

TN_INLINE void tn_dw_plane_fill(const tn_conv_t *L, const int8_t *x, int16_t *plane,
                                const uint32_t c, const uint32_t K, const uint32_t S,
                                const uint32_t PW) {
    const uint32_t C = L->cin, H = L->h, W = L->w, pt = L->pt, pl = L->pl;
    const uint32_t PH = (L->oh - 1u) * S + K;
    const uint32_t rows = H + pt < PH ? H : PH - pt;
    const uint32_t cols = W + pl < PW ? W : PW - pl;
    for (uint32_t r = 0; r < rows; r++) {
        int16_t *dst = plane + (r + pt) * PW + pl;
        const int8_t *src = x + r * W * C + c;
        uint32_t i = 0;
        for (; i + 4 <= cols; i += 4) {
            dst[i] = src[i * C];
            dst[i + 1] = src[(i + 1) * C];
            dst[i + 2] = src[(i + 2) * C];
            dst[i + 3] = src[(i + 3) * C];
        }
        for (; i < cols; i++) dst[i] = src[i * C];
    }
}

/* Any kernel and stride, any requantization: TFLite's reference loop over the plane. */
static void tn_dw_exact(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    const uint32_t K = L->k, S = L->s, C = L->cin, OH = L->oh, OW = L->ow;
    const int32_t zout = L->zout, amin = L->amin, amax = L->amax;
    const uint32_t PW = tn_dw_plane_init(L, plane, K, S);
    for (uint32_t c = 0; c < C; c++) {
        tn_dw_plane_fill(L, x, plane, c, K, S, PW);
        const int8_t *wc = L->weight + c * K * K;
        const tn_rq_t rq = tn_rq(L->mult[c], L->shift[c]);
        for (uint32_t oy = 0; oy < OH; oy++) {
            for (uint32_t ox = 0; ox < OW; ox++) {
                const int16_t *pp = plane + oy * S * PW + ox * S;
                int32_t acc = L->bias[c];
                for (uint32_t ky = 0; ky < K; ky++)
                    for (uint32_t kx = 0; kx < K; kx++)
                        acc += (int32_t)pp[ky * PW + kx] * wc[ky * K + kx];
                y[(oy * OW + ox) * C + c] = tn_clamp(tn_rq_apply(acc, rq) + zout, amin, amax);
            }
        }
    }
}

/* The short requantization saturating to int8, kernel K and stride S constant. On DSP cores an odd K ≤ 7 takes four outputs of a row at a time: each row's
 * taps in int16 pairs (t0 t1) (t2 t3)…, one dual multiply-accumulate a pair and output, the
 * pairs of neighbouring outputs read from the same plane words (stride 1: at odd offsets
 * too), the last tap of the row by a halfword multiply (SMLABB/SMLATB). */
TN_INLINE void tn_dw_body(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane,
                          const uint32_t K, const uint32_t S) {
    const uint32_t C = L->cin, OH = L->oh, OW = L->ow;
    const int32_t zo2 = 2 * L->zout + 1;
    const int8_t *const weight = L->weight;
    const int32_t *const bias = L->bias, *const mult = L->mult;
    const int8_t *const shift = L->shift;
    const uint32_t PW = tn_dw_plane_init(L, plane, K, S);
    for (uint32_t c = 0; c < C; c++) {
        tn_dw_plane_fill(L, x, plane, c, K, S, PW);
        const int8_t *wc = weight + c * K * K;
        const int32_t b = bias[c];
        const tn_rqs_t rq = tn_rqs(mult[c], shift[c], zo2);
        int8_t *yc = y + c;
#if TN_DSP
        if (K <= 7 && (K & 1) && S <= 2) {
            /* Per row: three tap pairs, then the last tap (low half). */
            int32_t wp[7 * 4];
            for (uint32_t ky = 0; ky < K; ky++) {
                for (uint32_t j = 0; j + 1 < K; j += 2)
                    wp[ky * 4 + j / 2] =
                        (int32_t)(((uint32_t)(uint16_t)(int16_t)wc[ky * K + j]) |
                                  ((uint32_t)(uint16_t)(int16_t)wc[ky * K + j + 1] << 16));
                wp[ky * 4 + 3] = wc[ky * K + K - 1];
            }
            for (uint32_t oy = 0; oy < OH; oy++) {
                const int16_t *const prow = plane + oy * S * PW;
                int8_t *const yrow = yc + oy * OW * C;
                uint32_t ox = 0;
                for (; ox + 4 <= OW; ox += 4) {
                    int32_t a0 = b, a1 = b, a2 = b, a3 = b;
                    const int16_t *t = prow + ox * S;
                    TN_UNROLL
                    for (uint32_t ky = 0; ky < K; ky++, t += PW) {
                        const int32_t *const wr = wp + ky * 4;
                        TN_UNROLL
                        for (uint32_t m = 0; 2 * m + 1 < K; m++) {
                            const int32_t w = wr[m];
                            a0 = __smlad(tn_ld32(t + 2 * m), w, a0);
                            a1 = __smlad(tn_ld32(t + S + 2 * m), w, a1);
                            a2 = __smlad(tn_ld32(t + 2 * S + 2 * m), w, a2);
                            a3 = __smlad(tn_ld32(t + 3 * S + 2 * m), w, a3);
                        }
                        const int32_t wl = wr[3];
                        if (S == 1) {
                            const int32_t u = tn_ld32(t + K - 1), v = tn_ld32(t + K + 1);
                            a0 = __smlabb(u, wl, a0);
                            a1 = __smlatb(u, wl, a1);
                            a2 = __smlabb(v, wl, a2);
                            a3 = __smlatb(v, wl, a3);
                        } else {
                            a0 = __smlabb(t[K - 1], wl, a0);
                            a1 = __smlabb(t[S + K - 1], wl, a1);
                            a2 = __smlabb(t[2 * S + K - 1], wl, a2);
                            a3 = __smlabb(t[3 * S + K - 1], wl, a3);
                        }
                    }
                    int8_t *const yo = yrow + ox * C;
                    yo[0] = tn_sat8(tn_rqs_apply(a0, rq));
                    yo[C] = tn_sat8(tn_rqs_apply(a1, rq));
                    yo[2 * C] = tn_sat8(tn_rqs_apply(a2, rq));
                    yo[3 * C] = tn_sat8(tn_rqs_apply(a3, rq));
                }
                for (; ox < OW; ox++) {
                    const int16_t *t = prow + ox * S;
                    int32_t acc = b;
                    TN_UNROLL
                    for (uint32_t ky = 0; ky < K; ky++, t += PW) {
                        TN_UNROLL
                        for (uint32_t m = 0; 2 * m + 1 < K; m++)
                            acc = __smlad(tn_ld32(t + 2 * m), wp[ky * 4 + m], acc);
                        acc = __smlabb(t[K - 1], wp[ky * 4 + 3], acc);
                    }
                    yrow[ox * C] = tn_sat8(tn_rqs_apply(acc, rq));
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
                yc[(oy * OW + ox) * C] = tn_sat8(tn_rqs_apply(acc, rq));
            }
        }
    }
}

/* The specialised depthwise kernels: the body with its kernel and stride as constants. */
#define TN_DW_SPECIALISED(K, S)                                                          \
    void tn_dw_k##K##s##S(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) { \
        if (L->rq_short && L->amin == -128 && L->amax == 127)                             \
            tn_dw_body(L, x, y, plane, K, S);                                             \
        else                                                                              \
            tn_dw_exact(L, x, y, plane);                                                  \
    }
TN_DW_SPECIALISED(3, 1)
TN_DW_SPECIALISED(3, 2)
TN_DW_SPECIALISED(5, 1)
TN_DW_SPECIALISED(5, 2)
TN_DW_SPECIALISED(7, 1)
TN_DW_SPECIALISED(7, 2)
void tn_dw(const tn_conv_t *L, const int8_t *x, int8_t *y, int16_t *plane) {
    tn_dw_exact(L, x, y, plane);
}

/* ---- ADD, average pooling, fully connected ---- */

/* One ADD input rescaled: RoundingDivideByPOT(SRDHM((v − z)·2^20, m), e) with e = −shift ≥ 0;
 * |(v − z)·2^21| < 2^29, so SRDHM is one SMMULR of the doubled value, and the rounding is
 * (h + 2^(e−1) − [h < 0]) >> e where e ≥ 1 (k and neg 0 where e = 0: no rounding). */
typedef struct {
    int32_t m, z21, k, neg, e;
} tn_addin_t;

TN_INLINE tn_addin_t tn_addin(int32_t m, int32_t shift, int32_t z) {
    tn_addin_t r;
    r.m = m;
    r.z21 = z * (1 << 21);
    r.e = -shift;
    r.k = r.e > 0 ? 1 << (r.e - 1) : 0;
    r.neg = r.e > 0 ? -1 : 0;
    return r;
}

TN_INLINE int32_t tn_addin_apply(int32_t v, tn_addin_t r) {
    const int32_t h = tn_smmulr(v * (1 << 21) - r.z21, r.m);
    return (h + r.k + ((h >> 31) & r.neg)) >> r.e;
}

void tn_add(const tn_add_t *L, const int8_t *a, const int8_t *b, int8_t *restrict y) {
    const uint32_t n = L->n;
    const int32_t za = L->za, zb = L->zb, zout = L->zout;
    if (L->sout <= -1 && L->sout >= -22) {
        /* The sum of two rescaled inputs is under 2^29: the output takes the short form. */
        const tn_addin_t ra = tn_addin(L->ma, L->sa, za), rb = tn_addin(L->mb, L->sb, zb);
        const tn_rqs_t ro = tn_rqs(L->mout, L->sout, 2 * zout + 1);
        for (uint32_t i = 0; i < n; i++)
            y[i] = tn_sat8(tn_rqs_apply(tn_addin_apply(a[i], ra) + tn_addin_apply(b[i], rb), ro));
        return;
    }
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

/* ---- patch-based inference ---- */

void tn_geom(tn_conv_t *L, const tn_patch_t *P) {
    L->h = P->ih;
    L->w = P->iw;
    L->oh = P->oh;
    L->ow = P->ow;
    L->pt = (uint8_t)P->pt;
    L->pl = (uint8_t)P->pl;
}

void tn_window(const int8_t *x, uint32_t width, uint32_t c, uint32_t y0, uint32_t x0,
               uint32_t h, uint32_t w, int8_t *restrict y) {
    for (uint32_t r = 0; r < h; r++)
        memcpy(y + r * w * c, x + ((y0 + r) * width + x0) * c, w * c);
}

void tn_pointwise_rows(const tn_conv_t *L, const int8_t *x, int8_t *y, uint32_t y_row,
                       int16_t *col) {
    tn_conv_t r = *L;
    r.h = 1;
    r.oh = 1;
    for (uint32_t i = 0; i < L->oh; i++)
        tn_pointwise(&r, x + i * L->w * L->cin, y + i * y_row, col);
}

void tn_add_rows(const tn_add_t *L, const tn_patch_t *P, uint32_t c, const int8_t *a,
                 const int8_t *b, int8_t *y, uint32_t y_row) {
    tn_add_t r = *L;
    r.n = P->ow * c;
    for (uint32_t i = 0; i < P->oh; i++)
        tn_add(&r, a + ((P->ay + i) * P->aw + P->ax) * c, b + ((P->by + i) * P->bw + P->bx) * c,
               y + i * y_row);
}
