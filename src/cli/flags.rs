//! The CLI's names for the library's settings: each [`Field`] an error can name, by the flag
//! that sets it. An error is printed with its fields so named (`describe`).

use crate::error::{Error, Field, Missing};

/// The flag that sets `field`; `None` for a setting no flag sets (one read from a run's
/// config.json, named there by its field).
pub fn flag(field: Field) -> Option<&'static str> {
    Some(match field {
        Field::Adapter => "--adapter",
        Field::Batch => "--batch",
        Field::Budget => "--budget",
        Field::CalibImages => "--calib-images",
        Field::CheckpointEvery => "--checkpoint-every",
        Field::Classes => "--classes",
        Field::ClockMhz => "--clock-mhz",
        Field::Collect => "--collect",
        Field::Count => "--count",
        Field::CropPad => "--crop-pad",
        Field::Data => "--data",
        Field::Device => "--device",
        Field::DistillWeight => "--distill-weight",
        Field::Epochs => "--epochs",
        Field::F16Gemm => "--f16",
        Field::FinetuneEpochs => "--finetune-epochs",
        Field::FinetuneLr => "--finetune-lr",
        Field::Fit => "--fit",
        Field::Flash => "--flash",
        Field::Folds => "--folds",
        Field::Generations => "--generations",
        Field::HeldOut => "--held-out",
        Field::Hidden => "--hidden",
        Field::Holdout => "--holdout",
        Field::ImageSize => "--image-size",
        Field::Images => "--images",
        Field::Iterations => "--iterations",
        Field::LabelSmoothing => "--label-smoothing",
        Field::LatencyMs => "--latency-ms",
        Field::Lr => "--lr",
        Field::MaxMmacs => "--max-mmacs",
        Field::MaxRes => "--max-res",
        Field::MaxSteps => "--max-steps",
        Field::MaxWidth => "--max-width",
        Field::MeasurePopulation => "--measure-population",
        Field::MinFit => "--min-fit",
        Field::MinTau => "--min-tau",
        Field::MutationProb => "--mutation-prob",
        Field::MutationRatio => "--mutation-ratio",
        Field::N => "--n",
        Field::Net => "--net",
        Field::Out => "--out",
        Field::ParentRatio => "--parent-ratio",
        Field::Patches => "--patches",
        Field::Patience => "--patience",
        Field::Population => "--population",
        Field::Profile => "--profile",
        Field::ProfileSteps => "--profile-steps",
        Field::Python => "--python",
        Field::Random => "--random",
        Field::Rank => "--rank",
        Field::RecalImages => "--recal-images",
        Field::Reps => "--reps",
        Field::Res => "--res",
        Field::Resolution => "--resolution",
        Field::Resolutions => "--resolutions",
        Field::Resume => "--resume",
        Field::Run => "--run",
        Field::RuntimeFlash => "--runtime-flash",
        Field::Samples => "--samples",
        Field::Schedule => "--schedule",
        Field::Scheduler => "--scheduler",
        Field::Space => "--space",
        Field::Sram => "--sram",
        Field::Steps => "--steps",
        Field::Subnet => "--subnet",
        Field::Subnets => "--subnets",
        Field::Target => "--target",
        Field::TargetImages => "--target-images",
        Field::Threads => "--threads",
        Field::TopK => "--top-k",
        Field::TrainImages => "--train-images",
        Field::ValImages => "--val-images",
        Field::Verify => "--verify",
        Field::VerifyImages => "--verify-images",
        Field::WeightDecay => "--weight-decay",
        Field::Width => "--width",
        Field::Widths => "--widths",
        Field::Workers => "--workers",
        Field::MaxTries | Field::Momentum | Field::Ranks => return None,
    })
}

/// `field` as the user of the CLI knows it: its flag, or its name in a run's config.json.
pub fn name(field: Field) -> String {
    match flag(field) {
        Some(f) => f.to_string(),
        None => format!("{} (in the run's config.json)", field.name()),
    }
}

/// `e` as the CLI prints it: every field it names by its flag, an estimate by the command that
/// shows it, and what is missing followed by the command that makes it.
pub fn describe(e: &Error) -> String {
    match e {
        Error::DoesNotFit {
            device,
            over,
            patches,
        } => {
            let command = match patches {
                None => "`tinynas mem --scheduler tinyengine`".to_string(),
                Some(n) => format!("`tinynas mem --scheduler patch --patches {n}`"),
            };
            crate::error::does_not_fit(&name(Field::Target), device, over, &command)
        }
        Error::Missing { path, what, msg } => format!("{msg}; {}", remedy(*what, path)),
        e => e.render(&name),
    }
}

/// The command line that makes `what` in the folder `path`, in a sentence.
pub fn remedy(what: Missing, path: &str) -> String {
    match what {
        Missing::Supernet => format!("make one with `tinynas train --out {path}`"),
        Missing::MeasuredSubnets { have: 0 } => {
            format!("run `tinynas predictor collect --run {path}` first")
        }
        Missing::MeasuredSubnets { .. } => {
            format!("collect more with `tinynas predictor collect --run {path}`")
        }
        Missing::Predictor => format!("fit one with `tinynas predictor collect|fit --run {path}`"),
        Missing::Refit => format!("fit it again with `tinynas predictor fit --run {path}`"),
    }
}

/// A line of the library's (a message, a report) as the CLI prints it: every setting it names
/// as a field (`` `folds` ``) named by its flag.
pub fn words(text: &str) -> String {
    crate::error::Words::from(text).render(&name)
}

/// What is wrong with a value clap already names (`invalid value 'x' for '--device'`): a
/// setting's words alone, any other error whole.
pub fn why(e: &Error) -> String {
    match e {
        Error::Setting {
            allowed: crate::error::Allowed::Words(w),
            ..
        } => w.render(&name),
        e => describe(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag is a flag of some command, and no two fields share one.
    #[test]
    fn flags_are_distinct_and_known() {
        use clap::CommandFactory;
        let cmd = super::super::Cli::command();
        let mut known = std::collections::BTreeSet::new();
        let mut stack = vec![&cmd];
        while let Some(c) = stack.pop() {
            known.extend(
                c.get_arguments()
                    .filter_map(|a| a.get_long())
                    .map(|l| format!("--{l}")),
            );
            stack.extend(c.get_subcommands());
        }
        let mut seen = std::collections::BTreeSet::new();
        for &f in Field::ALL {
            if let Some(flag) = flag(f) {
                assert!(known.contains(flag), "{f:?}: {flag} is no command's flag");
                assert!(seen.insert(flag), "{flag} named twice");
            }
        }
    }
}
