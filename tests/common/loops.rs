//! One check of the training loop every kind of run shares (supernet, fixed network,
//! fine-tune), written once: progress told the same way, a run stopped by `max_steps` and
//! resumed ends at the uninterrupted run's checkpoint, a resume with nothing left under
//! `max_steps` is refused, and a non-finite loss stops the run naming its step and what it left
//! on disk.

use super::harden::files;
use std::cell::{Cell, RefCell};
use std::path::Path;
use tinynas::observer::Observer;
use tinynas::{Error, Result};

/// What one invocation of a run did, in the words every kind reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ran {
    pub resumed_at: usize,
    pub steps: usize,
    pub finished: bool,
}

/// Progress as a run tells it: the task started (its length, the steps done before), each
/// step, its end.
#[derive(Default)]
pub struct Progress {
    pub starts: RefCell<Vec<(usize, usize)>>,
    pub steps: Cell<usize>,
    pub ends: Cell<usize>,
    pub messages: RefCell<Vec<String>>,
}

impl Observer for Progress {
    fn message(&self, text: &str) {
        self.messages.borrow_mut().push(text.into());
    }
    fn start(&self, _label: &str, len: usize, done: usize) {
        self.starts.borrow_mut().push((len, done));
    }
    fn step(&self, _status: &str) {
        self.steps.set(self.steps.get() + 1);
    }
    fn end(&self) {
        self.ends.set(self.ends.get() + 1);
    }
}

/// `train(out, max_steps, resume, progress)`: one invocation of a run into the folder `out`.
pub type Train<'a> = &'a dyn Fn(&Path, Option<usize>, bool, &Progress) -> Result<Ran>;

/// A kind of run: how it trains, `total` steps in all.
pub struct Kind<'a> {
    pub name: &'a str,
    pub total: usize,
    pub train: Train<'a>,
}

/// One invocation, its progress checked: started once at the step it resumed from, one step
/// told per step trained, ended once.
pub fn run(kind: &Kind, out: &Path, max_steps: Option<usize>, resume: bool) -> Result<Ran> {
    let p = Progress::default();
    let r = (kind.train)(out, max_steps, resume, &p)?;
    assert_eq!(
        *p.starts.borrow(),
        [(kind.total, r.resumed_at)],
        "{}",
        kind.name
    );
    assert_eq!(p.steps.get(), r.steps - r.resumed_at, "{}", kind.name);
    assert_eq!(p.ends.get(), 1, "{}", kind.name);
    Ok(r)
}

/// The whole run; the same run stopped at `cut` and resumed; both end at the same weights. A
/// resume with `max_steps` at the step reached is refused, and a finished run resumed trains
/// nothing.
pub fn resumes_to_the_same_weights(kind: &Kind, dir: &Path, cut: usize) {
    let (total, name) = (kind.total, kind.name);
    let full = dir.join(format!("{name}-full"));
    let done = |resumed_at, steps| Ran {
        resumed_at,
        steps,
        finished: steps == total,
    };
    assert_eq!(run(kind, &full, None, false).unwrap(), done(0, total));
    let part = dir.join(format!("{name}-cut"));
    assert_eq!(run(kind, &part, Some(cut), false).unwrap(), done(0, cut));
    let err = run(kind, &part, Some(cut), true).unwrap_err();
    assert!(
        matches!(&err, Error::Setting { field: tinynas::error::Field::MaxSteps, value: Some(v), .. } if *v == cut.to_string()),
        "{name}: {err:?}"
    );
    let err = tinynas::cli::flags::describe(&err);
    assert!(
        err.contains("--max-steps") && err.contains(&format!("already at step {cut}")),
        "{name}: {err}"
    );
    let p = Progress::default();
    assert_eq!(
        (kind.train)(&part, None, true, &p).unwrap(),
        done(cut, total)
    );
    assert!(
        p.messages
            .borrow()
            .iter()
            .any(|m| m.starts_with("resumed ") && m.contains(&format!("at step {cut}"))),
        "{name}: {:?}",
        p.messages.borrow()
    );
    let weights =
        |d: &Path| std::fs::read(d.join(format!("weights-{total:08}.safetensors"))).unwrap();
    assert!(
        weights(&full) == weights(&part),
        "{name}: the resumed run's weights differ"
    );
    assert_eq!(run(kind, &part, None, true).unwrap(), done(total, total));
}

/// `err` is a non-finite loss's stop: it names the step (`step N (…)`) and, for a run with a
/// folder `out`, what is left there — the last checkpoint, or (a new run stopped before its
/// first) nothing but the lock and the files that were there before (`kept`).
pub fn stopped_on_a_non_finite_loss(err: Error, out: Option<&Path>, kept: &[&str]) {
    let Error::NonFinite { at, value, .. } = &err else {
        panic!("expected a non-finite loss, got {err}");
    };
    assert!(!value.is_finite(), "{err}");
    assert!(at.starts_with("step ") && at.contains(" ("), "{at}");
    let Some(out) = out else { return };
    assert!(at.contains(&out.display().to_string()), "{at}");
    if out.join("state.json").is_file() {
        assert!(
            at.contains("the last checkpoint") && at.contains("intact"),
            "{at}"
        );
        tinynas::train::checkpoint::load(out).expect("the last checkpoint loads");
    } else {
        assert!(at.contains("left nothing"), "{at}");
        let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        want.push(".tinynas.lock".into());
        want.sort();
        assert_eq!(files(out), want, "only the lock and what was there");
    }
}
