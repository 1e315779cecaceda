#![allow(clippy::needless_range_loop)]
//! The f64 CPU reference of `nn::net::Net`: the layers of the same network description and
//! initial weights, a minimal tape over the reference ops, and the same SGD update.

use tinynas::arch::net::Network;
use tinynas::autograd::ops::Act;
use tinynas::autograd::ops::conv::reference as conv_ref;
use tinynas::autograd::ops::conv_shape::ConvShape;
use tinynas::autograd::ops::loss::{reference_cross_entropy, smoothed_targets};
use tinynas::autograd::ops::matmul::reference as mm_ref;
use tinynas::autograd::ops::norm::reference as bn_ref;

enum Op {
    Conv {
        x: usize,
        w: usize,
        cs: ConvShape,
    },
    Bn {
        x: usize,
        g: usize,
        b: usize,
        n: usize,
        c: usize,
        hw: usize,
    },
    Act {
        x: usize,
        act: Act,
    },
    Add {
        a: usize,
        b: usize,
    },
    Pool {
        x: usize,
        hw: usize,
    },
    Linear {
        x: usize,
        w: usize,
        b: usize,
        n: usize,
        i: usize,
        o: usize,
    },
}

struct Tape<'a> {
    params: &'a [Vec<f64>],
    vals: Vec<Vec<f64>>,
    ops: Vec<(Op, usize)>,
}

impl Tape<'_> {
    fn push(&mut self, op: Op, v: Vec<f64>) -> usize {
        self.vals.push(v);
        let out = self.vals.len() - 1;
        self.ops.push((op, out));
        out
    }
    fn conv(&mut self, x: usize, w: usize, cs: ConvShape) -> usize {
        let y = conv_ref::conv2d(&self.vals[x], &self.params[w], &cs);
        self.push(Op::Conv { x, w, cs }, y)
    }
    fn bn(&mut self, x: usize, g: usize, n: usize, c: usize, hw: usize) -> usize {
        let y = bn_ref::batch_norm(
            &self.vals[x],
            &self.params[g],
            &self.params[g + 1],
            n,
            c,
            hw,
            1e-5,
        )
        .0;
        self.push(
            Op::Bn {
                x,
                g,
                b: g + 1,
                n,
                c,
                hw,
            },
            y,
        )
    }
    fn act(&mut self, x: usize, act: Act) -> usize {
        let y = self.vals[x].iter().map(|&v| act.reference(v).0).collect();
        self.push(Op::Act { x, act }, y)
    }
}

pub struct CpuNet {
    pub config: Network,
    pub params: Vec<Vec<f64>>,
    pub decay: Vec<bool>,
    momentum: Vec<Vec<f64>>,
}

impl CpuNet {
    pub fn new(config: Network, params: Vec<Vec<f64>>, decay: Vec<bool>) -> CpuNet {
        let momentum = params.iter().map(|p| vec![0.0; p.len()]).collect();
        CpuNet {
            config,
            params,
            decay,
            momentum,
        }
    }

    /// (loss, gradient of every parameter) for images x[n, C, h, w] in training mode.
    pub fn loss_and_grads(
        &self,
        x: &[f64],
        labels: &[usize],
        n: usize,
        h: usize,
        w: usize,
        smoothing: f64,
    ) -> (f64, Vec<Vec<f64>>) {
        let cfg = &self.config;
        let mut t = Tape {
            params: &self.params,
            vals: vec![x.to_vec()],
            ops: Vec::new(),
        };
        let mut p = 0; // next parameter index, in `Module::params` order
        let (mut c, mut hh, mut ww) = (cfg.input.channels, h, w);
        let mut conv_bn = |t: &mut Tape,
                           x: usize,
                           cin: usize,
                           cout: usize,
                           k: usize,
                           stride: usize,
                           groups: usize,
                           hh: &mut usize,
                           ww: &mut usize,
                           act: Option<Act>| {
            let cs = ConvShape::same(n, cin, *hh, *ww, cout, k, stride, groups);
            let y = t.conv(x, p, cs);
            *hh = cs.oh();
            *ww = cs.ow();
            let y = t.bn(y, p + 1, n, cout, *hh * *ww);
            p += 3;
            match act {
                Some(a) => t.act(y, a),
                None => y,
            }
        };
        let mut v = conv_bn(
            &mut t,
            0,
            c,
            cfg.stem.out_channels,
            cfg.stem.kernel_size,
            cfg.stem.stride,
            1,
            &mut hh,
            &mut ww,
            Some(Act::Relu6),
        );
        c = cfg.stem.out_channels;
        for b in &cfg.blocks {
            let input = v;
            assert_eq!(c, b.in_channels);
            let mid = b.mid();
            let mut hcur = v;
            if b.expand_ratio != 1 {
                hcur = conv_bn(
                    &mut t,
                    hcur,
                    c,
                    mid,
                    1,
                    1,
                    1,
                    &mut hh,
                    &mut ww,
                    Some(Act::Relu6),
                );
            }
            hcur = conv_bn(
                &mut t,
                hcur,
                mid,
                mid,
                b.kernel_size,
                b.stride,
                mid,
                &mut hh,
                &mut ww,
                Some(Act::Relu6),
            );
            hcur = conv_bn(
                &mut t,
                hcur,
                mid,
                b.out_channels,
                1,
                1,
                1,
                &mut hh,
                &mut ww,
                None,
            );
            if b.has_residual() {
                let y = t.vals[hcur]
                    .iter()
                    .zip(&t.vals[input])
                    .map(|(a, b)| a + b)
                    .collect();
                hcur = t.push(Op::Add { a: hcur, b: input }, y);
            }
            v = hcur;
            c = b.out_channels;
        }
        if let Some(f) = cfg.feature_mix_channels {
            v = conv_bn(&mut t, v, c, f, 1, 1, 1, &mut hh, &mut ww, Some(Act::Relu6));
            c = f;
        }
        let hw = hh * ww;
        let pooled = (0..n * c)
            .map(|i| t.vals[v][i * hw..(i + 1) * hw].iter().sum::<f64>() / hw as f64)
            .collect();
        let pooled = t.push(Op::Pool { x: v, hw }, pooled);
        let k = cfg.classes;
        let logits = mm_ref::linear(
            &t.vals[pooled],
            &self.params[p],
            Some(&self.params[p + 1]),
            n,
            c,
            k,
        );
        let logits = t.push(
            Op::Linear {
                x: pooled,
                w: p,
                b: p + 1,
                n,
                i: c,
                o: k,
            },
            logits,
        );
        let targets = smoothed_targets(labels, k, smoothing);
        let (loss, dlogits) = reference_cross_entropy(&t.vals[logits], &targets, n, k);

        let mut gv: Vec<Option<Vec<f64>>> = vec![None; t.vals.len()];
        let mut gp: Vec<Vec<f64>> = self.params.iter().map(|q| vec![0.0; q.len()]).collect();
        gv[logits] = Some(dlogits);
        let add_to = |slot: &mut Option<Vec<f64>>, g: Vec<f64>| match slot {
            Some(s) => s.iter_mut().zip(g).for_each(|(a, b)| *a += b),
            None => *slot = Some(g),
        };
        for (op, out) in t.ops.iter().rev() {
            let Some(g) = gv[*out].take() else { continue };
            match op {
                Op::Conv { x, w, cs } => {
                    let (dx, dw) = conv_ref::conv2d_backward(&t.vals[*x], &self.params[*w], &g, cs);
                    add_to(&mut gv[*x], dx);
                    gp[*w].iter_mut().zip(dw).for_each(|(a, b)| *a += b);
                }
                Op::Bn {
                    x,
                    g: gi,
                    b,
                    n,
                    c,
                    hw,
                } => {
                    let (dx, dg, db) = bn_ref::batch_norm_backward(
                        &t.vals[*x],
                        &self.params[*gi],
                        &g,
                        *n,
                        *c,
                        *hw,
                        1e-5,
                    );
                    add_to(&mut gv[*x], dx);
                    gp[*gi].iter_mut().zip(dg).for_each(|(a, b)| *a += b);
                    gp[*b].iter_mut().zip(db).for_each(|(a, b)| *a += b);
                }
                Op::Act { x, act } => {
                    let dx = t.vals[*x]
                        .iter()
                        .zip(&g)
                        .map(|(&v, &gg)| gg * act.reference(v).1)
                        .collect();
                    add_to(&mut gv[*x], dx);
                }
                Op::Add { a, b } => {
                    add_to(&mut gv[*a], g.clone());
                    add_to(&mut gv[*b], g);
                }
                Op::Pool { x, hw } => {
                    let dx = (0..g.len() * hw).map(|i| g[i / hw] / *hw as f64).collect();
                    add_to(&mut gv[*x], dx);
                }
                Op::Linear { x, w, b, n, i, o } => {
                    let (dx, dw, db) =
                        mm_ref::linear_backward(&t.vals[*x], &self.params[*w], &g, *n, *i, *o);
                    add_to(&mut gv[*x], dx);
                    gp[*w].iter_mut().zip(dw).for_each(|(a, b)| *a += b);
                    gp[*b].iter_mut().zip(db).for_each(|(a, b)| *a += b);
                }
            }
        }
        (loss, gp)
    }

    /// SGD with momentum, Nesterov and weight decay on the decaying parameters (PyTorch's form).
    pub fn sgd_step(&mut self, grads: &[Vec<f64>], lr: f64, momentum: f64, wd: f64) {
        for i in 0..self.params.len() {
            let wdi = if self.decay[i] { wd } else { 0.0 };
            for j in 0..self.params[i].len() {
                let g = grads[i][j] + wdi * self.params[i][j];
                let b = momentum * self.momentum[i][j] + g;
                self.momentum[i][j] = b;
                self.params[i][j] -= lr * (g + momentum * b);
            }
        }
    }
}
