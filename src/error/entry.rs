//! What an error about an entry of a document the user wrote names ([`super::Error::Entry`]):
//! the document (a network description, a search space, a subnet, a training schedule), the
//! entry's path inside it as the document spells it (`blocks[1].in_channels`,
//! `stage_strides[2]`, `phases[0] (warmup)`), the value at fault and what is allowed.

use super::{Allowed, Error, Field};
use std::fmt;

/// A document the user writes (a JSON file, or a value a library caller builds) whose entries an
/// error can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Document {
    /// A network's layers (`arch::Network`).
    NetworkDescription,
    /// The search space (`arch::SearchSpace`).
    SearchSpace,
    /// A subnet of the search space (`arch::SubnetConfig`).
    Subnet,
    /// A training schedule (`train::schedule::Schedule`).
    Schedule,
}

impl Document {
    /// The document's name in words, as errors print it.
    pub fn name(self) -> &'static str {
        match self {
            Document::NetworkDescription => "network description",
            Document::SearchSpace => "search space",
            Document::Subnet => "subnet",
            Document::Schedule => "schedule",
        }
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a value an error is about came from: an entry of a document, or a setting of a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    Entry(Document, String),
    Setting(Field),
}

impl Place {
    /// The error that the value here, `value` (where one value is at fault), cannot work:
    /// `allowed` says what would.
    pub fn error(&self, value: Option<String>, allowed: Allowed) -> Error {
        match self {
            Place::Entry(document, entry) => Error::Entry {
                document: *document,
                entry: entry.clone(),
                value,
                allowed,
            },
            Place::Setting(field) => Error::Setting {
                field: *field,
                value,
                allowed,
            },
        }
    }
}

/// [`Error::Entry`]'s words: `document: entry: ` and then, for a range, `value is out of range;
/// give lo to hi`, for words the value (where one is at fault) followed by the words
/// (`network description: blocks[1].in_channels: 17 does not chain: …`), every field they name
/// named by `name`.
pub fn render(
    document: Document,
    entry: &str,
    value: Option<&str>,
    allowed: &Allowed,
    name: &dyn Fn(Field) -> String,
) -> String {
    match (allowed, value) {
        (Allowed::Words(w), Some(v)) => format!("{document}: {entry}: {v} {}", w.render(name)),
        (Allowed::Words(w), None) => format!("{document}: {entry}: {}", w.render(name)),
        _ => super::render(&format!("{document}: {entry}"), value, allowed, name),
    }
}
