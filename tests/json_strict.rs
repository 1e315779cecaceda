//! The one strict JSON reader (`tinynas::io::parse_json`): exactly one document, unknown fields
//! refused, errors naming the file, line and column; every reader of the program goes through it.

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use tinynas::arch::net::Network;
use tinynas::arch::subnet::from_subnet;
use tinynas::arch::{SearchSpace, SubnetConfig};
use tinynas::io::{parse_json, read_json, read_jsonl};
use tinynas::pipeline::evidence::Pair;
use tinynas::train::checkpoint::State;
use tinynas::train::config::RunConfig;
use tinynas::train::metrics::Metric;
use tinynas::train::schedule::Schedule;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-json-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One valid document of each kind the program reads, as it writes them.
fn documents() -> Vec<(&'static str, String)> {
    let space = SearchSpace::default();
    let subnet = space.largest(64);
    let j = |v: &dyn erased::Json| v.text();
    vec![
        ("space", j(&space)),
        ("subnet", j(&subnet)),
        ("network", j(&from_subnet(&space, &subnet).unwrap())),
        ("schedule", j(&Schedule::joint(2, 0.1, 2))),
        (
            "run",
            j(&RunConfig::new(
                "synthetic",
                space.clone(),
                Schedule::joint(2, 0.1, 2),
            )),
        ),
        (
            "pair",
            j(&Pair {
                subnet: subnet.clone(),
                top1: 0.5,
                macs: 10,
                recal_images: Some(4),
                halves: None,
            }),
        ),
        (
            "state",
            j(&State {
                step: 3,
                epoch: 1,
                weights: "weights-00000003.safetensors".into(),
                config: serde_json::json!({"a": 1}),
            }),
        ),
    ]
}

mod erased {
    pub trait Json {
        fn text(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn text(&self) -> String {
            serde_json::to_string_pretty(self).unwrap()
        }
    }
}

/// Parse `text` as the reader of `kind` does.
fn parse(kind: &str, text: &str) -> Result<(), String> {
    fn p<T: DeserializeOwned>(t: &str) -> Result<(), String> {
        parse_json::<T>(t, "doc")
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match kind {
        "space" => p::<SearchSpace>(text),
        "subnet" => p::<SubnetConfig>(text),
        "network" => Network::from_json(text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "schedule" => p::<Schedule>(text),
        "run" => p::<RunConfig>(text),
        "pair" => p::<Pair>(text),
        "state" => p::<State>(text),
        _ => unreachable!(),
    }
}

#[test]
fn every_document_reads_back_as_written() {
    for (kind, text) in documents() {
        parse(kind, &text).unwrap_or_else(|e| panic!("{kind}: {e}"));
        parse(kind, &format!("  {text}\n\n")).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn a_second_document_or_garbage_after_the_first_is_refused() {
    for (kind, text) in documents() {
        for tail in ["{}", " garbage", "\n{\"a\": 1}", "]", "0"] {
            let err = parse(kind, &format!("{text}{tail}")).unwrap_err();
            assert!(
                err.contains("trailing characters"),
                "{kind} + {tail:?}: {err}"
            );
        }
    }
}

#[test]
fn unknown_fields_are_refused() {
    for (kind, text) in documents() {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut()
            .unwrap()
            .insert("bogus_field".into(), 1.into());
        let err = parse(kind, &v.to_string()).unwrap_err();
        assert!(err.contains("unknown field `bogus_field`"), "{kind}: {err}");
    }
    let err = parse_json::<Metric>(
        r#"{"kind":"validation","step":1,"phase":"p","epoch":0,"largest":0.5,"smallest":0.4,"x":1}"#,
        "metric",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `x`"), "{err}");
}

#[test]
fn errors_name_the_file_line_and_column() {
    let d = tmp("where");
    let space = SearchSpace::default();
    // Line 3, the unknown field's name ends at column 9.
    let subnet = d.join("subnet.json");
    std::fs::write(&subnet, "{\n  \"resolution\": 64,\n  \"bogus\": 1\n}\n").unwrap();
    let err = tinynas::pipeline::inputs::SubnetChoice::File(subnet.clone())
        .config(&space, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains(subnet.to_str().unwrap()), "{err}");
    assert!(err.contains("line 3 column 9"), "{err}");
    assert!(err.contains("unknown field `bogus`"), "{err}");
    // Text after the network: named where it starts.
    let net = from_subnet(&space, &space.smallest(64)).unwrap();
    let path = d.join("net.json");
    std::fs::write(
        &path,
        format!("{}\n{{}}", serde_json::to_string(&net).unwrap()),
    )
    .unwrap();
    let err = tinynas::pipeline::inputs::read_network(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(
        err.contains("line 2 column 1") && err.contains("trailing characters"),
        "{err}"
    );
    // A field of the wrong type, deep inside: the field's path too.
    let path = d.join("space.json");
    let text = serde_json::to_string_pretty(&space)
        .unwrap()
        .replace("\"classes\": 10", "\"classes\": \"ten\"");
    std::fs::write(&path, text).unwrap();
    let err = tinynas::pipeline::inputs::read_space(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(path.to_str().unwrap()) && err.contains("classes: invalid type"),
        "{err}"
    );
    assert!(err.contains(" column "), "{err}");
    // read_json, and a JSON-lines file: the file's own line number.
    let err = read_json::<State>(&path, "checkpoint state")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(path.to_str().unwrap()) && err.contains("line 2 column 15"),
        "{err}"
    );
    let lines = d.join("m.jsonl");
    std::fs::write(
        &lines,
        "{\"kind\":\"validation\",\"step\":1,\"phase\":\"p\",\"epoch\":0,\"largest\":0.5,\"smallest\":0.4}\n{\"kind\":\"validation\"} x\n",
    )
    .unwrap();
    let err = read_jsonl::<Metric>(&lines, false).unwrap_err().to_string();
    assert!(
        err.contains(lines.to_str().unwrap()) && err.contains("line 2 is corrupt (column"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Any text that is not whitespace.
fn tail() -> impl Strategy<Value = String> {
    ("[ \t\n]{0,3}", "\\PC{1,12}")
        .prop_filter("starts with a non-space", |(_, t)| {
            !t.starts_with(char::is_whitespace)
        })
        .prop_map(|(a, b)| format!("{a}{b}"))
}

fn subnet() -> impl Strategy<Value = SubnetConfig> {
    (
        0usize..100_000,
        prop::collection::vec(0usize..100, 0..12),
        prop::collection::vec(0usize..100, 0..12),
        prop::collection::vec(0usize..100, 0..6),
    )
        .prop_map(
            |(resolution, kernel_size, expand_ratio, depth)| SubnetConfig {
                resolution,
                kernel_size,
                expand_ratio,
                depth,
            },
        )
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(v).unwrap()
    } else {
        serde_json::to_string(v).unwrap()
    };
    let back: T = parse_json(&text, "doc").unwrap();
    assert_eq!(&back, v);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn text_after_a_valid_document_is_refused(t in tail(), which in 0usize..7) {
        let (kind, text) = &documents()[which];
        let r = parse(kind, &format!("{text}{t}"));
        prop_assert!(r.is_err(), "{} + {:?} accepted", kind, t);
    }

    #[test]
    fn text_after_a_jsonl_record_is_refused(t in tail().prop_filter("one line", |t| !t.contains(['\n', '\r']))) {
        let d = std::env::temp_dir().join(format!("tinynas-json-l-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("pairs.jsonl");
        let (_, pair) = &documents()[5];
        let one: serde_json::Value = serde_json::from_str(pair).unwrap();
        std::fs::write(&p, format!("{one}\n{one}{t}\n")).unwrap();
        let r = read_jsonl::<Pair>(&p, false);
        prop_assert!(r.is_err(), "{:?} accepted", t);
        let err = r.unwrap_err().to_string();
        prop_assert!(err.contains("line 2"), "{}", err);
    }

    #[test]
    fn any_subnet_round_trips(s in subnet(), pretty in any::<bool>()) {
        round_trip(&s, pretty);
    }

    #[test]
    fn any_space_round_trips(
        widths in prop::collection::vec(1usize..4096, 0..10),
        mult in 1u32..4000,
        strides in prop::collection::vec(1usize..4, 0..6),
        classes in 1usize..1000,
        transform in any::<bool>(),
    ) {
        let s = SearchSpace {
            base_widths: widths,
            width_mult: mult as f64 / 1000.0,
            stage_strides: strides,
            classes,
            kernel_transform: transform,
            ..SearchSpace::default()
        };
        round_trip(&s, false);
    }

    #[test]
    fn any_state_round_trips(step in 0usize..1 << 40, epoch in 0usize..1000, name in "[a-z0-9.-]{1,30}", k in "[a-z]{1,8}", v in any::<i64>()) {
        round_trip(&State { step, epoch, weights: name, config: serde_json::json!({ k: v }) }, true);
    }
}
