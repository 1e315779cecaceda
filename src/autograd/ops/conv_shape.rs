//! The shape of one convolution: what the dense, grouped and depthwise kernels are given.

use crate::error::{Result, shape_err};

/// Shapes of one convolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvShape {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
}

impl ConvShape {
    /// For the profiler: `n×cin×h×w → cout×oh×ow k3 s2 g1`.
    pub fn label(&self) -> String {
        format!(
            "{}×{}×{}×{} → {}×{}×{} k{}{} s{} g{}",
            self.n,
            self.cin,
            self.h,
            self.w,
            self.cout,
            self.oh(),
            self.ow(),
            self.kh,
            if self.kw == self.kh {
                String::new()
            } else {
                format!("×{}", self.kw)
            },
            self.stride,
            self.groups
        )
    }
}

impl ConvShape {
    /// A k×k convolution with "same" padding (k/2).
    #[allow(clippy::too_many_arguments)]
    pub fn same(
        n: usize,
        cin: usize,
        h: usize,
        w: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
    ) -> ConvShape {
        ConvShape {
            n,
            cin,
            h,
            w,
            cout,
            kh: k,
            kw: k,
            stride,
            pad: k / 2,
            groups,
        }
    }

    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    pub(crate) fn check(&self) -> Result<()> {
        let s = self;
        if s.stride == 0
            || s.groups == 0
            || !s.cin.is_multiple_of(s.groups)
            || !s.cout.is_multiple_of(s.groups)
        {
            return shape_err(
                "conv2d",
                format!(
                    "stride {}, groups {} for {} -> {} channels",
                    s.stride, s.groups, s.cin, s.cout
                ),
            );
        }
        if s.n == 0 || s.cin == 0 || s.cout == 0 || s.h == 0 || s.w == 0 {
            return shape_err(
                "conv2d",
                format!(
                    "empty input or output: {}x{}x{}x{} -> {} channels",
                    s.n, s.cin, s.h, s.w, s.cout
                ),
            );
        }
        if s.h + 2 * s.pad < s.kh || s.w + 2 * s.pad < s.kw {
            return shape_err(
                "conv2d",
                format!(
                    "{}x{} kernel larger than padded {}x{} input",
                    s.kh, s.kw, s.h, s.w
                ),
            );
        }
        Ok(())
    }
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0 && self.groups == 1
    }
    pub fn is_depthwise(&self) -> bool {
        self.groups == self.cin
            && self.cin == self.cout
            && self.kh == self.kw
            && self.kh <= 7
            && self.stride <= 4
    }
}
