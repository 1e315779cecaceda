//! Batch preparation on the CPU: grey→RGB, bilinear resize to the batch's resolution, random
//! crop with zero padding and horizontal flip, all seeded.

use super::Dataset;
use rand::Rng;

#[derive(Clone, Copy, Debug, Default)]
pub struct Augment {
    /// Output resolution (None: the dataset's).
    pub resolution: Option<usize>,
    /// Replicate a single channel into three.
    pub rgb: bool,
    /// Random crop after zero padding by this many pixels (0: none).
    pub crop_pad: usize,
    pub flip: bool,
}

/// Bilinear resize of one channel plane (align-corners off, as PyTorch's).
pub fn resize_plane(src: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let mut out = vec![0.0; oh * ow];
    let (sy, sx) = (h as f32 / oh as f32, w as f32 / ow as f32);
    for y in 0..oh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..ow {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(w - 1);
            let top = src[y0 * w + x0] * (1.0 - tx) + src[y0 * w + x1] * tx;
            let bot = src[y1 * w + x0] * (1.0 - tx) + src[y1 * w + x1] * tx;
            out[y * ow + x] = top * (1.0 - ty) + bot * ty;
        }
    }
    out
}

impl Dataset {
    /// Images `idx` prepared by `aug` as f32 [n, C, R, R] (normalised), their labels, and (C, R).
    pub fn augmented_batch(
        &self,
        idx: &[usize],
        aug: &Augment,
        rng: &mut impl Rng,
    ) -> (Vec<f32>, Vec<f32>, (usize, usize)) {
        let (h, w) = (self.height, self.width);
        let r = aug.resolution.unwrap_or(h);
        let c_out = if aug.rgb { 3 } else { self.channels };
        let mut x = Vec::with_capacity(idx.len() * c_out * r * r);
        for &i in idx {
            let img = self.normalized(i);
            let (dy, dx) = if aug.crop_pad > 0 {
                (
                    rng.random_range(0..=2 * aug.crop_pad),
                    rng.random_range(0..=2 * aug.crop_pad),
                )
            } else {
                (aug.crop_pad, aug.crop_pad)
            };
            let flip = aug.flip && rng.random_bool(0.5);
            let mut planes = Vec::new();
            for c in 0..self.channels {
                let src = &img[c * h * w..(c + 1) * h * w];
                // Crop of the zero-padded plane at (dy, dx), then the flip.
                let mut p = vec![0.0f32; h * w];
                for y in 0..h {
                    for xx in 0..w {
                        let (sy, sx) = (
                            (y + dy) as isize - aug.crop_pad as isize,
                            (xx + dx) as isize - aug.crop_pad as isize,
                        );
                        if sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w {
                            let ox = if flip { w - 1 - xx } else { xx };
                            p[y * w + ox] = src[sy as usize * w + sx as usize];
                        }
                    }
                }
                planes.push(if (r, r) == (h, w) {
                    p
                } else {
                    resize_plane(&p, h, w, r, r)
                });
            }
            for c in 0..c_out {
                x.extend_from_slice(&planes[c.min(planes.len() - 1)]);
            }
        }
        (
            x,
            idx.iter().map(|&i| self.labels[i] as f32).collect(),
            (c_out, r),
        )
    }
}

impl Dataset {
    /// Image `i` as the sensor would hand it to firmware: pixels (HWC, u8) resized bilinearly to
    /// `resolution` (rounded), grey replicated into three channels when `rgb`. Normalising these
    /// pixels gives the training input up to the rounding (the resize is linear).
    pub fn pixels(&self, i: usize, resolution: usize, rgb: bool) -> Vec<u8> {
        let (h, w, c) = (self.height, self.width, self.channels);
        let img = &self.images[i * self.image_size()..(i + 1) * self.image_size()];
        let planes: Vec<Vec<u8>> = (0..c)
            .map(|ch| {
                let p: Vec<f32> = img[ch * h * w..(ch + 1) * h * w]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                if (h, w) == (resolution, resolution) {
                    p.iter().map(|&v| v as u8).collect()
                } else {
                    resize_plane(&p, h, w, resolution, resolution)
                        .iter()
                        .map(|v| v.round().clamp(0.0, 255.0) as u8)
                        .collect()
                }
            })
            .collect();
        let c_out = if rgb { 3 } else { c };
        (0..resolution * resolution * c_out)
            .map(|i| planes[(i % c_out).min(c - 1)][i / c_out])
            .collect()
    }
}
