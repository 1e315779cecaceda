//! What the profiler records, as plain data: a dispatch's work and cost, its direction and
//! label, a span of GPU or CPU time, how time was taken. The profiler (profiler.rs) fills them,
//! the report (report.rs) groups them, the batch (batch.rs) carries them.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TimestampMode {
    InsidePasses,
    PerPass,
    WallClock,
}

/// The known cost of one command: floating-point operations and bytes moved to and from
/// memory (each operand read once, each output written once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    pub flops: f64,
    pub bytes: f64,
}

/// What one dispatch does, passed with it: its floating-point operations, the bytes it moves to
/// and from memory, and the shape that labels it in the profile (formatted only when profiling).
pub struct Work<F: FnOnce() -> String> {
    pub flops: f64,
    pub bytes: f64,
    pub shape: F,
}

impl<F: FnOnce() -> String> Work<F> {
    pub fn new(flops: f64, bytes: f64, shape: F) -> Work<F> {
        Work {
            flops,
            bytes,
            shape,
        }
    }
}

/// What a dispatch is doing, for the profiler's table and trace. The autograd sets `Backward`
/// around the backward pass and ops narrow it to `BackwardData` (the gradient of an input) or
/// `BackwardWeight` (the gradient of a parameter); optimizers set `Optimizer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
    BackwardData,
    BackwardWeight,
    Optimizer,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "fwd",
            Direction::Backward => "bwd",
            Direction::BackwardData => "bwd-data",
            Direction::BackwardWeight => "bwd-weight",
            Direction::Optimizer => "optim",
        }
    }
}

/// `[64, 16, 32, 32]` as `64×16×32×32`, for shape labels.
pub fn dims(shape: &[usize]) -> String {
    let v: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    v.join("×")
}

/// The profiler's label of one command: direction and the op's shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Label {
    pub direction: Direction,
    pub shape: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Span {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// Microseconds since profiling started (GPU spans: aligned at their submission's CPU time).
    pub start_us: f64,
    pub dur_us: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

impl Span {
    /// Kernel and direction: the per-kernel table's key.
    pub(crate) fn kernel_key(&self) -> String {
        match &self.label {
            Some(l) => format!("{} {}", self.name, l.direction.as_str()),
            None => self.name.clone(),
        }
    }
    /// Kernel, direction and shape: the trace's event name and the per-shape table's key.
    pub(crate) fn full_name(&self) -> String {
        match &self.label {
            Some(l) if !l.shape.is_empty() => format!("{} {}", self.kernel_key(), l.shape),
            _ => self.kernel_key(),
        }
    }
}
