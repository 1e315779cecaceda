//! The mutation engine: every path of a JSON value, extreme replacements, deletions, unknown
//! fields, emptied or huge lists, and text-level damage; a refusal must name what was mutated.

use super::{CaseResult, Outcome};
use rand::seq::IndexedRandom;
use rand::{Rng, rngs::StdRng};
use serde_json::{Value, json};

// ---- mutations ----

pub fn extreme(rng: &mut StdRng) -> Value {
    let pool = [
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(3),
        json!(4),
        json!(7),
        json!(1000),
        json!(65_535),
        json!(100_000),
        json!(1u64 << 31),
        json!(1u64 << 53),
        json!(u64::MAX),
        json!(1e300),
        json!(-1e300),
        json!(0.5),
        json!(1e-300),
        json!(-0.0),
        json!("x"),
        json!(""),
        Value::Null,
        json!(true),
        json!([]),
        json!({}),
        json!([0]),
        json!([1_000_000_000]),
    ];
    pool.choose(rng).unwrap().clone()
}

/// Every path in `v` (object keys and array indices).
pub fn paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                here.push(Seg::Key(k.clone()));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Seg::Index(i));
                out.push(here.clone());
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn at<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Seg::Key(k) => &mut v[k.as_str()],
        Seg::Index(i) => &mut v[*i],
    })
}

/// The field a path names: its last key (an index names the list it is in).
pub fn field_of(path: &[Seg]) -> String {
    path.iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(k) => Some(k.clone()),
            Seg::Index(_) => None,
        })
        .unwrap_or_default()
}

/// One to three mutations of `base`; returns the text and the fields mutated (none for
/// text-level damage, where the error must give a position instead).
pub fn mutate(base: &Value, rng: &mut StdRng) -> (String, Vec<String>) {
    let mut v = base.clone();
    let mut field = Vec::new();
    if rng.random_bool(0.08) {
        // Untouched: the valid base itself must be accepted.
        return (v.to_string(), field);
    }
    for _ in 0..rng.random_range(1..=3) {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let Some(path) = all.choose(rng).cloned() else {
            break;
        };
        field.push(field_of(&path));
        let (parent, last) = path.split_at(path.len() - 1);
        match rng.random_range(0..10) {
            0 => {
                // Delete the field (or the list element).
                match (&last[0], at(&mut v, parent)) {
                    (Seg::Key(k), Value::Object(m)) => {
                        m.remove(k);
                    }
                    (Seg::Index(i), Value::Array(a)) => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
            1 => {
                // An unknown field beside it.
                if let Value::Object(m) = at(&mut v, parent) {
                    m.insert("zz_unknown".into(), json!(1));
                    field.push("zz_unknown".into());
                }
            }
            2 => {
                // A list emptied or made huge.
                let target = at(&mut v, &path);
                if let Value::Array(a) = target {
                    if rng.random_bool(0.5) || a.is_empty() {
                        a.clear();
                    } else {
                        let x = a[0].clone();
                        a.extend(std::iter::repeat_n(x, 5000));
                    }
                } else {
                    *target = extreme(rng);
                }
            }
            3 => {
                // A number moved a little: off by one, doubled, halved.
                let target = at(&mut v, &path);
                if let Some(x) = target.as_u64() {
                    *target =
                        json!([x.saturating_sub(1), x + 1, x * 2, x / 2][rng.random_range(0..4)]);
                } else {
                    *target = extreme(rng);
                }
            }
            _ => *at(&mut v, &path) = extreme(rng),
        }
    }
    let mut text = v.to_string();
    if rng.random_bool(0.1) {
        // Text-level damage: a truncated file or a non-finite literal JSON cannot hold.
        if rng.random_bool(0.5) && !text.is_empty() {
            let cut = rng.random_range(0..text.len());
            text.truncate(cut);
        } else if let Some(pos) = text.find(|c: char| c.is_ascii_digit()) {
            let lit = [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e999",
                "18446744073709551616",
            ]
            .choose(rng)
            .unwrap();
            text.replace_range(pos..pos + 1, lit);
        }
        field.clear();
    }
    (text, field)
}

/// A refusal passes when its message names a mutated field, or a field the mutation breaks
/// (`extra`), or for text-level damage a position.
pub fn refused(err: &tinynas::Error, field: &[String], extra: &[&str]) -> CaseResult {
    let msg = err.to_string();
    let named = if field.is_empty() {
        msg.contains("line ") || msg.contains("EOF") || extra.iter().any(|f| msg.contains(f))
    } else {
        field.iter().any(|f| msg.contains(f.as_str())) || extra.iter().any(|f| msg.contains(f))
    };
    if named {
        Ok(Outcome::Refused)
    } else {
        Err(format!("refused without naming {field:?}: {msg}"))
    }
}
