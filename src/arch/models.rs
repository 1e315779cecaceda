//! Published networks as network descriptions: MobileNetV2 and ProxylessNAS-Mobile, the
//! yardsticks of the MCU evaluator's published figures.

use crate::arch::net::{Block, Input, Network, Stem, make_divisible};

/// MobileNetV2 (Sandler et al.) at width `w` and resolution `r`, 3-channel input, 1000 classes.
pub fn mobilenet_v2(width: f64, resolution: usize, classes: usize) -> Network {
    let settings = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let stem = make_divisible(32.0 * width);
    let mut blocks = Vec::new();
    let mut c = stem;
    for (t, ch, n, s) in settings {
        let out = make_divisible(ch as f64 * width);
        for i in 0..n {
            blocks.push(Block::new(c, out, 3, if i == 0 { s } else { 1 }, t));
            c = out;
        }
    }
    Network {
        name: format!("mbv2-w{width}-r{resolution}"),
        input: Input {
            resolution,
            channels: 3,
        },
        stem: Stem {
            out_channels: stem,
            kernel_size: 3,
            stride: 2,
        },
        blocks,
        feature_mix_channels: Some(if width > 1.0 {
            make_divisible(1280.0 * width)
        } else {
            1280
        }),
        classes,
    }
}

/// ProxylessNAS-Mobile (Cai et al. 2019) at width 1.0: per-block kernels and expand ratios of
/// the published model, skipped blocks left out.
pub fn proxyless_mobile(resolution: usize, classes: usize) -> Network {
    // (out channels, kernel, expand, stride) of every block that is present.
    let spec: [(usize, usize, usize, usize); 19] = [
        (16, 3, 1, 1),
        (32, 5, 3, 2),
        (32, 3, 3, 1),
        (40, 7, 3, 2),
        (40, 3, 3, 1),
        (40, 5, 3, 1),
        (40, 5, 3, 1),
        (80, 7, 6, 2),
        (80, 5, 3, 1),
        (80, 5, 3, 1),
        (80, 5, 3, 1),
        (96, 5, 6, 1),
        (96, 5, 3, 1),
        (96, 5, 3, 1),
        (96, 5, 3, 1),
        (192, 7, 6, 2),
        (192, 7, 6, 1),
        (192, 7, 3, 1),
        (192, 7, 3, 1),
    ];
    let blocks = chain(32, spec.iter().chain(&[(320, 7, 6, 1)]));
    Network {
        name: format!("proxyless-mobile-r{resolution}"),
        input: Input {
            resolution,
            channels: 3,
        },
        stem: Stem {
            out_channels: 32,
            kernel_size: 3,
            stride: 2,
        },
        blocks,
        feature_mix_channels: Some(1280),
        classes,
    }
}

/// MCUNet-in2 (Lin et al. 2020; "mcunet-256kb-1mb_imagenet" of MCUNet's model zoo, for 256 KB
/// SRAM and 1 MB flash): resolution 160, stem 16, a fixed first block and 17 searched ones, no feature mix, 1000
/// classes. BENCH.md holds its arena as TF Lite Micro measures it.
pub fn mcunet_in2() -> Network {
    // (out channels, kernel, expand ratio, stride) per block; every middle width is in · e.
    let spec: [(usize, usize, usize, usize); 17] = [
        (8, 3, 1, 1),
        (16, 5, 3, 2),
        (16, 7, 6, 1),
        (16, 3, 5, 1),
        (16, 5, 5, 1),
        (24, 3, 5, 2),
        (24, 7, 6, 1),
        (24, 5, 6, 1),
        (40, 7, 4, 2),
        (40, 5, 5, 1),
        (48, 3, 5, 1),
        (48, 5, 5, 1),
        (48, 3, 4, 1),
        (96, 5, 6, 2),
        (96, 5, 4, 1),
        (96, 5, 3, 1),
        (96, 3, 4, 1),
    ];
    let blocks = chain(16, spec.iter().chain(&[(160, 5, 5, 1)]));
    Network {
        name: "mcunet-in2".into(),
        input: Input {
            resolution: 160,
            channels: 3,
        },
        stem: Stem {
            out_channels: 16,
            kernel_size: 3,
            stride: 2,
        },
        blocks,
        feature_mix_channels: None,
        classes: 1000,
    }
}

/// Blocks given as (out channels, kernel, expand ratio, stride), each taking the previous
/// one's output (the first the stem's `stem` channels).
fn chain<'a>(
    stem: usize,
    spec: impl IntoIterator<Item = &'a (usize, usize, usize, usize)>,
) -> Vec<Block> {
    let mut c = stem;
    spec.into_iter()
        .map(|&(out, k, e, s)| {
            let b = Block::new(c, out, k, s, e);
            c = out;
            b
        })
        .collect()
}

/// A 3×3 stride-2 stem and blocks as `chain` takes them, no feature mix: the small networks
/// the engine trains from scratch.
fn plain(
    name: &str,
    input: Input,
    stem: usize,
    spec: &[(usize, usize, usize, usize)],
    classes: usize,
) -> Network {
    let blocks = chain(stem, spec);
    Network {
        name: format!("{name}-r{}", input.resolution),
        input,
        stem: Stem {
            out_channels: stem,
            kernel_size: 3,
            stride: 2,
        },
        blocks,
        feature_mix_channels: None,
        classes,
    }
}

/// Stem 8 and three blocks up to 12 channels: small enough for the engine's reference tests
/// on a software rasteriser.
pub fn tiny_mobilenet(input: Input, classes: usize) -> Network {
    let spec = [(8, 3, 1, 1), (12, 5, 3, 2), (12, 3, 3, 1)];
    plain("tiny-mobilenet", input, 8, &spec, classes)
}

/// Stem 16 and four blocks up to 32 channels (about 20 k parameters on 10 classes): the
/// default network of `tinynas train-mobilenet`.
pub fn small_mobilenet(input: Input, classes: usize) -> Network {
    let spec = [(16, 3, 1, 1), (24, 3, 4, 2), (24, 5, 4, 1), (32, 3, 4, 2)];
    plain("small-mobilenet", input, 16, &spec, classes)
}
