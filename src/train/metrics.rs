//! Run metrics: the JSON lines of metrics.jsonl and the loss / validation-accuracy plot.

use crate::Result;
use crate::plot::{Chart, Series};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Lines of metrics.jsonl.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    Step {
        step: usize,
        phase: String,
        epoch: usize,
        lr: f32,
        losses: Vec<f32>,
        images_per_s: f64,
    },
    Validation {
        step: usize,
        phase: String,
        epoch: usize,
        largest: f64,
        smallest: f64,
    },
}

impl Metric {
    pub fn step(&self) -> usize {
        match self {
            Metric::Step { step, .. } | Metric::Validation { step, .. } => *step,
        }
    }
}

/// The metrics of a run directory (a resumed run keeps those up to its checkpoint).
pub fn read_metrics(dir: &Path) -> Result<Vec<Metric>> {
    // The run appends to this file and rewrites it on resume, so a line cut short by a kill is
    // dropped; any other damaged line is an error.
    crate::io::read_jsonl(&dir.join("metrics.jsonl"), true)
}

/// The loss and validation-accuracy curves as a PNG.
pub fn plot_metrics(path: &Path, metrics: &[Metric]) -> Result<()> {
    let mut loss = Vec::new();
    let (mut large, mut small) = (Vec::new(), Vec::new());
    for m in metrics {
        match m {
            Metric::Step { step, losses, .. } => {
                let mean = losses.iter().sum::<f32>() / losses.len().max(1) as f32;
                loss.push((*step as f64, mean as f64));
            }
            Metric::Validation {
                step,
                largest,
                smallest,
                ..
            } => {
                large.push((*step as f64, largest * 100.0));
                small.push((*step as f64, smallest * 100.0));
            }
        }
    }
    // A moving average keeps the curve readable over thousands of steps.
    let w = (loss.len() / 100).max(1);
    let smooth: Vec<(f64, f64)> = loss
        .windows(w)
        .map(|win| {
            (
                win[w - 1].0,
                win.iter().map(|p| p.1).sum::<f64>() / w as f64,
            )
        })
        .collect();
    crate::plot::save_png(
        path,
        &[
            Chart {
                title: "training loss (mean over the step's subnets)".into(),
                x_label: "step".into(),
                y_label: "loss".into(),
                series: vec![Series::line("loss", smooth)],
                vlines: vec![],
            },
            Chart {
                title: "validation top-1 after BN recalibration".into(),
                x_label: "step".into(),
                y_label: "top-1 %".into(),
                series: vec![
                    Series::line("largest", large),
                    Series::line("smallest", small),
                ],
                vlines: vec![],
            },
        ],
    )
}
