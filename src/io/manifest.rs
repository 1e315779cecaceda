//! A folder's manifest, `.tinynas-manifest.json`: for each set of files published there
//! (`super::publish`), the transaction that wrote it and each file's name, size and SHA-256.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const MANIFEST: &str = ".tinynas-manifest.json";

/// One file of a published set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One published set: the transaction that wrote it, its files and the command line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetRecord {
    pub txn: String,
    pub command: String,
    pub files: Vec<Entry>,
    /// Names the publish removes before its files take their names (step 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// The files the set was made from (their paths as given, sizes and SHA-256), where the
    /// command records them (an export: the run's checkpoint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Entry>,
}

/// `path`'s size and SHA-256, named by its path as given (an input of a set).
pub fn file_entry(path: &Path) -> Result<Entry> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Invalid(format!("{}: cannot read it ({e})", path.display())))?;
    Ok(Entry {
        name: path.display().to_string(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    })
}

/// A folder's manifest: its sets by name.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub sets: BTreeMap<String, SetRecord>,
}

/// The SHA-256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `dir`'s manifest, or `None` when it has none. A damaged one is an error naming it.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let p = dir.join(MANIFEST);
    if !p.exists() {
        return Ok(None);
    }
    super::json::read_json(&p, "manifest of the files tinynas published there")
        .map(Some)
        .map_err(|e| {
            Error::Invalid(format!(
                "{e}; it records which files there are whole; delete it only if you trust them"
            ))
        })
}
