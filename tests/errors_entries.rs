//! An entry of a document the user wrote (a network description, a search space, a subnet, a
//! schedule) that cannot work is `Error::Entry`: a library caller matches the document, the
//! entry's path and what is allowed; the text is the one the library printed before, and the
//! CLI prints it as is (documents have no flags).

use tinynas::Error;
use tinynas::arch::SearchSpace;
use tinynas::arch::models::mobilenet_v2;
use tinynas::arch::net::Network;
use tinynas::cli::flags::describe;
use tinynas::error::{Allowed, Document, Field, Place};
use tinynas::train::schedule::Schedule;

/// `e` is an entry of `document` at `entry`, printed as `text` by the library and the CLI alike,
/// exit code 2; its value and what is allowed returned.
fn entry(e: Error, document: Document, entry: &str, text: &str) -> (Option<String>, Allowed) {
    assert_eq!(e.to_string(), text, "{e:?}");
    assert_eq!(describe(&e), text);
    assert_eq!(e.exit_code(), 2);
    match e {
        Error::Entry {
            document: d,
            entry: en,
            value,
            allowed,
        } if d == document && en == entry => (value, allowed),
        e => panic!("not {document:?} {entry}: {e:?}"),
    }
}

fn words(allowed: &Allowed) -> String {
    match allowed {
        Allowed::Words(w) => w.render(&|f| f.to_string()),
        a => panic!("not words: {a:?}"),
    }
}

#[test]
fn a_network_description_names_its_entry_and_range() {
    let good = mobilenet_v2(1.0, 224, 1000);
    let mut net = good.clone();
    net.input.resolution = 0;
    let e = Network::from_json(&serde_json::to_string(&net).unwrap()).unwrap_err();
    let (value, allowed) = entry(
        e,
        Document::NetworkDescription,
        "input.resolution",
        "network description: input.resolution: 0 is out of range; give 1 to 2048",
    );
    assert_eq!(value.as_deref(), Some("0"));
    assert_eq!(allowed, Allowed::Ints { lo: 1, hi: 2048 });

    // Channels that do not chain: the value at fault, and why.
    let mut net = good.clone();
    net.blocks[1].in_channels += 1;
    let (given, prev) = (net.blocks[1].in_channels, net.blocks[0].out_channels);
    let e = Network::from_json(&serde_json::to_string(&net).unwrap()).unwrap_err();
    let (value, allowed) = entry(
        e,
        Document::NetworkDescription,
        "blocks[1].in_channels",
        &format!(
            "network description: blocks[1].in_channels: {given} does not chain: the previous layer gives {prev}"
        ),
    );
    assert_eq!(value, Some(given.to_string()));
    assert_eq!(
        words(&allowed),
        format!("does not chain: the previous layer gives {prev}")
    );

    // An even kernel in a block.
    let mut net = good;
    net.blocks[2].kernel_size = 4;
    let (value, _) = entry(
        net.validate().unwrap_err(),
        Document::NetworkDescription,
        "blocks[2].kernel_size",
        "network description: blocks[2].kernel_size: 4 must be odd",
    );
    assert_eq!(value.as_deref(), Some("4"));
}

#[test]
fn a_search_space_and_a_subnet_name_their_entries() {
    let mut space = SearchSpace::default();
    space.stage_strides[0] = 9;
    let (value, allowed) = entry(
        space.validate().unwrap_err(),
        Document::SearchSpace,
        "stage_strides[0]",
        "search space: stage_strides[0]: 9 is out of range; give 1 to 8",
    );
    assert_eq!(value.as_deref(), Some("9"));
    assert_eq!(allowed, Allowed::Ints { lo: 1, hi: 8 });

    let space = SearchSpace {
        width_mult: 0.0,
        ..SearchSpace::default()
    };
    let (_, allowed) = entry(
        space.validate().unwrap_err(),
        Document::SearchSpace,
        "width_mult",
        "search space: width_mult: 0 is out of range; give a number above 0 and at most 8",
    );
    assert_eq!(allowed, Allowed::Positive { hi: Some(8.0) });

    // A resolution the strides leave nothing of: no one number of the space at fault.
    let space = SearchSpace {
        resolutions: vec![8],
        ..SearchSpace::default()
    };
    let e = space.validate().unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(
            "search space: resolutions: resolution 8 does not work with this space's stage_strides [2, 2, 2, 1, 2]"
        ),
        "{text}"
    );
    let (value, _) = entry(e, Document::SearchSpace, "resolutions", &text);
    assert_eq!(value, None);

    // A subnet whose choice is not the space's, or whose resolution is out of range.
    let space = SearchSpace::default();
    let mut s = space.largest(64);
    s.kernel_size[1] = 4;
    let (value, _) = entry(
        space.check(&s).unwrap_err(),
        Document::Subnet,
        "kernel_size",
        "subnet: kernel_size: 4 not among [3, 5, 7]",
    );
    assert_eq!(value.as_deref(), Some("4"));
    let s = space.largest(0);
    entry(
        space.check(&s).unwrap_err(),
        Document::Subnet,
        "resolution",
        "subnet: resolution: 0 is out of range; give 1 to 2048",
    );

    // The same check of a resolution given as a setting names the setting (the CLI its flag).
    let e = space
        .check_resolution(0, &Place::Setting(Field::Resolution))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Setting { field: Field::Resolution, value: Some(v), .. } if v == "0"),
        "{e:?}"
    );
    assert_eq!(
        describe(&e),
        "--resolution: 0 is out of range; give 1 to 2048"
    );
}

#[test]
fn a_schedule_names_its_phase() {
    let space = SearchSpace::default();
    let mut s = Schedule::joint(2, 0.1, 2);
    s.phases.clear();
    let (value, allowed) = entry(
        s.validate(&space).unwrap_err(),
        Document::Schedule,
        "phases",
        "schedule: phases: none; give at least one",
    );
    assert_eq!(value, None);
    assert_eq!(words(&allowed), "none; give at least one");

    let mut s = Schedule::joint(2, 0.1, 2);
    s.phases[0].epochs = 0;
    entry(
        s.validate(&space).unwrap_err(),
        Document::Schedule,
        "phases[0] (joint)",
        "schedule: phases[0] (joint): epochs 0 must be 1 to 100000",
    );
}
