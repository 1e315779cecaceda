//! The generated C runtime built with the machine's own C compiler and run on inputs: the
//! logits (held to the integer executor by the caller), the arena bytes it touched (poisoned,
//! then scanned) and its speed.

use super::codegen::Sources;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const HOST_CHECK_C: &str = include_str!("runtime/tinynas_host_check.c");

/// The warnings every build of the generated code is held to.
pub const STRICT: [&str; 5] = [
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic-errors",
];

/// How the host build is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostBuild {
    /// -O3 (GCC vectorizes the portable inner loops only from -O3).
    Optimized,
    /// -O1 with AddressSanitizer and UndefinedBehaviorSanitizer, every finding fatal.
    Sanitized,
}

/// The bytes of each arena region the model touched (one past the highest), on the first input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    pub activations: u64,
    pub scratch: u64,
    pub kernel_buffer: u64,
}

#[derive(Clone, Debug)]
pub struct HostRun {
    pub logits: Vec<Vec<i8>>,
    pub seconds: f64,
    pub touched: Touched,
}

#[derive(Deserialize)]
struct Summary {
    images: usize,
    seconds: f64,
    activations: u64,
    scratch: u64,
    kernel_buffer: u64,
}

/// Write the sources into `dir` (made if missing; the caller owns it).
pub fn write_sources(dir: &Path, s: &Sources) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write {
        path: dir.display().to_string(),
        source: e,
    })?;
    for (name, text) in s.files() {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| Error::Write {
            path: p.display().to_string(),
            source: e,
        })?;
    }
    Ok(())
}

/// The host's C compiler: $CC, else `cc`.
pub fn compiler() -> PathBuf {
    std::env::var_os("CC")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cc".into())
}

/// Whether `cc` runs at all (`cc --version`).
pub fn compiler_found(cc: &Path) -> bool {
    Command::new(cc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run `cmd`, an error naming `what` and the tool's last lines if it fails.
pub fn run_tool(cmd: &mut Command, what: &str) -> Result<std::process::Output> {
    let out = cmd
        .output()
        .map_err(|e| Error::Invalid(format!("{what}: cannot run {:?} ({e})", cmd.get_program())))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        let tail: Vec<&str> = text.lines().rev().take(12).collect();
        return Err(Error::Invalid(format!(
            "{what} failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(out)
}

/// Build the sources in `dir` with the host's compiler and run them on `inputs`.
pub fn run(dir: &Path, s: &Sources, inputs: &[Vec<i8>], build: HostBuild) -> Result<HostRun> {
    if inputs.is_empty() {
        return Err(Error::Invalid(
            "firmware: the host check needs at least one input".into(),
        ));
    }
    write_sources(dir, s)?;
    let harness = dir.join("tinynas_host_check.c");
    crate::io::write_file(&harness, HOST_CHECK_C)?;
    let exe = dir.join(match build {
        HostBuild::Optimized => "tinynas_host_check",
        HostBuild::Sanitized => "tinynas_host_check_asan",
    });
    let mut cc = Command::new(compiler());
    cc.args(STRICT).arg("-I").arg(dir);
    match build {
        HostBuild::Optimized => cc.arg("-O3"),
        HostBuild::Sanitized => cc.args([
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ]),
    };
    cc.arg(dir.join("tinynas_model.c"))
        .arg(dir.join("tinynas_kernels.c"))
        .arg(&harness)
        .arg("-o")
        .arg(&exe);
    run_tool(&mut cc, "compiling the generated C on the host")?;
    let input = dir.join("inputs.bin");
    let output = dir.join("logits.bin");
    let bytes: Vec<u8> = inputs.iter().flatten().map(|&v| v as u8).collect();
    crate::io::write_file(&input, bytes)?;
    let out = run_tool(
        Command::new(&exe).arg(&input).arg(&output),
        "running the generated C on the host",
    )?;
    let line = String::from_utf8_lossy(&out.stdout);
    let sum: Summary = crate::io::parse_json_at(line.trim()).map_err(|e| {
        Error::Invalid(format!(
            "firmware: the host check printed {line:?}, not its summary ({e})"
        ))
    })?;
    let raw = std::fs::read(&output)?;
    let classes = raw.len() / sum.images.max(1);
    if sum.images != inputs.len() || classes * inputs.len() != raw.len() {
        return Err(Error::Invalid(format!(
            "firmware: the host check ran {} of {} inputs",
            sum.images,
            inputs.len()
        )));
    }
    Ok(HostRun {
        logits: raw
            .chunks(classes.max(1))
            .map(|c| c.iter().map(|&b| b as i8).collect())
            .collect(),
        seconds: sum.seconds,
        touched: Touched {
            activations: sum.activations,
            scratch: sum.scratch,
            kernel_buffer: sum.kernel_buffer,
        },
    })
}
