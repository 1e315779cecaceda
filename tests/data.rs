//! Data: CIFAR binary batches, image folders, and batch augmentation.

use rand::{SeedableRng, rngs::StdRng};
use std::path::PathBuf;
use tinynas::data::augment::{Augment, resize_plane};
use tinynas::data::{Dataset, load_dir};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn cifar10_batches_load_and_truncation_is_named() {
    let d = tmp("cifar");
    let record = |label: u8, fill: u8| -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..3072).map(|j| if j < 1024 { fill } else { (j % 251) as u8 }));
        r
    };
    std::fs::write(
        d.join("data_batch_1.bin"),
        [record(3, 10), record(9, 20)].concat(),
    )
    .unwrap();
    std::fs::write(d.join("test_batch.bin"), record(0, 30)).unwrap();
    let (train, test) = load_dir(&d, 32).unwrap();
    assert_eq!(
        (train.len(), test.len(), train.channels, train.classes),
        (2, 1, 3, 10)
    );
    assert_eq!(train.labels, vec![3, 9]);
    assert_eq!(
        train.images[3072], 20,
        "second image, red channel first (CHW)"
    );
    assert_eq!(train.images[1024], (1024 % 251) as u8);
    std::fs::write(d.join("test_batch.bin"), &record(0, 30)[..100]).unwrap();
    let err = load_dir(&d, 32).unwrap_err().to_string();
    assert!(
        err.contains("test_batch.bin") && err.contains("CIFAR records"),
        "{err}"
    );
}

#[test]
fn image_folders_load_resized_rgb_and_name_corrupt_files() {
    let d = tmp("folder");
    for (split, n) in [("train", 2), ("test", 1)] {
        for (class, color) in [("cat", [255u8, 0, 0]), ("dog", [0, 0, 255])] {
            let cdir = d.join(split).join(class);
            std::fs::create_dir_all(&cdir).unwrap();
            for i in 0..n {
                let img = image::RgbImage::from_pixel(10 + i, 7, image::Rgb(color));
                img.save(cdir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let (train, test) = load_dir(&d, 8).unwrap();
    assert_eq!(
        (
            train.len(),
            test.len(),
            train.classes,
            train.channels,
            train.height
        ),
        (4, 2, 2, 3, 8)
    );
    assert_eq!(train.labels, vec![0, 0, 1, 1]);
    let plane = 64;
    assert!(
        train.images[..plane].iter().all(|&p| p == 255),
        "cat: red plane full"
    );
    assert!(
        train.images[2 * plane..3 * plane].iter().all(|&p| p == 0),
        "cat: blue plane empty"
    );
    assert!(
        train.images[2 * 192 + 2 * plane..2 * 192 + 3 * plane]
            .iter()
            .all(|&p| p == 255),
        "dog: blue"
    );
    std::fs::write(d.join("train/dog/broken.png"), b"not a png").unwrap();
    let err = load_dir(&d, 8).unwrap_err().to_string();
    assert!(
        err.contains("broken.png") && err.contains("cannot decode"),
        "{err}"
    );
}

fn toy() -> Dataset {
    // One 1×4×4 image with pixel values 0..15 (mean 0, std 1/255 → values = pixel).
    Dataset {
        images: (0..16).collect(),
        labels: vec![7],
        channels: 1,
        height: 4,
        width: 4,
        classes: 10,
        mean: vec![0.0],
        std: vec![1.0 / 255.0],
    }
}

#[test]
fn augmentation_flip_crop_resize_and_rgb() {
    let ds = toy();
    let mut rng = StdRng::seed_from_u64(0);
    let round = |v: Vec<f32>| -> Vec<f32> { v.iter().map(|x| x.round()).collect() };
    let (x, y, shape) = ds.augmented_batch(&[0], &Augment::default(), &mut rng);
    let x = round(x);
    assert_eq!(
        (x.clone(), y, shape),
        ((0..16).map(|v| v as f32).collect(), vec![7.0], (1, 4))
    );
    // Flip always taken eventually; a flipped row is the mirror.
    let flip = Augment {
        flip: true,
        ..Default::default()
    };
    let mut seen = [false; 2];
    for _ in 0..20 {
        let f = round(ds.augmented_batch(&[0], &flip, &mut rng).0);
        let mirrored = f[..4] == [3.0, 2.0, 1.0, 0.0];
        assert!(mirrored || f == x);
        seen[mirrored as usize] = true;
    }
    assert_eq!(seen, [true, true]);
    // Crop with padding: same shape, values shifted, zeros brought in from the padding.
    let crop = Augment {
        crop_pad: 1,
        ..Default::default()
    };
    for _ in 0..10 {
        let c = round(ds.augmented_batch(&[0], &crop, &mut rng).0);
        assert_eq!(c.len(), 16);
        assert!(c.iter().all(|v| *v == 0.0 || (0.0..16.0).contains(v)));
    }
    // Grey → RGB and resize: three equal planes of 8×8; a constant image stays constant.
    let (r, _, shape) = ds.augmented_batch(
        &[0],
        &Augment {
            rgb: true,
            resolution: Some(8),
            ..Default::default()
        },
        &mut rng,
    );
    assert_eq!(shape, (3, 8));
    assert_eq!(&r[..64], &r[64..128]);
    assert_eq!(resize_plane(&[2.0; 9], 3, 3, 5, 5), vec![2.0; 25]);
    assert_eq!(
        resize_plane(&[1.0, 3.0], 1, 2, 1, 4),
        vec![1.0, 1.5, 2.5, 3.0]
    );
    // Same seed, same batch.
    let both = Augment {
        crop_pad: 1,
        flip: true,
        ..Default::default()
    };
    let a = ds.augmented_batch(&[0], &both, &mut StdRng::seed_from_u64(5));
    let b = ds.augmented_batch(&[0], &both, &mut StdRng::seed_from_u64(5));
    assert_eq!(a.0, b.0);
}

/// A batch is normalised by the dataset's own per-channel statistics (an RGB set's, not
/// Fashion-MNIST's), the same as one image through `normalized`.
#[test]
fn batches_use_the_datasets_own_channel_statistics() {
    let ds = Dataset {
        images: (0..2 * 3 * 4).map(|v| (v * 10) as u8).collect(),
        labels: vec![1, 4],
        channels: 3,
        height: 2,
        width: 2,
        classes: 5,
        mean: vec![0.1, 0.5, 0.9],
        std: vec![0.5, 0.25, 0.125],
    };
    let (x, y) = ds.batch(&[1, 0]);
    assert_eq!(y, vec![4.0, 1.0]);
    let want: Vec<f32> = [ds.normalized(1), ds.normalized(0)].concat();
    assert_eq!(x, want);
    // Image 1, channel 2, first pixel: (200 / 255 − 0.9) / 0.125.
    assert!(
        (x[8] - (200.0 / 255.0 - 0.9) / 0.125).abs() < 1e-6,
        "{}",
        x[8]
    );
}
