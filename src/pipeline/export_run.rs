//! `export` of a trained run's folder: every input checked before the disk is touched (the
//! Python of the check, the target device, the run's settings, the subnet against its space,
//! the device's estimate, the files already in the output folder), then the run and its data
//! read; only then is the folder made and locked.

use super::export::{ExportOptions, ExportReport, claimed_files, export};
use super::inputs::RunSubnet;
use crate::arch::SubnetConfig;
use crate::error::Field;
use crate::mcu::Device;
use crate::observer::Observer;
use crate::train::config::RunConfig;
use crate::train::open::open_run;
use crate::train::run::read_run_config;
use crate::{Engine, Result};
use std::path::Path;
use std::rc::Rc;

/// The checks of an export of the run in `run_dir` into `out`, before anything is read but the
/// run's settings: the Python of `verify` runs, the `target` device can be built for; hands back
/// the run's settings and the subnet `subnet` chooses in the run's space.
pub fn check_export(
    run_dir: &Path,
    subnet: &RunSubnet,
    verify: Option<&Path>,
    target: Option<&Device>,
    patches: Option<usize>,
    out: &Path,
) -> Result<(RunConfig, SubnetConfig)> {
    if let Some(py) = verify {
        crate::export::verify::check_python(py)?;
    }
    if let Some(d) = target {
        super::firmware::check_target(d)?;
    }
    crate::io::check_out_dir(out, Field::Out)?;
    let cfg = read_run_config(run_dir)?;
    let subnet = subnet.config(&cfg.space)?;
    let network = crate::arch::subnet::from_subnet(&cfg.space, &subnet)?;
    if let Some(n) = patches {
        crate::mcu::patch_code::estimate(&network, &crate::mcu::walk::build(&network), n)?;
    }
    if let Some(d) = target {
        super::firmware::check_fits(&network, d, patches)?;
    }
    let claimed = claimed_files(target);
    let claimed: Vec<&str> = claimed.iter().map(String::as_str).collect();
    crate::io::check_outputs(out, Field::Out, &claimed)?;
    crate::io::check_lock(out, Field::Out)?;
    Ok((cfg, subnet))
}

/// The export of the run in `run_dir` (checked by [`check_export`]): the run opened (where it
/// stopped told to `obs`), `o.out` locked, then [`export`].
pub fn export_run(
    e: &Rc<Engine>,
    run_dir: &Path,
    o: &ExportOptions,
    obs: &dyn Observer,
) -> Result<ExportReport> {
    let run = open_run(e, run_dir, obs)?;
    let _lock = crate::io::lock_dir(&o.out, Field::Out)?;
    export(e, &run, o, obs)
}
