//! `tinynas verify DIR`: the sets tinynas published in a folder (an export, a search, a space
//! ranking, a run's checkpoint) checked against its manifest, before a firmware build or any
//! other use trusts them; a publish a kill interrupted there is finished first.

use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct VerifyArgs {
    /// The folder: an `export --out`, `search --out` or `space --out`, or a run.
    pub dir: PathBuf,
}

pub fn run(a: &VerifyArgs) -> Result<()> {
    let dir = &a.dir;
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: not a folder; give the folder an export, search, space or train wrote",
            dir.display()
        )));
    }
    let what = dir.display().to_string();
    // Read once to know the sets; each check finishes an interrupted publish first.
    let Some(m) = crate::io::read_manifest(dir)? else {
        return Err(Error::Invalid(format!(
            "{what}: no {} there, so nothing vouches for its files (written by a tinynas from before manifests, or not by tinynas); write them again to have one",
            crate::io::MANIFEST
        )));
    };
    for set in m.sets.keys() {
        crate::io::check_set(dir, set, None)?;
    }
    // Read again: the check may have finished a publish (its new set now in force).
    let m = crate::io::read_manifest(dir)?.unwrap_or(m);
    for (set, r) in &m.sets {
        let bytes: u64 = r.files.iter().map(|f| f.bytes).sum();
        println!(
            "{set}: {} files, {bytes} bytes, each matching its size and SHA-256 ({}; written by `{}`)",
            r.files.len(),
            r.files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            r.command
        );
    }
    Ok(())
}
