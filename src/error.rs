//! One error type for the engine's boundaries: adapters, shapes, limits, GPU validation, files,
//! settings that cannot work ([`Error::Setting`]: which field, the value, what is allowed), an
//! entry of a user's document ([`Error::Entry`]), what another step makes ([`Error::Missing`]).
//! No variant's words name a command-line flag: a front end names each [`Field`] its own way
//! (the CLI: `cli::flags::describe`).

mod entry;
mod field;

pub use entry::{Document, Place};
pub use field::{Allowed, Field, Piece, Words, render};
use thiserror::Error;

pub type Result<T> = std::result::Result<T, Error>;

pub const VULKAN_INSTALL_HINT: &str = "install a Vulkan driver; on Debian with no GPU, \
scripts/setup.sh adds bookworm-backports (from your own apt mirror) and installs Mesa's lavapipe \
(apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1)";

#[derive(Debug, Error)]
pub enum Error {
    #[error("no GPU adapter found{detail}; {VULKAN_INSTALL_HINT}")]
    NoAdapter { detail: String },
    #[error("{}", adapter_not_found("adapter", .wanted, .available))]
    AdapterNotFound { wanted: String, available: String },
    #[error("could not open the device on {adapter}: {reason}")]
    Device { adapter: String, reason: String },
    #[error("{op}: shape error: {msg}")]
    Shape { op: &'static str, msg: String },
    #[error(
        "{op}: tensor of {bytes} bytes exceeds the adapter's storage binding limit of {limit} bytes; use a smaller batch or resolution"
    )]
    BindingLimit {
        op: &'static str,
        bytes: u64,
        limit: u64,
    },
    #[error("GPU validation error: {0}")]
    Gpu(String),
    /// A loss (or weight) that is not finite: the run stopped. `lower` is the setting to lower
    /// (the learning rate of the run that stopped).
    #[error("{}", non_finite(.at, *.value, &.lower.to_string()))]
    NonFinite {
        at: String,
        value: f32,
        lower: Field,
    },
    #[error("{path}: {msg}")]
    Data { path: String, msg: String },
    /// A setting that cannot work. Displayed with fields by their library names; the CLI
    /// names them by their flags.
    #[error("{}", field::render(.field.name(), .value.as_deref(), .allowed, &|f| f.to_string()))]
    Setting {
        field: Field,
        /// The value given, as text, where one value is at fault.
        value: Option<String>,
        allowed: Allowed,
    },
    /// `path` lacks what this step needs, or holds it unusable (`msg` says which, and where);
    /// another step makes it (`what`), which a front end names its own way (the CLI by its
    /// command line).
    #[error("{msg}")]
    Missing {
        /// The folder that lacks it (a run's folder).
        path: String,
        what: Missing,
        msg: String,
    },
    /// Anything else that cannot work and that no variant above holds: an internal invariant
    /// broken, a damaged file's content, MPI's environment. Its words name no setting.
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// A real runtime disagreed with tinynas (`export --verify`).
    #[error("{0}")]
    Mismatch(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The model is over the memory of the `target` device `device` by its generated C's
    /// estimate: the layer-by-layer plan's, or with `patches` the patch plan's. `over` says by
    /// how much; a front end names how to see the estimate (the CLI: its `mem` command).
    #[error("{}", does_not_fit("target", .device, .over, &plan(*.patches)))]
    DoesNotFit {
        device: String,
        over: String,
        patches: Option<usize>,
    },
    /// No subnet of the space fits the device's memory (`limits`, in words): the smallest
    /// footprint in the space (its smallest subnet at its lowest resolution) beside them.
    #[error("{}", nothing_fits(.limits, *.smallest_sram_bytes, *.smallest_flash_bytes, &|f| f.to_string()))]
    NothingFits {
        limits: String,
        smallest_sram_bytes: u64,
        smallest_flash_bytes: u64,
    },
    /// An entry of a document the user wrote that cannot work: the document, the entry's path
    /// inside it as the document spells it (`blocks[1].in_channels`), the value given where one
    /// value is at fault, and what is allowed.
    #[error("{}", entry::render(*.document, .entry, .value.as_deref(), .allowed, &|f| f.to_string()))]
    Entry {
        document: Document,
        entry: String,
        value: Option<String>,
        allowed: Allowed,
    },
    /// Data-parallel ranks started with other options, data or binaries than rank 0's: every
    /// rank learns it at the same point and stops with it (`differing` of the ranks differ; on
    /// a rank that differs the words name what).
    #[error("{msg}")]
    RanksDiffer { differing: usize, msg: String },
}

impl Error {
    /// The process exit code: 2 for bad input or settings (a file, a flag, a config, a shape
    /// or size that cannot work), 1 for a failure during the work (no GPU, GPU lost, a write
    /// that failed, a non-finite loss).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_)
            | Error::Setting { .. }
            | Error::Missing { .. }
            | Error::Data { .. }
            | Error::Shape { .. }
            | Error::BindingLimit { .. }
            | Error::AdapterNotFound { .. }
            | Error::DoesNotFit { .. }
            | Error::NothingFits { .. }
            | Error::Entry { .. }
            | Error::RanksDiffer { .. } => 2,
            Error::NoAdapter { .. }
            | Error::Device { .. }
            | Error::Gpu(_)
            | Error::NonFinite { .. }
            | Error::Write { .. }
            | Error::Mismatch(_)
            | Error::Io(_) => 1,
        }
    }
}

impl Error {
    /// `field`'s value `value` cannot work: `why` says why and what would (other settings
    /// named as [`Field`]s).
    pub fn bad(field: Field, value: impl ToString, why: impl Into<Words>) -> Error {
        Error::Setting {
            field,
            value: Some(value.to_string()),
            allowed: Allowed::Words(why.into()),
        }
    }

    /// `field` cannot work as set (no one value at fault): `why` says why and what would.
    pub fn bad_setting(field: Field, why: impl Into<Words>) -> Error {
        Error::Setting {
            field,
            value: None,
            allowed: Allowed::Words(why.into()),
        }
    }

    /// The error as the user of a front end reads it: every field named by `name`.
    pub fn render(&self, name: &dyn Fn(Field) -> String) -> String {
        match self {
            Error::Setting {
                field,
                value,
                allowed,
            } => field::render(&name(*field), value.as_deref(), allowed, name),
            Error::AdapterNotFound { wanted, available } => {
                adapter_not_found(&name(Field::Adapter), wanted, available)
            }
            Error::DoesNotFit {
                device,
                over,
                patches,
            } => does_not_fit(&name(Field::Target), device, over, &plan(*patches)),
            Error::NothingFits {
                limits,
                smallest_sram_bytes,
                smallest_flash_bytes,
            } => nothing_fits(limits, *smallest_sram_bytes, *smallest_flash_bytes, name),
            Error::NonFinite { at, value, lower } => non_finite(at, *value, &name(*lower)),
            Error::Entry {
                document,
                entry,
                value,
                allowed,
            } => entry::render(*document, entry, value.as_deref(), allowed, name),
            e => e.to_string(),
        }
    }
}

/// [`Error::AdapterNotFound`]'s words: `adapter` names the setting.
fn adapter_not_found(adapter: &str, wanted: &str, available: &str) -> String {
    format!("{adapter} {wanted:?}: no adapter's name contains it; available: {available}")
}

/// [`Error::NonFinite`]'s words: `lower` names the setting to lower.
fn non_finite(at: &str, value: f32, lower: &str) -> String {
    format!("non-finite loss ({value}) at {at}; the run stopped (lower the learning rate, {lower})")
}

/// [`Error::DoesNotFit`]'s words: `target` names the setting, `estimate` the plan whose
/// estimate it is.
pub fn does_not_fit(target: &str, device: &str, over: &str, estimate: &str) -> String {
    format!(
        "{target} {device}: the model does not fit: its generated C is over {over} by the estimate ({estimate}); search for this device, or give a larger one"
    )
}

/// [`Error::NothingFits`]'s words, the settings that choose the device named by `name`.
fn nothing_fits(limits: &str, sram: u64, flash: u64, name: &dyn Fn(Field) -> String) -> String {
    format!(
        "no subnet fits {limits}: the smallest footprint in the space is {:.1} KiB SRAM and {:.1} KiB flash (smallest subnet, lowest resolution); lower the resolution or width, or choose a larger device ({}, {}, {})",
        sram as f64 / 1024.0,
        flash as f64 / 1024.0,
        name(Field::Device),
        name(Field::Sram),
        name(Field::Flash)
    )
}

/// The plan whose estimate [`Error::DoesNotFit`] is.
fn plan(patches: Option<usize>) -> String {
    match patches {
        None => "the layer-by-layer plan".to_string(),
        Some(n) => format!("the patch plan with {n} patches"),
    }
}

/// What a folder lacks (or holds unusable) that another step makes: [`Error::Missing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A trained supernet (a run's state.json): training makes it.
    Supernet,
    /// Subnets measured for a predictor: `have` distinct ones (0: none), too few to fit on;
    /// collecting measures them.
    MeasuredSubnets { have: usize },
    /// A fitted accuracy predictor (predictor.json): none there. Collecting and fitting make it.
    Predictor,
    /// A predictor that cannot be used (stale, corrupt or unreadable): fitting it again mends it.
    Refit,
}

impl Error {
    /// `path` lacks `what`, as `msg` says.
    pub fn missing(path: &std::path::Path, what: Missing, msg: impl Into<String>) -> Error {
        Error::Missing {
            path: path.display().to_string(),
            what,
            msg: msg.into(),
        }
    }
}

pub fn shape_err<T>(op: &'static str, msg: impl Into<String>) -> Result<T> {
    Err(Error::Shape {
        op,
        msg: msg.into(),
    })
}

impl Error {
    /// `entry` of `document` holds `value`, which cannot work: `why` says why, after the value
    /// (`"does not chain: …"`).
    pub fn entry(
        document: Document,
        entry: impl Into<String>,
        value: impl ToString,
        why: impl Into<Words>,
    ) -> Error {
        Error::Entry {
            document,
            entry: entry.into(),
            value: Some(value.to_string()),
            allowed: Allowed::Words(why.into()),
        }
    }

    /// `entry` of `document` cannot work as written (no one value at fault): `why` says why.
    pub fn bad_entry(document: Document, entry: impl Into<String>, why: impl Into<Words>) -> Error {
        Error::Entry {
            document,
            entry: entry.into(),
            value: None,
            allowed: Allowed::Words(why.into()),
        }
    }
}
