// Activations and their derivatives, shared by elementwise.wgsl and norm.wgsl (prepended to
// both by src/gpu/pipelines.rs). ACT picks one per pipeline; 99 = none (identity).

const ACT_NONE: u32 = 99u;
override ACT: u32 = ACT_NONE; // 0 relu, 1 relu6, 2 h-swish, 3 h-sigmoid, 4 sigmoid

fn act(x: f32) -> f32 {
    switch ACT {
        case 0u: { return max(x, 0.0); }
        case 1u: { return clamp(x, 0.0, 6.0); }
        case 2u: { return x * clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        case 3u: { return clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        case 4u: { return 1.0 / (1.0 + exp(-x)); }
        default: { return x; }
    }
}

// d act / dx, with the subgradient 0 at the kinks (as PyTorch).
fn act_grad(x: f32) -> f32 {
    switch ACT {
        case 0u: { return select(0.0, 1.0, x > 0.0); }
        case 1u: { return select(0.0, 1.0, x > 0.0 && x < 6.0); }
        case 2u: {
            if x <= -3.0 { return 0.0; }
            if x >= 3.0 { return 1.0; }
            return (2.0 * x + 3.0) / 6.0;
        }
        case 3u: { return select(0.0, 1.0 / 6.0, x > -3.0 && x < 3.0); }
        case 4u: {
            let s = 1.0 / (1.0 + exp(-x));
            return s * (1.0 - s);
        }
        default: { return 1.0; }
    }
}
