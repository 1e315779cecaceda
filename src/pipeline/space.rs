//! The space optimization's inputs and outputs: the base space (from a file, fitted to a
//! dataset), and the ranking as files (space.json, the CDF plot of the top spaces,
//! chosen_space.json).

use crate::Result;
use crate::arch::SearchSpace;
use crate::chart::{Chart, Series, cdf_points};
use crate::error::Field;
use crate::observer::Observer;
use crate::search::space::{SpaceOptions, SpaceResult};
use std::path::Path;

/// The files `space --out` writes.
pub const OUTPUT_FILES: [&str; 3] = ["space.json", "space_cdf.png", "chosen_space.json"];

/// The space whose resolutions and widths the ranking varies: the one in the file `space`
/// (None: the default), with the input channels and classes of the dataset in `data`; and the
/// resolutions the data adds to the grid (its image size).
pub fn base_space(space: Option<&Path>, data: Option<&Path>) -> Result<(SearchSpace, Vec<usize>)> {
    let mut base = match space {
        Some(p) => super::inputs::read_space(p)?,
        None => SearchSpace::default(),
    };
    let mut extra = Vec::new();
    if let Some(d) = data {
        let (train, _) = crate::data::load_any(d, 32)?;
        base.in_channels = train.channels;
        base.classes = train.classes;
        extra.push(train.height);
    }
    Ok((base, extra))
}

/// Write the ranking (JSON), the CDF plot of the top spaces (drawn by `obs`) and the chosen
/// space (the caller holds the folder's lock).
pub fn write_space_outputs(
    dir: &Path,
    o: &SpaceOptions,
    r: &[SpaceResult],
    top: usize,
    obs: &dyn Observer,
) -> Result<()> {
    crate::io::claim_outputs(dir, Field::Out, &OUTPUT_FILES)?;
    let v = serde_json::json!({
        "device": o.limits.device, "scheduler": o.limits.scheduler.name(), "latency_ms": o.limits.latency_ms, "samples": o.samples,
        "seed": o.seed, "rank": o.rank, "min_fit": o.min_fit, "spaces": r,
    });
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "space.json".into(),
        serde_json::to_string_pretty(&v).unwrap().into_bytes(),
    )];
    if let Some(png) = obs.draw(&[cdf_chart(o, r, top)])? {
        files.push(("space_cdf.png".into(), png));
    }
    if let Some(best) = r.first().filter(|b| !b.too_few) {
        files.push((
            "chosen_space.json".into(),
            serde_json::to_string_pretty(&best.space(&o.base))
                .unwrap()
                .into_bytes(),
        ));
    }
    // Published whole (io::publish): an earlier ranking's chosen space does not outlive it.
    let stale: Vec<String> = OUTPUT_FILES.iter().map(|f| f.to_string()).collect();
    crate::io::publish(dir, "space", &files, &stale)?;
    Ok(())
}

/// The MACs CDFs of the top `top` spaces with enough fitting subnets.
pub fn cdf_chart(o: &SpaceOptions, r: &[SpaceResult], top: usize) -> Chart {
    let series = r
        .iter()
        .filter(|s| !s.too_few)
        .take(top)
        .map(|s| {
            let m: Vec<f64> = s.macs.iter().map(|&x| x as f64 / 1e6).collect();
            Series::line(format!("r{} w{:.1}", s.resolution, s.width), cdf_points(&m))
        })
        .collect();
    Chart {
        title: format!(
            "MACs of the fitting subnets ({}, {}{})",
            o.limits.device.name,
            o.limits.scheduler.name(),
            o.limits
                .latency_ms
                .map_or(String::new(), |ms| format!(", within {ms} ms"))
        ),
        x_label: "M MACs".into(),
        y_label: "share of fitting subnets".into(),
        series,
        vlines: vec![],
    }
}
