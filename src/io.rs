//! Files written so that a crash never leaves a half-written one: a temporary file beside the
//! target, synced, then renamed over it.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::Data {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A progress bar of `len` steps (hidden when `show` is false): bar, `label` position/length,
/// elapsed and remaining time, and a message.
pub fn progress(len: usize, show: bool, label: &str) -> indicatif::ProgressBar {
    let bar = if show {
        indicatif::ProgressBar::new(len as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let template = format!("{{bar:30}} {label}{{pos}}/{{len}} {{elapsed}}<{{eta}} {{msg}}");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}
