//! Checkpoints: tensors in safetensors (`weights-<step>.safetensors`) and the run state in
//! `state.json` that names them, published as one set (`io::publish`), so a run killed at any
//! point leaves the previous complete checkpoint or the new one; `load` checks the set against
//! the folder's manifest.

use super::compare::differing_fields;
use crate::Engine;
use crate::error::Field;
use crate::error::{Error, Result};
use crate::nn::{Module, Sgd};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub step: usize,
    pub epoch: usize,
    pub weights: String,
    /// The run's settings, compared on resume.
    pub config: serde_json::Value,
}

/// A named f32 tensor on the CPU.
pub type Named = (String, Vec<usize>, Vec<f32>);

/// A loaded checkpoint's tensors by name: (shape, values).
pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Invalid(format!("checkpoint {}: {}", path.display(), msg.into()))
}

pub fn save(
    dir: &Path,
    step: usize,
    epoch: usize,
    config: serde_json::Value,
    tensors: &[Named],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| bad(dir, e.to_string()))?;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.clone(), s.clone(), bytemuck::cast_slice(v).to_vec()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).map_err(|e| bad(dir, e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("step".to_string(), step.to_string())]);
    let data = safetensors::serialize(views, Some(meta)).map_err(|e| bad(dir, e.to_string()))?;
    let weights = format!("weights-{step:08}.safetensors");
    // The weights of the checkpoint this one replaces, as a run written before manifests named
    // them (a run with a manifest: its checkpoint set names them).
    let previous: Vec<String> = std::fs::read_to_string(dir.join("state.json"))
        .ok()
        .and_then(|t| crate::io::parse_json_at::<State>(&t).ok())
        .map(|s| s.weights)
        .filter(|w| *w != weights && is_weights_name(w))
        .into_iter()
        .collect();
    let state = State {
        step,
        epoch,
        weights: weights.clone(),
        config,
    };
    // The weights and the state that names them published as one set (io::publish): a kill
    // leaves the previous checkpoint or this one, whole.
    crate::io::publish(
        dir,
        CHECKPOINT_SET,
        &[
            (weights, data),
            (
                "state.json".into(),
                serde_json::to_string_pretty(&state).unwrap().into_bytes(),
            ),
        ],
        &previous,
    )
}

/// The name of a run's checkpoint in its folder's manifest.
pub const CHECKPOINT_SET: &str = "checkpoint";

/// The files of the checkpoint in `dir` (paths, sizes, SHA-256) as inputs of a set made from
/// it: from the run's manifest (checked when the run was loaded), or hashed here for a run
/// without one.
pub fn input_entries(dir: &Path) -> Result<Vec<crate::io::Entry>> {
    if let Some(rec) =
        crate::io::read_manifest(dir)?.and_then(|m| m.sets.get(CHECKPOINT_SET).cloned())
    {
        return Ok(rec
            .files
            .into_iter()
            .map(|f| crate::io::Entry {
                name: dir.join(&f.name).display().to_string(),
                ..f
            })
            .collect());
    }
    let sp = dir.join("state.json");
    let state: State = crate::io::read_json(&sp, "checkpoint state")?;
    Ok(vec![
        crate::io::file_entry(&sp)?,
        crate::io::file_entry(&dir.join(&state.weights))?,
    ])
}

/// A name this module gives a weights file (`weights-<8 digits>.safetensors`).
fn is_weights_name(name: &str) -> bool {
    name.strip_prefix("weights-")
        .and_then(|r| r.strip_suffix(".safetensors"))
        .is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The files a run writes into its folder besides its weights.
pub const RUN_FILES: [&str; 3] = ["state.json", "metrics.jsonl", "training.png"];

/// A new run into `dir` must not overwrite anything there: refuse when it already holds a run
/// or a file of the names a run writes.
pub fn refuse_overwrite(dir: &Path) -> Result<()> {
    if dir.join("state.json").exists() {
        return Err(Error::bad(
            Field::Out,
            dir.display(),
            format!(
                "already holds a run; pass {} to continue it or choose another {}",
                Field::Resume,
                Field::Out
            ),
        ));
    }
    let mut clash: Vec<String> = RUN_FILES
        .iter()
        .filter(|f| dir.join(f).exists())
        .map(|f| f.to_string())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        clash.extend(
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| is_weights_name(n)),
        );
    }
    if !clash.is_empty() {
        clash.sort();
        return Err(Error::bad(
            Field::Out,
            dir.display(),
            format!(
                "a new run would overwrite {}; move them or choose another {}",
                clash.join(", "),
                Field::Out
            ),
        ));
    }
    Ok(())
}

/// `--resume` into `out` has a run to continue: its checkpoint (a publish a killed run
/// committed is finished first, as every reader of the set does) with its `state.json`.
pub fn check_has_run(out: &Path) -> Result<()> {
    crate::io::check_set(out, CHECKPOINT_SET, Some(Field::Resume))?;
    if !out.join("state.json").is_file() {
        return Err(Error::bad_setting(
            Field::Resume,
            format!(
                "{} holds no run to continue (no state.json): nothing to resume",
                out.display()
            ),
        ));
    }
    Ok(())
}

/// The checkpoint's `state.json` in `dir`, read strictly; `resume`: read to resume the run
/// (an error then names that setting).
fn read_state(dir: &Path, resume: bool) -> Result<State> {
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| match resume {
        true => Error::bad(
            Field::Resume,
            sp.display(),
            format!(
                "{e}; nothing to resume (train without {} first)",
                Field::Resume
            ),
        ),
        false => bad(&sp, e.to_string()),
    })?;
    crate::io::parse_json_at(&text).map_err(|e| bad(&sp, format!("corrupt state: {e}")))
}

/// The state and every tensor of the checkpoint in `dir`, checked for consistency.
pub fn load(dir: &Path) -> Result<(State, Tensors)> {
    crate::io::check_set(dir, CHECKPOINT_SET, Some(Field::Run))?;
    let state = read_state(dir, false)?;
    let wp = dir.join(&state.weights);
    let bytes = std::fs::read(&wp).map_err(|e| bad(&wp, e.to_string()))?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| bad(&wp, format!("corrupt weights: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(&wp, format!("corrupt weights: {e}")))?;
    let step = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("step"))
        .cloned();
    if step.as_deref() != Some(state.step.to_string().as_str()) {
        return Err(bad(
            &wp,
            format!(
                "weights are from step {step:?}, state.json says {}",
                state.step
            ),
        ));
    }
    let mut out = HashMap::new();
    for name in st.names() {
        let t = st.tensor(name).map_err(|e| bad(&wp, e.to_string()))?;
        if t.dtype() != Dtype::F32 {
            return Err(bad(&wp, format!("{name} is {:?}, expected F32", t.dtype())));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(bad(
                &wp,
                format!("{name} holds a non-finite value ({x}); the weights are damaged"),
            ));
        }
        out.insert(name.to_string(), (t.shape().to_vec(), v));
    }
    Ok((state, out))
}

/// Take `name` out of a loaded checkpoint, checking its shape.
pub fn take(
    tensors: &mut HashMap<String, (Vec<usize>, Vec<f32>)>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>> {
    match tensors.remove(name) {
        Some((s, v)) if s == shape => Ok(v),
        Some((s, _)) => Err(Error::Invalid(format!(
            "checkpoint: {name} has shape {s:?}, this model needs {shape:?}; it was written by a different model"
        ))),
        None => Err(Error::Invalid(format!(
            "checkpoint: {name} is missing; it was written by a different model"
        ))),
    }
}

/// Everything a resumed run needs: weights, BN statistics, SGD momentum.
pub fn snapshot(e: &Engine, net: &impl Module, sgd: &Sgd) -> Result<Vec<Named>> {
    let mut out = Vec::new();
    for p in net.param_list() {
        out.push((p.name, p.tensor.shape().to_vec(), p.tensor.to_vec()?));
    }
    for b in net.buffer_list() {
        out.push((b.name, b.tensor.shape().to_vec(), b.tensor.to_vec()?));
    }
    for (p, m) in sgd.params.iter().zip(sgd.state_buffers()) {
        out.push((
            format!("sgd.momentum.{}", p.name),
            p.tensor.shape().to_vec(),
            e.gpu.read(m, 0, p.tensor.numel())?,
        ));
    }
    Ok(out)
}

pub fn restore(e: &Engine, net: &impl Module, sgd: &Sgd, mut t: Tensors) -> Result<()> {
    for p in net.param_list() {
        p.tensor.write(&take(&mut t, &p.name, p.tensor.shape())?)?;
    }
    for b in net.buffer_list() {
        b.tensor.write(&take(&mut t, &b.name, b.tensor.shape())?)?;
    }
    for (p, m) in sgd.params.iter().zip(sgd.state_buffers()) {
        e.gpu.write(
            m,
            0,
            &take(
                &mut t,
                &format!("sgd.momentum.{}", p.name),
                p.tensor.shape(),
            )?,
        )?;
    }
    if let Some(extra) = t.keys().next() {
        return Err(Error::Invalid(format!(
            "checkpoint: unexpected tensor {extra}; it was written by a different model"
        )));
    }
    Ok(())
}

/// A resumed run in `dir` at `step` must have steps left under `--max-steps`.
pub fn check_max_steps(max_steps: Option<usize>, dir: &Path, step: usize) -> Result<()> {
    match max_steps {
        Some(max) if max <= step => Err(Error::bad(
            Field::MaxSteps,
            max,
            format!(
                "the run in {} is already at step {step}; give a larger number or leave it out",
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// A resume of the run in `out` checked from its state.json alone (no weights read, nothing
/// written): a command's check before it locks the folder; the loop checks it again once locked.
pub fn check_resume(
    out: &Path,
    config_json: &serde_json::Value,
    world: usize,
    max_steps: Option<usize>,
) -> Result<()> {
    // A checkpoint committed by a run killed before it finished publishing is finished first
    // (as any reader of the set does), then read.
    crate::io::check_set(out, CHECKPOINT_SET, Some(Field::Resume))?;
    check_resumable(out, &read_state(out, true)?, config_json, world, max_steps)
}

/// The checkpoint `state` of `out` made with this invocation's settings and number of ranks,
/// with steps left under `max_steps`.
pub fn check_resumable(
    out: &Path,
    state: &State,
    config_json: &serde_json::Value,
    world: usize,
    max_steps: Option<usize>,
) -> Result<()> {
    // A run of several ranks says how many (`ranks`, absent for one).
    let n = state
        .config
        .get("ranks")
        .and_then(|r| r.as_u64())
        .map_or(1, |r| r as usize);
    if n != world {
        return Err(Error::bad_setting(
            Field::Resume,
            format!(
                "the run in {} trains on {n} data-parallel rank(s), this is {world}; continue it {}",
                out.display(),
                if n == 1 {
                    "in one process (no mpirun)".to_string()
                } else {
                    format!("on {n} ranks (`mpirun -np {n}`, a tinynas built with --features mpi)")
                }
            ),
        ));
    }
    if state.config != *config_json {
        return Err(Error::bad_setting(
            Field::Resume,
            format!(
                "the run in {} was made with other settings ({}); use the same settings.\n  run:  {}\n  now:  {}",
                out.display(),
                differing_fields(&state.config, config_json).join(", "),
                state.config,
                config_json
            ),
        ));
    }
    check_max_steps(max_steps, out, state.step)
}
