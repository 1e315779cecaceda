//! Lists the op families for `src/autograd/ops/mod.rs`, so that a new family is its own file,
//! its shader and its test, with no line to add anywhere else: every `src/autograd/ops/*.rs`
//! (but mod.rs) becomes a module, and those that declare `pub mod kernel` join
//! `ops::families()`, which tests/kernels.rs holds to the shaders. The lists are sorted, so the
//! generated file is the same on every machine.

use std::path::Path;

const OPS: &str = "src/autograd/ops";

fn main() {
    println!("cargo::rerun-if-changed={OPS}");
    let mut files = Vec::new();
    let mut families = Vec::new();
    for entry in std::fs::read_dir(OPS).expect("reading src/autograd/ops") {
        let path = entry.expect("reading src/autograd/ops").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_none_or(|e| e != "rs") || name == "mod" {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("reading an op file");
        if source.lines().any(|l| l.trim() == "pub mod kernel {") {
            families.push(name.to_string());
        }
        files.push(name.to_string());
    }
    files.sort();
    families.sort();
    let generated = format!(
        "// Written by build.rs from the files of {OPS}.\n\n\
         /// Calls `$then!` with every op file's module name, sorted.\n\
         macro_rules! op_files {{\n    ($then:ident) => {{ $then! {{ {} }} }};\n}}\n\n\
         /// Calls `$then!` with the op files that declare `pub mod kernel`, sorted.\n\
         macro_rules! op_families {{\n    ($then:ident) => {{ $then! {{ {} }} }};\n}}\n",
        files.join(", "),
        families.join(", "),
    );
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("op_files.rs");
    std::fs::write(out, generated).expect("writing op_files.rs");
}
