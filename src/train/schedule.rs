//! Progressive shrinking (OFA): a list of phases, each with its epochs, learning rate, subnets
//! per step and the choices that are elastic in it — full network, then elastic kernel, then
//! elastic depth, then elastic expand ratio (after re-ordering the middle channels by importance).

use crate::arch::SearchSpace;
use crate::error::{Document, Error, Field, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub epochs: usize,
    /// Peak learning rate of the phase (cosine decay to zero within the phase).
    pub lr: f32,
    /// Warm-up epochs at the start of the phase (may be fractional).
    #[serde(default)]
    pub warmup_epochs: f32,
    /// Subnets per batch: the largest, the smallest, then random ones.
    pub subnets_per_step: usize,
    /// The choices active in this phase (absent: every choice of the space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_choices: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_choices: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_choices: Option<Vec<usize>>,
    /// Re-order every elastic block's middle channels by importance when the phase starts.
    #[serde(default)]
    pub reorder_channels: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub phases: Vec<Phase>,
}

fn largest(v: &[usize]) -> Vec<usize> {
    vec![*v.iter().max().unwrap()]
}

impl Schedule {
    /// OFA's progressive shrinking over `epochs` in total: a quarter for the full network
    /// (largest subnet only), a quarter with elastic kernel, a quarter adding elastic depth, a
    /// quarter adding elastic expand ratio (channels re-ordered first). Later phases run at half
    /// the learning rate, as fine-tuning of the shared weights.
    pub fn progressive(space: &SearchSpace, epochs: usize, lr: f32, subnets: usize) -> Schedule {
        let q = epochs / 4;
        let extra = epochs % 4;
        let ep = |i: usize| q + (i < extra) as usize;
        let kmax = largest(&space.kernel_choices);
        let emax = largest(&space.expand_choices);
        let dmax = largest(&space.depth_choices);
        let phase = |name: &str, i: usize, lr: f32, n: usize| Phase {
            name: name.into(),
            epochs: ep(i),
            lr,
            warmup_epochs: if i == 0 {
                (ep(0) as f32 * 0.2).min(1.0)
            } else {
                0.0
            },
            subnets_per_step: n,
            kernel_choices: None,
            expand_choices: None,
            depth_choices: None,
            reorder_channels: false,
        };
        let phases = vec![
            Phase {
                kernel_choices: Some(kmax.clone()),
                expand_choices: Some(emax.clone()),
                depth_choices: Some(dmax.clone()),
                ..phase("full", 0, lr, 1)
            },
            Phase {
                expand_choices: Some(emax.clone()),
                depth_choices: Some(dmax),
                ..phase("kernel", 1, lr * 0.5, subnets)
            },
            Phase {
                expand_choices: Some(emax),
                ..phase("depth", 2, lr * 0.5, subnets)
            },
            Phase {
                reorder_channels: true,
                ..phase("expand", 3, lr * 0.5, subnets)
            },
        ];
        Schedule {
            phases: phases.into_iter().filter(|p| p.epochs > 0).collect(),
        }
    }

    /// Every choice elastic from the start (the sandwich rule of BigNAS / the BENCH step).
    pub fn joint(epochs: usize, lr: f32, subnets: usize) -> Schedule {
        Schedule {
            phases: vec![Phase {
                name: "joint".into(),
                epochs,
                lr,
                warmup_epochs: (epochs as f32 * 0.1).min(1.0),
                subnets_per_step: subnets,
                kernel_choices: None,
                expand_choices: None,
                depth_choices: None,
                reorder_channels: false,
            }],
        }
    }

    /// A preset by name (`progressive`, `joint`) or a JSON file.
    pub fn resolve(
        spec: &str,
        space: &SearchSpace,
        epochs: usize,
        lr: f32,
        subnets: usize,
    ) -> Result<Schedule> {
        let s = match spec {
            "progressive" => Schedule::progressive(space, epochs, lr, subnets),
            "joint" => Schedule::joint(epochs, lr, subnets),
            path => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::bad(
                        Field::Schedule,
                        path,
                        format!("{e} (give `progressive`, `joint` or a JSON file)"),
                    )
                })?;
                crate::io::parse_json::<Schedule>(&text, &format!("schedule {path}"))?
            }
        };
        s.validate(space)?;
        Ok(s)
    }

    pub fn validate(&self, space: &SearchSpace) -> Result<()> {
        if self.phases.is_empty() {
            return Err(Error::bad_entry(
                Document::Schedule,
                "phases",
                "none; give at least one",
            ));
        }
        for (i, p) in self.phases.iter().enumerate() {
            let bad = |why: String| {
                let entry = format!("phases[{i}] ({})", p.name);
                Err(Error::bad_entry(Document::Schedule, entry, why))
            };
            if p.epochs == 0 || p.epochs > 100_000 {
                return bad(format!("epochs {} must be 1 to 100000", p.epochs));
            }
            // No upper bound: a rate that diverges stops the run at its first non-finite loss.
            if !(p.lr.is_finite() && p.lr > 0.0) {
                return bad(format!("lr {} must be positive and finite", p.lr));
            }
            if !(p.warmup_epochs.is_finite()
                && p.warmup_epochs >= 0.0
                && p.warmup_epochs <= p.epochs as f32)
            {
                return bad(format!(
                    "warmup_epochs {} must be 0 to the phase's {} epochs",
                    p.warmup_epochs, p.epochs
                ));
            }
            if p.subnets_per_step == 0 || p.subnets_per_step > 64 {
                return bad(format!(
                    "subnets_per_step {} must be 1 to 64",
                    p.subnets_per_step
                ));
            }
            for (name, sub, all) in [
                ("kernel_choices", &p.kernel_choices, &space.kernel_choices),
                ("expand_choices", &p.expand_choices, &space.expand_choices),
                ("depth_choices", &p.depth_choices, &space.depth_choices),
            ] {
                if let Some(v) = sub
                    && (v.is_empty() || v.iter().any(|c| !all.contains(c)))
                {
                    return bad(format!(
                        "{name} {v:?} must be a non-empty subset of {all:?}"
                    ));
                }
            }
            // What the phase trains is a space of its own: it must be valid as one.
            if let Err(e) = p.space(space).validate() {
                return bad(e.to_string());
            }
        }
        Ok(())
    }

    pub fn total_epochs(&self) -> usize {
        self.phases.iter().map(|p| p.epochs).sum()
    }
}

impl Phase {
    /// The space with this phase's choices.
    pub fn space(&self, space: &SearchSpace) -> SearchSpace {
        let mut s = space.clone();
        if let Some(k) = &self.kernel_choices {
            s.kernel_choices = k.clone();
        }
        if let Some(e) = &self.expand_choices {
            s.expand_choices = e.clone();
        }
        if let Some(d) = &self.depth_choices {
            s.depth_choices = d.clone();
        }
        s
    }
}

/// Where a global step falls: phase index, epoch within the phase, step within the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub phase: usize,
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// Global step at which the phase started.
    pub phase_start: usize,
}

impl Schedule {
    /// Position of global `step` with `steps_per_epoch`; None when the schedule is done.
    pub fn position(&self, step: usize, steps_per_epoch: usize) -> Option<Position> {
        let mut start = 0;
        for (i, p) in self.phases.iter().enumerate() {
            let len = p.epochs * steps_per_epoch;
            if step < start + len {
                let within = step - start;
                return Some(Position {
                    phase: i,
                    epoch: within / steps_per_epoch,
                    step_in_epoch: within % steps_per_epoch,
                    phase_start: start,
                });
            }
            start += len;
        }
        None
    }

    pub fn total_steps(&self, steps_per_epoch: usize) -> usize {
        self.total_epochs() * steps_per_epoch
    }
}
