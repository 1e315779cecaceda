//! What a setting error names: the setting (a [`Field`], spelled as the library's options spell
//! it), the value given, and what is allowed. A front end names each field its own way (the CLI
//! by its flag, `cli::flags`), so the library's words hold no flag.

use std::fmt;

macro_rules! fields {
    ($($(#[$doc:meta])* $v:ident = $name:literal,)*) => {
        /// A setting of a library call that an error can name. The name is the options
        /// struct's field (`batch`, `max_steps`); `cli::flags::flag` maps each to its flag.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field {
            $($(#[$doc])* $v,)*
        }

        impl Field {
            /// Every field, for the front ends' tables and their tests.
            pub const ALL: &'static [Field] = &[$(Field::$v,)*];

            /// The field's name as the library's options spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$v => $name,)*
                }
            }

            /// The field named `name`, if any.
            pub fn from_name(name: &str) -> Option<Field> {
                match name {
                    $($name => Some(Field::$v),)*
                    _ => None,
                }
            }
        }
    };
}

fields! {
    Adapter = "adapter",
    Batch = "batch",
    Budget = "budget",
    CalibImages = "calib_images",
    CheckpointEvery = "checkpoint_every",
    Classes = "classes",
    ClockMhz = "clock_mhz",
    Collect = "collect",
    Count = "count",
    CropPad = "crop_pad",
    Data = "data",
    Device = "device",
    DistillWeight = "distill_weight",
    Epochs = "epochs",
    /// GEMMs in f16 arithmetic.
    F16Gemm = "f16_gemm",
    FinetuneEpochs = "finetune_epochs",
    FinetuneLr = "finetune_lr",
    Fit = "fit",
    Flash = "flash",
    Folds = "folds",
    Generations = "generations",
    HeldOut = "held_out",
    Hidden = "hidden",
    Holdout = "holdout",
    ImageSize = "image_size",
    Images = "images",
    Iterations = "iterations",
    LabelSmoothing = "label_smoothing",
    LatencyMs = "latency_ms",
    Lr = "lr",
    MaxMmacs = "max_mmacs",
    MaxRes = "max_res",
    MaxSteps = "max_steps",
    MaxTries = "max_tries",
    MaxWidth = "max_width",
    MeasurePopulation = "measure_population",
    MinFit = "min_fit",
    MinTau = "min_tau",
    Momentum = "momentum",
    MutationProb = "mutation_prob",
    MutationRatio = "mutation_ratio",
    N = "n",
    Net = "net",
    /// The folder a command writes.
    Out = "out",
    ParentRatio = "parent_ratio",
    Patches = "patches",
    Patience = "patience",
    Population = "population",
    /// Where a trace of GPU timestamps is written.
    Profile = "profile",
    ProfileSteps = "profile_steps",
    Python = "python",
    Random = "random",
    Rank = "rank",
    Ranks = "ranks",
    RecalImages = "recal_images",
    Reps = "reps",
    Res = "res",
    Resolution = "resolution",
    Resolutions = "resolutions",
    /// Continue the run in `out`.
    Resume = "resume",
    /// A trained run's folder that a command reads.
    Run = "run",
    RuntimeFlash = "runtime_flash",
    Samples = "samples",
    Schedule = "schedule",
    Scheduler = "scheduler",
    /// A search space's JSON file.
    Space = "space",
    Sram = "sram",
    Steps = "steps",
    /// A subnet of a space: max, min or a JSON file.
    Subnet = "subnet",
    Subnets = "subnets",
    Target = "target",
    TargetImages = "target_images",
    Threads = "threads",
    TopK = "top_k",
    TrainImages = "train_images",
    ValImages = "val_images",
    Verify = "verify",
    VerifyImages = "verify_images",
    WeightDecay = "weight_decay",
    Width = "width",
    Widths = "widths",
    Workers = "workers",
}

/// In words a field is written in backticks: `` `resume` ``.
impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.name())
    }
}

/// Words about a setting — why its value cannot work and what would — that may name other
/// settings: each one written as a [`Field`] (`format!("pass {} …", Field::Resume)`) is kept as
/// that field, so a front end renders it under its own name.
#[derive(Clone, Debug, PartialEq)]
pub struct Words(Vec<Piece>);

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    Field(Field),
}

impl Words {
    /// The fields these words name, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Field(f) => Some(*f),
            Piece::Text(_) => None,
        })
    }

    /// The words with each field named by `name`.
    pub fn render(&self, name: &dyn Fn(Field) -> String) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Field(f) => name(*f),
            })
            .collect()
    }
}

impl From<String> for Words {
    /// Splits out every backticked field name (what `Field`'s `Display` writes); other
    /// backticked text (a command, a file name) stays text.
    fn from(s: String) -> Words {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = s.as_str();
        while let Some(open) = rest.find('`') {
            let after = &rest[open + 1..];
            let field = after
                .find('`')
                .and_then(|close| Field::from_name(&after[..close]).map(|f| (f, close)));
            match field {
                Some((f, close)) => {
                    text.push_str(&rest[..open]);
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Field(f));
                    rest = &after[close + 1..];
                }
                None => {
                    text.push_str(&rest[..open + 1]);
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Words(pieces)
    }
}

impl From<&str> for Words {
    fn from(s: &str) -> Words {
        Words::from(s.to_string())
    }
}

/// What a setting may be.
#[derive(Clone, Debug, PartialEq)]
pub enum Allowed {
    /// A whole number from `lo` to `hi`.
    Ints { lo: u64, hi: u64 },
    /// A finite number from `lo` to `hi`.
    Reals { lo: f64, hi: f64 },
    /// A finite number above 0 and at most `hi` (`None`: any finite one).
    Positive { hi: Option<f64> },
    /// Anything else: why the value cannot work and what would.
    Words(Words),
}

/// A setting that cannot work, named `what`: the value given (where one value is at fault)
/// and what is allowed, with every field the words mention named by `name`.
pub fn render(
    what: &str,
    value: Option<&str>,
    allowed: &Allowed,
    name: &dyn Fn(Field) -> String,
) -> String {
    let v = value.unwrap_or_default();
    match allowed {
        Allowed::Ints { lo, hi } => format!("{what}: {v} is out of range; give {lo} to {hi}"),
        Allowed::Reals { lo, hi } => {
            format!("{what}: {v} is out of range; give a number from {lo} to {hi}")
        }
        Allowed::Positive { hi } => {
            let range = match hi {
                None => "a finite number above 0".to_string(),
                Some(hi) => format!("a number above 0 and at most {hi}"),
            };
            format!("{what}: {v} is out of range; give {range}")
        }
        Allowed::Words(w) => match value {
            Some(v) => format!("{what} {v}: {}", w.render(name)),
            None => format!("{what}: {}", w.render(name)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_fields_and_commands_apart() {
        let w = Words::from(format!(
            "pass {} or run `tinynas train` into {}; `x`",
            Field::Resume,
            Field::Out
        ));
        assert_eq!(w.fields().collect::<Vec<_>>(), [Field::Resume, Field::Out]);
        let flag = |f: Field| format!("--{}", f.name().replace('_', "-"));
        assert_eq!(
            w.render(&flag),
            "pass --resume or run `tinynas train` into --out; `x`"
        );
        let plain = |f: Field| f.to_string();
        assert_eq!(
            w.render(&plain),
            "pass `resume` or run `tinynas train` into `out`; `x`"
        );
    }

    #[test]
    fn every_name_is_unique() {
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(*f));
        }
    }
}
