//! How the library's long jobs (training, measuring subnets, search, the demo) tell their caller
//! what they are doing, without printing: the command line implements `Observer` with progress
//! bars and printed lines; tests and other callers use `Silent` or their own.

use crate::Result;
use crate::chart::Chart;
use crate::gpu::report::ProfileReport;
use crate::search::space::SpaceResult;
use std::path::Path;

pub trait Observer {
    /// A line for the user: a phase started, a validation result, a note. A setting it names
    /// is written as a [`crate::error::Field`] (`` `max_steps` ``), which a front end names its
    /// own way (the command line by its flag).
    fn message(&self, _text: &str) {}
    /// The job goes on without what `why` says is missing or cannot be used, doing `instead`.
    /// A front end may add how to make it (the command line: the command, for an
    /// [`crate::Error::Missing`]).
    fn instead(&self, why: &crate::Error, instead: &str) {
        self.message(&format!("{why}; {instead}"));
    }
    /// A task of `len` steps begins (`label` names it); `done` of them are done already.
    fn start(&self, _label: &str, _len: usize, _done: usize) {}
    /// One more step of the task, with a short status.
    fn step(&self, _status: &str) {}
    /// The task ended, complete or not.
    fn end(&self) {}
    /// A ranking of (resolution, width) spaces is ready, best first; `heading` says how many
    /// were ranked and how long it took. Callers that show no table hear the heading alone.
    fn ranking(&self, heading: &str, _ranked: &[SpaceResult]) {
        self.message(heading)
    }
    /// A profile of some steps is ready; its Chrome/Perfetto trace is written to `trace`.
    fn profile(&self, _report: &ProfileReport, _trace: &Path) {}
    /// Draws a figure of the job's outputs (its panels side by side) as the bytes of a PNG;
    /// `None` where the caller draws nothing, and the job then writes no file for it.
    fn draw(&self, _charts: &[Chart]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {}
