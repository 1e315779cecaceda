//! The tables the command line prints from the library's reports: the profiler's per-kernel
//! table and the space optimization's ranking.

use crate::gpu::report::{KernelRow, ProfileReport};
use crate::gpu::work::TimestampMode;
use crate::search::space::SpaceResult;
use std::fmt::Write;

/// The per-kernel table, the heaviest shapes (with GPU timestamps), and the totals.
pub fn profile(r: &ProfileReport) -> String {
    let mut f = String::new();
    write_rows(&mut f, "kernel, direction", &r.rows);
    if r.mode != TimestampMode::WallClock && !r.shapes.is_empty() {
        f.push('\n');
        write_rows(&mut f, "heaviest shapes", &r.shapes);
        f.push('\n');
    }
    let _ = write!(
        f,
        "GPU kernels {:.1} ms, GPU busy span {:.1} ms, wall {:.1} ms ({:.0} % of wall in kernels; timestamps: {:?})",
        r.gpu_kernel_ms,
        r.gpu_span_ms,
        r.wall_ms,
        100.0 * r.gpu_kernel_ms / r.wall_ms.max(1e-9),
        r.mode
    );
    if let Some(n) = &r.note {
        let _ = write!(f, "\nnote: {n}");
    }
    f
}

fn write_rows(f: &mut String, title: &str, rows: &[KernelRow]) {
    let w = rows
        .iter()
        .map(|r| r.kernel.chars().count())
        .max()
        .unwrap_or(0)
        .max(44);
    let _ = writeln!(
        f,
        "{:<w$} {:>7} {:>11} {:>11} {:>7} {:>9} {:>9}",
        title, "calls", "total ms", "mean µs", "share", "GFLOP/s", "GB/s"
    );
    let rate = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
    for r in rows {
        let _ = writeln!(
            f,
            "{:<w$} {:>7} {:>11.3} {:>11.1} {:>6.1}% {:>9} {:>9}",
            r.kernel,
            r.calls,
            r.total_ms,
            r.mean_us,
            100.0 * r.share,
            rate(r.gflops),
            rate(r.gbytes_per_s)
        );
    }
}

/// The ranking's first `rows` spaces as a table.
pub fn ranking(r: &[SpaceResult], rows: usize) -> String {
    let mut t = String::new();
    // Mean latency of the fitting subnets, where the device has a core and a clock.
    let timed = r.iter().any(|s| s.mean_latency_ms.is_some());
    let _ = writeln!(
        t,
        "{:>4} {:>5} {:>6} {:>12} {:>14} {:>14}{}  note",
        "rank",
        "res",
        "width",
        "fit/sampled",
        "mean M MACs",
        "score M MACs",
        if timed { "    mean ms" } else { "" }
    );
    for (i, s) in r.iter().take(rows).enumerate() {
        let ms = match (timed, s.mean_latency_ms) {
            (false, _) => String::new(),
            (true, Some(ms)) => format!(" {ms:>10.1}"),
            (true, None) => format!(" {:>10}", "-"),
        };
        let _ = writeln!(
            t,
            "{:>4} {:>5} {:>6.2} {:>7}/{:<4} {:>14.2} {:>14.2}{ms}  {}",
            i + 1,
            s.resolution,
            s.width,
            s.fitting,
            s.sampled,
            s.mean_macs / 1e6,
            s.score / 1e6,
            if s.too_few { "too few fit" } else { "" }
        );
    }
    if r.len() > rows {
        let _ = writeln!(t, "  … {} more spaces (all in space.json)", r.len() - rows);
    }
    t.trim_end().to_string()
}
