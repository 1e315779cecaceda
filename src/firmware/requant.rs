//! The integer constants the generated kernels are given beside the weights: the biases with
//! the input zero point folded in, the output shifts they take, and whether a layer's
//! requantization may take the kernels' short form.

use super::unsupported;
use crate::Result;

/// Output multipliers' shifts must be TFLite's usual range for the kernels' arithmetic.
pub(super) fn check_shifts(op: &str, shifts: &[i32], max_left: i32) -> Result<()> {
    match shifts.iter().find(|&&s| !(-31..=max_left).contains(&s)) {
        Some(s) => Err(unsupported(format!(
            "{op}: a requantization shift of {s} (the kernels take −31 to {max_left})"
        ))),
        None => Ok(()),
    }
}

/// The biases of a layer whose kernel reads raw int8 inputs (pointwise, depthwise, fully
/// connected): bias − zin·Σw per output over its `cin` weights (a depthwise channel's k·k
/// taps), exact in integers.
pub(super) fn folded_bias(
    op: &str,
    weight: &[i8],
    bias: &[i32],
    cin: usize,
    zin: i32,
) -> Result<Vec<i32>> {
    bias.iter()
        .zip(weight.chunks(cin))
        .map(|(&b, w)| {
            let sum: i64 = w.iter().map(|&w| w as i64).sum();
            let v = b as i64 - zin as i64 * sum;
            i32::try_from(v).map_err(|_| {
                unsupported(format!("{op}: a bias of {v} with the zero point folded in"))
            })
        })
        .collect()
}

/// Whether every channel's requantization may take the kernels' short form (`rq_short`): a
/// right shift of 1 to 22 and an accumulator provably under 2^30 in magnitude — its bias plus
/// the largest input magnitude `xmax` times the channel's Σ|w| (the weights of channel `o`
/// are the `o`-th of `bias.len()` equal chunks). Under these bounds the short form's
/// arithmetic (2·acc, the rounding constant, the zero point's multiple of 2^e) cannot
/// overflow, so it is exact; otherwise the layer takes the general form.
pub(super) fn rq_short(weight: &[i8], bias: &[i32], shift: &[i32], xmax: i64) -> bool {
    if bias.is_empty() || !shift.iter().all(|s| (-22..=-1).contains(s)) {
        return false;
    }
    let per = weight.len() / bias.len();
    bias.iter().zip(weight.chunks(per)).all(|(&b, w)| {
        let sum: i64 = w.iter().map(|&w| (w as i64).abs()).sum();
        (b as i64).abs() + xmax * sum < 1 << 30
    })
}

/// The largest |x − zin| of an int8 input with zero point `zin`.
pub(super) fn centred_max(zin: i32) -> i64 {
    ((-128 - zin) as i64).abs().max((127 - zin) as i64)
}
