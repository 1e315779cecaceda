//! The command line's observer: a progress bar per task, and lines printed above it.

use crate::Result;
use crate::chart::Chart;
use crate::gpu::report::ProfileReport;
use crate::observer::Observer;
use crate::search::space::SpaceResult;
use indicatif::{ProgressBar, ProgressStyle};
use std::cell::RefCell;
use std::path::Path;

/// The spaces of a ranking a job reports (the demo's first phase) shown as a table.
const RANKING_ROWS: usize = 8;

#[derive(Default)]
pub struct Console {
    bar: RefCell<Option<ProgressBar>>,
}

impl Console {
    pub fn new() -> std::rc::Rc<Console> {
        std::rc::Rc::new(Console::default())
    }

    /// Run `f` (which prints) with the bar, if any, out of the way.
    fn above(&self, f: impl FnOnce()) {
        match self.bar.borrow().as_ref() {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }
}

impl Observer for Console {
    fn message(&self, text: &str) {
        // The settings a message names (written as fields), named by their flags.
        let text = super::flags::words(text);
        self.above(|| println!("{text}"));
    }
    fn instead(&self, why: &crate::Error, instead: &str) {
        self.message(&format!("{}; {instead}", super::flags::describe(why)));
    }
    fn start(&self, label: &str, len: usize, done: usize) {
        let bar = progress(len, true, label);
        bar.set_position(done as u64);
        if let Some(old) = self.bar.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }
    fn step(&self, status: &str) {
        if let Some(b) = self.bar.borrow().as_ref() {
            b.set_message(status.to_string());
            b.inc(1);
        }
    }
    fn end(&self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    fn ranking(&self, heading: &str, ranked: &[SpaceResult]) {
        self.message(&format!(
            "{heading}\n{}",
            super::table::ranking(ranked, RANKING_ROWS)
        ));
    }
    fn profile(&self, report: &ProfileReport, trace: &Path) {
        self.above(|| print_profile(report, trace));
    }
    fn draw(&self, charts: &[Chart]) -> Result<Option<Vec<u8>>> {
        super::plot::png_bytes(charts).map(Some)
    }
}

/// A progress bar of `len` steps (hidden when `show` is false): bar, `label` position/length,
/// elapsed and remaining time, and a message.
pub fn progress(len: usize, show: bool, label: &str) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(len as u64)
    } else {
        ProgressBar::hidden()
    };
    let template = format!("{{bar:30}} {label}{{pos}}/{{len}} {{elapsed}}<{{eta}} {{msg}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// The per-kernel table, then where the trace was written.
pub fn print_profile(report: &ProfileReport, trace: &Path) {
    println!("{}", super::table::profile(report));
    println!(
        "trace: {} (open in ui.perfetto.dev or chrome://tracing)",
        trace.display()
    );
}
