//! Weight initialisation (as torchvision's MobileNetV2): Kaiming-normal fan-out for convolutions,
//! N(0, 0.01) for linear layers, γ = 1 and β = 0 for batch norm.

use rand::Rng;

/// Standard normal samples by Box–Muller.
pub fn normal(rng: &mut impl Rng, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect()
}

/// Kaiming normal, fan-out mode, for a conv weight [cout, cin/groups, kh, kw].
pub fn kaiming_conv(rng: &mut impl Rng, shape: [usize; 4]) -> Vec<f32> {
    let fan_out = (shape[0] * shape[2] * shape[3]) as f64;
    normal(rng, shape.iter().product(), (2.0 / fan_out).sqrt())
}
