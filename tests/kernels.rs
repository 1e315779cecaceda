//! Typed kernels against the shaders: every parameter struct equals its WGSL `struct P` field by
//! field, every flag its WGSL `const`, every kernel handle names an entry point of its shader.

use tinynas::gpu::kernel::{ALL, flags, layouts};
use tinynas::gpu::shader_source;

fn wgsl(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shaders")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fields of `struct P` in `src`, comments removed: (name, type).
fn struct_p(src: &str) -> Vec<(String, String)> {
    let start = src.find("struct P {").expect("struct P") + "struct P {".len();
    let end = start + src[start..].find('}').unwrap();
    let body: String = src[start..end]
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    body.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (n, t) = f.split_once(':').unwrap_or_else(|| panic!("field {f:?}"));
            (n.trim().to_string(), t.trim().to_string())
        })
        .collect()
}

#[test]
fn parameter_structs_match_the_shaders_field_by_field() {
    let l = layouts();
    assert_eq!(l.len(), 10, "one struct per shader with a uniform block");
    for (file, fields) in l {
        let want: Vec<(String, String)> = fields
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(struct_p(&wgsl(file)), want, "{file}");
    }
    // The parser itself: a field renamed, retyped or moved is seen.
    let src = "struct P { a: u32, // x\n b: f32, }";
    assert_eq!(
        struct_p(src),
        [("a".into(), "u32".into()), ("b".into(), "f32".into())]
    );
    assert_ne!(struct_p("struct P { b: f32, a: u32 }"), struct_p(src));
}

#[test]
fn flags_are_the_shaders_constants() {
    for (file, name, value) in flags::ALL {
        let src = wgsl(file);
        let decl = format!("const {name}: u32 = {value}u;");
        assert!(src.contains(&decl), "{file} lacks {decl:?}");
        assert_eq!(src.matches(&format!("const {name}:")).count(), 1, "{name}");
    }
}

#[test]
fn every_kernel_names_an_entry_point_of_its_shader() {
    let mut seen = std::collections::HashSet::new();
    for (shader, entry, params_file) in ALL {
        assert!(seen.insert((shader, entry)), "{shader}::{entry} twice");
        let src = shader_source(shader).unwrap_or_else(|| panic!("no shader {shader}"));
        let at = src
            .find(&format!("fn {entry}("))
            .unwrap_or_else(|| panic!("{shader} has no fn {entry}"));
        let before = &src[..at];
        let attr = before.rfind("@compute").expect("a compute entry point");
        assert!(
            !before[attr..].contains("\nfn "),
            "{shader}::{entry} is not the function after @compute"
        );
        // The parameters it is typed with are the ones its module declares.
        assert!(
            src.contains(wgsl(params_file).as_str()),
            "{shader} does not include {params_file}"
        );
    }
    // Every compute entry point of every shader has a handle.
    for shader in [
        "matmul",
        "matmul_f16",
        "conv",
        "depthwise",
        "norm",
        "elementwise",
        "reduce",
        "loss",
        "optim",
        "copy",
        "half",
    ] {
        let src = shader_source(shader).unwrap();
        for part in src.split("@compute").skip(1) {
            let f = part.split("fn ").nth(1).unwrap();
            let name = &f[..f.find('(').unwrap()];
            // matmul_f16's module holds matmul.wgsl's entry points too.
            assert!(
                ALL.iter().any(|(s, e, _)| e == &name
                    && (s == &shader || (shader == "matmul_f16" && s == &"matmul"))),
                "{shader}::{name} has no kernel handle"
            );
        }
    }
}
