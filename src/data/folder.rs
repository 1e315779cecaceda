//! Image folders: `train/<class>/*` and `test/<class>/*` (PNG or JPEG), classes in name order,
//! every image decoded with the `image` crate, converted to RGB and resized to size×size.

use super::Dataset;
use crate::error::{Error, Field, Result};
use std::path::Path;

fn classes(dir: &Path) -> Result<Vec<String>> {
    let err = |e: std::io::Error| Error::Data {
        path: dir.display().to_string(),
        msg: e.to_string(),
    };
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(err)?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    if names.len() < 2 || names.len() > 256 {
        return Err(Error::Data {
            path: dir.display().to_string(),
            msg: format!(
                "{} class folders; a classifier needs 2 to 256 (one folder per class)",
                names.len()
            ),
        });
    }
    Ok(names)
}

fn read_split(dir: &Path, names: &[String], size: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let mut per_class = Vec::new();
    for name in names {
        let cdir = dir.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&cdir)
            .map_err(|e| Error::Data {
                path: cdir.display().to_string(),
                msg: e.to_string(),
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        per_class.push(files);
    }
    // The decoded split must fit in memory: checked before decoding anything.
    let n: usize = per_class.iter().map(Vec::len).sum();
    crate::io::check_memory(
        n as u128 * 3 * (size * size) as u128,
        &format!("decoding the {n} images of {}", dir.display()),
    )
    .map_err(|e| Error::bad(Field::ImageSize, size, e.to_string()))?;
    for (label, files) in per_class.into_iter().enumerate() {
        for f in files {
            let img = image::open(&f).map_err(|e| Error::Data {
                path: f.display().to_string(),
                msg: format!("cannot decode image: {e}"),
            })?;
            let rgb = image::imageops::resize(
                &img.to_rgb8(),
                size as u32,
                size as u32,
                image::imageops::FilterType::Triangle,
            );
            // HWC → CHW
            for c in 0..3 {
                images.extend(rgb.pixels().map(|p| p.0[c]));
            }
            labels.push(label as u8);
        }
    }
    Ok((images, labels))
}

pub fn load(dir: &Path, size: usize) -> Result<(Dataset, Dataset)> {
    if size == 0 {
        return Err(Error::Invalid("image size must be positive".into()));
    }
    let names = classes(&dir.join("train"))?;
    let test_dir = dir.join("test");
    if classes(&test_dir)? != names {
        return Err(Error::Data {
            path: test_dir.display().to_string(),
            msg: "test class folders differ from train's".into(),
        });
    }
    let (ti, tl) = read_split(&dir.join("train"), &names, size)?;
    let (vi, vl) = read_split(&test_dir, &names, size)?;
    if tl.is_empty() {
        return Err(Error::Data {
            path: dir.join("train").display().to_string(),
            msg: "no images".into(),
        });
    }
    let (mean, std) = Dataset::channel_stats(&ti, 3, size * size);
    let make = |images, labels| Dataset {
        images,
        labels,
        channels: 3,
        height: size,
        width: size,
        classes: names.len(),
        mean: mean.clone(),
        std: std.clone(),
    };
    Ok((make(ti, tl), make(vi, vl)))
}
