//! The idx format of MNIST-style datasets: a big-endian magic (type 0x08 = u8, rank), the
//! dimensions, then the data. Gzipped files are read transparently.

use super::Dataset;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

#[derive(Debug)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Data {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

pub fn read(path: &Path) -> Result<Idx> {
    let raw = std::fs::read(path).map_err(|e| bad(path, e.to_string()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| bad(path, format!("corrupt gzip: {e}")))?;
        out
    } else {
        raw
    };
    parse(&bytes).map_err(|m| bad(path, m))
}

pub fn parse(bytes: &[u8]) -> std::result::Result<Idx, String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an idx file (bad magic number)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} unsupported (only unsigned bytes, 0x08)",
            bytes[2]
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(format!("truncated header (rank {rank})"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let Some(n) = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
        return Err(format!(
            "dimensions {dims:?} overflow (their product is over 2^64 bytes)"
        ));
    };
    if bytes.len() - header != n {
        return Err(format!(
            "dimensions {dims:?} need {n} bytes of data, file has {}",
            bytes.len() - header
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

pub fn to_dataset(images: Idx, labels: Idx, labels_path: &Path) -> Result<Dataset> {
    let (n, h, w) = match images.dims[..] {
        [n, h, w] => (n, h, w),
        _ => {
            return Err(bad(
                labels_path,
                format!("images must have rank 3, got {:?}", images.dims),
            ));
        }
    };
    if labels.dims != [n] {
        return Err(bad(
            labels_path,
            format!("{:?} labels for {n} images", labels.dims),
        ));
    }
    let classes = labels
        .data
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1)
        .max(10);
    Ok(Dataset {
        images: images.data,
        labels: labels.data,
        channels: 1,
        height: h,
        width: w,
        classes,
        mean: vec![super::FASHION_MEAN],
        std: vec![super::FASHION_STD],
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_and_rejects() {
        let ok = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
        let idx = parse(&ok).unwrap();
        assert_eq!((idx.dims, idx.data), (vec![3], vec![7, 8, 9]));
        assert!(parse(&ok[..10]).unwrap_err().contains("need 3 bytes"));
        assert!(parse(&[1, 0, 8, 1]).unwrap_err().contains("magic"));
        assert!(
            parse(&[0, 0, 0x0d, 1, 0, 0, 0, 0])
                .unwrap_err()
                .contains("unsupported")
        );
    }
}
