//! Reading back results whose names are `&'static str` (classes, pollutants, categories,
//! standards): each distinct name is kept once for the life of the process. Only names of the
//! standards' tables occur, a few dozen; more than [`MAX_NAMES`] distinct ones is an error,
//! so a damaged file cannot grow memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde::{Deserialize, Deserializer};

/// A name of the standards' tables. (An alias: serde's derive would take a literal
/// `&'static str` field as borrowed from the input.)
pub type Name = &'static str;

/// Distinct names kept at most.
pub const MAX_NAMES: usize = 1_024;

static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// The kept copy of `s`; `None` once [`MAX_NAMES`] are kept and `s` is not one of them.
pub fn intern(s: &str) -> Option<&'static str> {
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(s) {
        return Some(n);
    }
    if names.len() >= MAX_NAMES || s.len() > 64 {
        return None;
    }
    let n: &'static str = Box::leak(s.to_string().into_boxed_str());
    names.insert(n);
    Some(n)
}

fn name<E: serde::de::Error>(s: &str) -> Result<&'static str, E> {
    intern(s).ok_or_else(|| E::custom(format!("unexpected name {s:?}")))
}

/// `deserialize_with` for a `&'static str` field.
pub fn one<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    name(&String::deserialize(d)?)
}

/// `deserialize_with` for an `Option<&'static str>` field.
pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| name(&s))
        .transpose()
}

/// `deserialize_with` for a `Vec<&'static str>` field.
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| name(s))
        .collect()
}

/// `deserialize_with` for a `BTreeMap<&'static str, V>` field.
pub fn map<'de, D, V>(d: D) -> Result<BTreeMap<&'static str, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    BTreeMap::<String, V>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| Ok((name::<D::Error>(&k)?, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_kept_once_and_long_ones_are_refused() {
        let a = intern(&String::from("pm2_5")).unwrap();
        let b = intern("pm2_5").unwrap();
        assert!(std::ptr::eq(a, b));
        assert!(intern(&"x".repeat(65)).is_none());
    }
}
