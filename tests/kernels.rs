//! Every op family's kernels against its shader, both ways: the parameter struct equals the WGSL
//! `struct P` field by field, every flag its WGSL `const`, every storage slot a `@binding` of
//! that name and number and every binding a slot, every override a WGSL `override` and every
//! override declared, every kernel an entry point and every entry point a kernel. The families
//! come from `autograd::ops::families()`, which build.rs fills with every file of
//! src/autograd/ops that declares `pub mod kernel`: a new family is its file, its shader and its
//! test, with nothing to list or count here (a family the list missed leaves its shader to no
//! family, which the first test reports).

use tinynas::autograd::ops::families;
use tinynas::gpu::kernel::Family;

/// `src` with `//` comments removed.
fn strip(src: &str) -> String {
    src.lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fields of `struct P` in `src`: (name, type).
fn struct_p(src: &str) -> Vec<(String, String)> {
    let src = strip(src);
    let start = src.find("struct P {").expect("struct P") + "struct P {".len();
    let end = start + src[start..].find('}').unwrap();
    src[start..end]
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (n, t) = f.split_once(':').unwrap_or_else(|| panic!("field {f:?}"));
            (n.trim().to_string(), t.trim().to_string())
        })
        .collect()
}

/// (binding, variable) of every `@group(0) @binding(n) var<storage…> name` in `src`.
fn storage_bindings(src: &str) -> Vec<(u32, String)> {
    strip(src)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("@group(0) @binding(")?;
            let (n, rest) = rest.split_once(')')?;
            let rest = rest.trim().strip_prefix("var<storage")?;
            let name = rest.split_once('>')?.1.trim();
            let name = name.split(':').next()?.trim();
            Some((n.parse().ok()?, name.to_string()))
        })
        .collect()
}

/// The names of the `override` constants in `src`.
fn overrides(src: &str) -> Vec<String> {
    strip(src)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("override "))
        .map(|l| l.split(':').next().unwrap().trim().to_string())
        .collect()
}

/// The compute entry points of `src`.
fn entry_points(src: &str) -> Vec<String> {
    strip(src)
        .split("@compute")
        .skip(1)
        .map(|part| {
            let f = part.split("fn ").nth(1).expect("fn after @compute");
            f[..f.find('(').unwrap()].trim().to_string()
        })
        .collect()
}

fn check(name: &str, f: &Family) -> Result<(), String> {
    let fields: Vec<(String, String)> = f
        .params
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    for shader in f.shaders {
        let src = shader.source;
        // Later shaders of a family include the first (its struct P, slots and flags).
        let p = struct_p(src);
        if p != fields {
            return Err(format!("{}: struct P is {p:?}", shader.name));
        }
        for (flag, value) in f.flags {
            let decl = format!("const {flag}: u32 = {value}u;");
            if !src.contains(&decl) || src.matches(&format!("const {flag}:")).count() != 1 {
                return Err(format!("{}: lacks {decl:?} (once)", shader.name));
            }
        }
        let mut declared: Vec<(u32, String)> = f
            .slots
            .iter()
            .map(|s| (s.binding, s.name.to_string()))
            .collect();
        let mut found = storage_bindings(src);
        declared.sort();
        found.sort();
        if declared != found {
            return Err(format!(
                "{}: slots {declared:?}, the shader binds {found:?}",
                shader.name
            ));
        }
        let mut o: Vec<String> = f.overrides.iter().map(|s| s.to_string()).collect();
        let mut w = overrides(src);
        o.sort();
        w.sort();
        if o != w {
            return Err(format!(
                "{}: overrides {o:?}, the shader has {w:?}",
                shader.name
            ));
        }
        for e in entry_points(src) {
            if !f.kernels.iter().any(|(_, k)| *k == e) {
                return Err(format!("{}::{e} has no kernel", shader.name));
            }
        }
    }
    for (shader, entry) in f.kernels {
        let s = f
            .shaders
            .iter()
            .find(|s| s.name == *shader)
            .ok_or_else(|| format!("{name}: no shader {shader}"))?;
        if !entry_points(s.source).iter().any(|e| e == entry) {
            return Err(format!("{shader} has no compute entry point {entry}"));
        }
    }
    Ok(())
}

#[test]
fn every_family_matches_its_shader_both_ways() {
    let mut seen = std::collections::HashSet::new();
    for (name, f) in families() {
        check(name, f).unwrap();
        for (shader, entry) in f.kernels {
            assert!(seen.insert((shader, entry)), "{shader}::{entry} twice");
        }
    }
    // No shader is left out: every file in shaders/ is part of some family's module.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            families()
                .iter()
                .any(|(_, f)| f.shaders.iter().any(|s| s.source.contains(&text))),
            "{} belongs to no op family",
            path.display()
        );
    }
}

/// The checks see what they are for: a field retyped, a slot renumbered, an override or an entry
/// point missing on either side, a flag's value changed.
#[test]
fn the_checks_see_a_mismatch() {
    use tinynas::gpu::kernel::{Shader, Slot};
    const SRC: &str = "struct P { a: u32, // x\n b: f32, }\n\
        const F: u32 = 2u;\n\
        override K: u32 = 3u;\n\
        @group(0) @binding(0) var<uniform> p: P;\n\
        @group(0) @binding(1) var<storage, read> src: array<f32>;\n\
        @group(0) @binding(2) var<storage, read_write> dst: array<f32>;\n\
        @compute @workgroup_size(64)\nfn go(@builtin(global_invocation_id) g: vec3<u32>) {}\n";
    static SHADER: Shader = Shader {
        name: "t",
        source: SRC,
    };
    static SHADERS: [&Shader; 1] = [&SHADER];
    const SLOTS: &[Slot] = &[
        Slot {
            name: "src",
            binding: 1,
        },
        Slot {
            name: "dst",
            binding: 2,
        },
    ];
    let good = Family {
        shaders: &SHADERS,
        params: &[("a", "u32"), ("b", "f32")],
        flags: &[("F", 2)],
        slots: SLOTS,
        overrides: &["K"],
        kernels: &[("t", "go")],
    };
    check("t", &good).unwrap();
    let bad = [
        Family {
            params: &[("a", "u32"), ("b", "u32")],
            ..copy(&good)
        },
        Family {
            flags: &[("F", 3)],
            ..copy(&good)
        },
        Family {
            slots: &[Slot {
                name: "src",
                binding: 1,
            }],
            ..copy(&good)
        },
        Family {
            slots: &[
                Slot {
                    name: "src",
                    binding: 2,
                },
                Slot {
                    name: "dst",
                    binding: 1,
                },
            ],
            ..copy(&good)
        },
        Family {
            overrides: &[],
            ..copy(&good)
        },
        Family {
            overrides: &["K", "V"],
            ..copy(&good)
        },
        Family {
            kernels: &[],
            ..copy(&good)
        },
        Family {
            kernels: &[("t", "go"), ("t", "stop")],
            ..copy(&good)
        },
    ];
    for (i, f) in bad.iter().enumerate() {
        assert!(check("t", f).is_err(), "mismatch {i} not seen");
    }
}

fn copy(f: &Family) -> Family {
    Family {
        shaders: f.shaders,
        params: f.params,
        flags: f.flags,
        slots: f.slots,
        overrides: f.overrides,
        kernels: f.kernels,
    }
}
