//! TFLite's fixed-point arithmetic, as TF Lite Micro's reference kernels compute it: a real
//! multiplier as a Q31 significand and a power-of-two shift, the saturating rounding doubling
//! high multiply and the rounding divide by a power of two (gemmlowp's), and the activation
//! range of a fused ReLU6.

/// `m` as (significand in [2^30, 2^31), shift) with m ≈ significand · 2^(shift − 31), as
/// TFLite's `QuantizeMultiplier`: frexp, round half away from zero, a significand of 2^31
/// halved, multipliers below 2^−31 flushed to zero.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 || !m.is_finite() {
        return (0, 0);
    }
    let (frac, mut shift) = frexp(m);
    let mut q = (frac * (1i64 << 31) as f64).round() as i64;
    if q == 1i64 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    (q as i32, shift)
}

/// x = frac · 2^exp with |frac| in [0.5, 1), as C's frexp (x finite and non-zero).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (f, e) = frexp(x * 2f64.powi(64));
        return (f, e - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (frac, exp - 1022)
}

/// gemmlowp's SaturatingRoundingDoublingHighMul: (a·b·2 + 2^31 rounding) >> 32, saturating the
/// one overflowing case.
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    // C++'s division truncates toward zero, as Rust's does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's RoundingDivideByPOT: x / 2^e rounded half away from zero.
pub fn rounding_divide_by_pot(x: i32, e: i32) -> i32 {
    debug_assert!((0..=31).contains(&e));
    let mask = ((1i64 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + (remainder > threshold) as i32
}

/// TFLite's MultiplyByQuantizedMultiplier (double rounding, the reference kernels' default).
pub fn multiply_by_quantized_multiplier(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(srdhm(x.wrapping_mul(1 << left), m), right)
}

/// TFLite's rounding of a float: half away from zero.
pub fn tflite_round(x: f32) -> i32 {
    x.round() as i32
}

/// The int8 output range of a fused activation on a tensor of `scale`, `zero_point`: ReLU6
/// clamps to [max(−128, q(0)), min(127, q(6))], none to [−128, 127].
pub fn activation_range(relu6: bool, scale: f32, zero_point: i32) -> (i32, i32) {
    if relu6 {
        let q = |x: f32| zero_point + tflite_round(x / scale);
        ((-128).max(q(0.0)), 127.min(q(6.0)))
    } else {
        (-128, 127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipliers_round_trip() {
        for &m in &[0.5, 0.75, 1.0, 1.5, 0.001234, 3.0e-7, 123.456] {
            let (q, s) = quantize_multiplier(m);
            assert!((1 << 30..=i32::MAX).contains(&q), "{m}: {q}");
            let back = q as f64 * 2f64.powi(s - 31);
            assert!((back - m).abs() / m < 1e-9, "{m}: {back}");
        }
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        // Below 2^-31 everything shifts out: flushed to zero.
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        // A significand that rounds up to 2^31 is halved.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
    }

    #[test]
    fn gemmlowp_primitives() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        // 3 · 2^30 · 2 / 2^32 = 1.5 → 2; gemmlowp's nudge of 1 − 2^30 for a negative
        // product makes −1.5 → −1 (the tie goes up, as the reference kernels compute it).
        assert_eq!(srdhm(3, 1 << 30), 2);
        assert_eq!(srdhm(-3, 1 << 30), -1);
        assert_eq!(srdhm(-5, 1 << 30), -2);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(7, 2), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        // x · 0.75 with the multiplier 0.75 = 0.75·2^31 · 2^(0−31).
        let (m, s) = quantize_multiplier(0.75);
        assert_eq!(multiply_by_quantized_multiplier(100, m, s), 75);
        assert_eq!(multiply_by_quantized_multiplier(-101, m, s), -76);
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 21);
    }

    #[test]
    fn relu6_range() {
        assert_eq!(activation_range(true, 6.0 / 255.0, -128), (-128, 127));
        assert_eq!(activation_range(true, 0.05, -100), (-100, 20));
        assert_eq!(activation_range(false, 0.05, -100), (-128, 127));
    }
}
