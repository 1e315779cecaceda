//! The data of a supernet run: its training images (validation held out), validation and test
//! splits, loaded and checked against the run's settings.

use super::config::RunConfig;
use crate::data::input_rgb;
use crate::data::{Dataset, load_any};
use crate::error::Field;
use crate::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// The data of a run: training images (validation held out), validation, test.
pub struct RunData {
    pub train: Arc<Dataset>,
    pub val: Dataset,
    pub test: Dataset,
}

pub fn load_data(cfg: &RunConfig) -> Result<RunData> {
    let path = Path::new(&cfg.data);
    if cfg.data != "synthetic" && !path.exists() {
        return Err(Error::Data {
            path: cfg.data.clone(),
            msg: "no such dataset folder (the run's `data` setting; a relative path is taken from the current folder)".into(),
        });
    }
    let (mut train, test) = load_any(path, cfg.image_size)?;
    if cfg.train_images > 0 && cfg.train_images < train.len() {
        let idx: Vec<usize> = (0..cfg.train_images).collect();
        train = train.subset(&idx);
    }
    if train.classes.max(test.classes) > cfg.space.classes {
        return Err(Error::Invalid(format!(
            "the data has {} classes but the search space {}; set the space's classes",
            train.classes.max(test.classes),
            cfg.space.classes
        )));
    }
    input_rgb(train.channels, cfg.space.in_channels)?;
    let (train, val) = if cfg.val_images > 0 {
        train
            .split_off(cfg.val_images, cfg.seed ^ 0xa11)
            .map_err(|e| Error::bad(Field::ValImages, cfg.val_images, e.to_string()))?
    } else {
        (train.clone(), test.clone())
    };
    if cfg.batch < 2 || cfg.batch > train.len() {
        return Err(Error::bad(
            Field::Batch,
            cfg.batch,
            format!(
                "must be between 2 and the {} training images left after {} and {}",
                train.len(),
                Field::TrainImages,
                Field::ValImages
            ),
        ));
    }
    Ok(RunData {
        train: Arc::new(train),
        val,
        test,
    })
}
