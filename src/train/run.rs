//! A supernet run's folder as other commands read it (its settings, its trained supernet), and
//! the adapter check a run makes before it allocates anything. The training itself is
//! `train::supernet_run`, through the loop every run shares (`train::runner`).

use super::checkpoint;
use super::config::RunConfig;
use crate::error::Missing;
use crate::nn::Module;
use crate::supernet::Supernet;
use crate::{Engine, Error, Result};
use std::path::Path;
use std::rc::Rc;

/// `dir` holds a run (its state.json): checked before a command creates anything there.
pub fn check_run(dir: &Path) -> Result<()> {
    if !dir.join("state.json").is_file() {
        return Err(Error::missing(
            dir,
            Missing::Supernet,
            format!(
                "{} holds no trained supernet (no state.json)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// The settings of the run in `dir`, from its state.json alone (no weights, no data): what a
/// command checks its other inputs against before it touches the disk.
pub fn read_run_config(dir: &Path) -> Result<RunConfig> {
    check_run(dir)?;
    let state: checkpoint::State =
        crate::io::read_json(&dir.join("state.json"), "checkpoint state")?;
    serde_json::from_value(state.config).map_err(|err| {
        Error::Invalid(format!(
            "{}: state.json is not a supernet run ({err}); is it a fixed network's run?",
            dir.display()
        ))
    })
}

/// The trained supernet of a run directory and the run's settings.
pub fn load_run(e: &Rc<Engine>, dir: &Path) -> Result<(RunConfig, Supernet, checkpoint::State)> {
    check_run(dir)?;
    let (state, mut tensors) = checkpoint::load(dir)?;
    let cfg: RunConfig = serde_json::from_value(state.config.clone()).map_err(|err| {
        Error::Invalid(format!(
            "{}: state.json is not a supernet run ({err}); is it a fixed network's run?",
            dir.display()
        ))
    })?;
    let net = Supernet::new(e, &cfg.space, cfg.seed)?;
    for p in net.param_list() {
        p.tensor
            .write(&checkpoint::take(&mut tensors, &p.name, p.tensor.shape())?)?;
    }
    for b in net.buffer_list() {
        b.tensor
            .write(&checkpoint::take(&mut tensors, &b.name, b.tensor.shape())?)?;
    }
    Ok((cfg, net, state))
}
