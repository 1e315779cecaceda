//! Run metrics: the JSON lines of metrics.jsonl and the loss / validation-accuracy figure (drawn
//! by the observer).

use crate::chart::{Chart, Series};
use crate::observer::Observer;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Lines of metrics.jsonl.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
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

/// A run's metrics.jsonl as its writer keeps it: every metric in memory; the file written at
/// the run's first checkpoint, then appended to, line by line. At that first checkpoint the
/// metrics are written under a hidden name before the checkpoint is published and renamed to
/// metrics.jsonl after it: a new run killed before its first checkpoint leaves only that hidden
/// file (which the next run writes over) and nothing that blocks the folder; one killed between
/// the checkpoint and the rename is resumed from the hidden file.
pub struct MetricsLog {
    path: PathBuf,
    all: Vec<Metric>,
    file: Option<std::fs::File>,
    writer: bool,
    /// The hidden file is written and waits for its checkpoint.
    pending: bool,
}

/// The metrics of a run's first checkpoint until that checkpoint is published.
pub const PENDING_METRICS: &str = ".tinynas-metrics.jsonl.pending";

impl MetricsLog {
    /// The log of the run in `dir` holding `so_far` (a resumed run's metrics to its checkpoint,
    /// rewritten at once: a killed run may have logged further); `writer` false keeps it in
    /// memory only (a data-parallel rank other than 0).
    pub fn new(dir: &Path, so_far: Vec<Metric>, resumed: bool, writer: bool) -> Result<MetricsLog> {
        let mut log = MetricsLog {
            path: dir.join("metrics.jsonl"),
            all: so_far,
            file: None,
            writer,
            pending: false,
        };
        if resumed {
            // The checkpoint is there already.
            log.before_checkpoint()?;
            log.after_checkpoint()?;
        }
        Ok(log)
    }

    pub fn push(&mut self, m: Metric) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            writeln!(
                f,
                "{}",
                serde_json::to_string(&m).expect("a metric serialises")
            )?;
        }
        self.all.push(m);
        Ok(())
    }

    /// Every metric on disk before a checkpoint is written (a resumed run reads the metrics up
    /// to its checkpoint's step).
    pub fn before_checkpoint(&mut self) -> Result<()> {
        if !self.writer {
            return Ok(());
        }
        match self.file.as_mut() {
            Some(f) => f.flush()?,
            None => {
                let mut lines = String::new();
                for m in &self.all {
                    lines.push_str(&serde_json::to_string(m).expect("a metric serialises"));
                    lines.push('\n');
                }
                crate::io::write_atomic(&self.pending_path(), lines.as_bytes())?;
                self.pending = true;
            }
        }
        Ok(())
    }

    /// The checkpoint is published: the first one's metrics take their name.
    pub fn after_checkpoint(&mut self) -> Result<()> {
        if !self.pending {
            return Ok(());
        }
        let pending = self.pending_path();
        std::fs::rename(&pending, &self.path).map_err(|e| Error::Write {
            path: self.path.display().to_string(),
            source: e,
        })?;
        self.file = Some(std::fs::OpenOptions::new().append(true).open(&self.path)?);
        self.pending = false;
        Ok(())
    }

    fn pending_path(&self) -> PathBuf {
        self.path.with_file_name(PENDING_METRICS)
    }

    pub fn all(&self) -> &[Metric] {
        &self.all
    }
}

/// The metrics of a run directory (a resumed run keeps those up to its checkpoint).
pub fn read_metrics(dir: &Path) -> Result<Vec<Metric>> {
    // The run appends to this file and rewrites it on resume, so a line cut short by a kill is
    // dropped; any other damaged line is an error. A run killed between its first checkpoint
    // and the metrics' rename left them under the hidden name.
    let path = dir.join("metrics.jsonl");
    let pending = dir.join(PENDING_METRICS);
    if !path.exists() && pending.exists() {
        return crate::io::read_jsonl(&pending, true);
    }
    crate::io::read_jsonl(&path, true)
}

/// The loss and validation-accuracy curves, drawn by `obs` into `path` (written atomically;
/// nothing where the observer draws nothing).
pub fn draw_metrics(obs: &dyn Observer, path: &Path, metrics: &[Metric]) -> Result<()> {
    match obs.draw(&training_charts(metrics))? {
        Some(png) => crate::io::write_atomic(path, &png),
        None => Ok(()),
    }
}

/// The figure of the loss and validation-accuracy curves.
pub fn training_charts(metrics: &[Metric]) -> Vec<Chart> {
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
    vec![
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
    ]
}
