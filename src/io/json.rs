//! The one strict JSON reader of every file the program reads: exactly one document,
//! unknown fields refused (by the types), errors naming the file, line, column and field.

use crate::error::{Error, Result};
use std::path::Path;

/// Where and why a JSON text did not read: its line and column (1-based), the field at fault
/// (`blocks[2].stride`, empty at the top level) and serde_json's reason without its location.
#[derive(Debug)]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub msg: String,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} column {}: ", self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.msg)
    }
}

impl JsonError {
    fn new(e: &serde_json::Error, field: String) -> JsonError {
        // serde_json appends " at line L column C" to its message; the location is ours to say.
        let msg = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
        JsonError {
            line: e.line(),
            column: e.column(),
            field,
            msg,
        }
    }
}

/// The one strict JSON reader: exactly one document of `T` in `text` (serde_json's own
/// end-of-input check refuses anything but whitespace after it); unknown fields are refused
/// by the types that declare `deny_unknown_fields`.
pub fn parse_json_at<T: serde::de::DeserializeOwned>(
    text: &str,
) -> std::result::Result<T, JsonError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let v: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        JsonError::new(e.inner(), field)
    })?;
    de.end().map_err(|e| JsonError::new(&e, String::new()))?;
    Ok(v)
}

/// `parse_json_at` with an error that starts with `what` (the kind of file and its path:
/// `subnet runs/a/best_subnet.json`) and then the line, column and field at fault.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    parse_json_at(text).map_err(|e| Error::Invalid(format!("{what}: {e}")))
}

/// The JSON file at `path` (`what` names its kind: `predictor`, `checkpoint state`), read
/// strictly (`parse_json_at`); errors name the file, and where it does not parse, the line
/// and column.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Data {
        path: path.display().to_string(),
        msg: format!("cannot read the {what}: {e}"),
    })?;
    parse_json_at(&text).map_err(|e| Error::Data {
        path: path.display().to_string(),
        msg: format!("not a valid {what}: {e}"),
    })
}

/// The JSON-lines file at `path` as values of `T`, one per line (blank lines skipped; a missing
/// file is empty); a line that does not parse is an error naming the file and its line number,
/// never a silent skip. With `torn_tail`, a last line without its newline that does not parse
/// (an append cut short by a kill) is dropped instead: only for files the caller rewrites.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path, torn_tail: bool) -> Result<Vec<T>> {
    read_jsonl_checked(path, torn_tail, |_: &T| Ok(()))
}

/// `read_jsonl`, each value also passed through `check`, whose refusal is reported with the
/// file and line number too.
pub fn read_jsonl_checked<T: serde::de::DeserializeOwned>(
    path: &Path,
    torn_tail: bool,
    check: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Data {
                path: path.display().to_string(),
                msg: e.to_string(),
            });
        }
    };
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_json_at::<T>(line);
        if parsed.is_err() && torn_tail && i + 1 == lines.len() && !text.ends_with('\n') {
            break;
        }
        // The record's own line 1 is the file's line i + 1.
        let v = parsed
            .map_err(|e| {
                let field = if e.field.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", e.field)
                };
                format!("column {}: {field}{}", e.column, e.msg)
            })
            .and_then(|v| check(&v).map(|_| v));
        let v = v.map_err(|e| Error::Data {
            path: path.display().to_string(),
            msg: format!(
                "line {} is corrupt ({e}); repair or delete that line (the other lines are intact)",
                i + 1
            ),
        })?;
        out.push(v);
    }
    Ok(out)
}
