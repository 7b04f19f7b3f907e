//! The shape check: every key of every table of a scenario file is one the format knows, and every
//! trigger names a real event and its real fields. It runs on the spanned TOML document before
//! serde, so each problem carries its place in the file and, for a near miss, a suggestion.
//! The serde types are strict too (no `flatten`); this pass is what makes the errors precise.

use super::events::{self, FieldType, TRIGGER_KEYS};
use super::faults::{FAULT_KEYS, FAULT_KINDS, FRAME_FAULT_KEYS, OPTIONAL_KIND_KEYS};
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem: where (a byte offset), which field (`expect.seed.violated`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: usize,
    pub field: String,
    pub message: String,
}

pub const TOP_KEYS: &[&str] = &[
    "description",
    "seed",
    "time_limit_s",
    "liveness_s",
    "upload_ttl_s",
    "link",
    "users",
    "actions",
    "profile",
    "quirks",
    "window",
    "faults",
    "frame_faults",
    "expect",
    "chat_servers",
];
pub const LINK_KEYS: &[&str] = &["latency_ms", "bandwidth_kbps"];
pub const USER_KEYS: &[&str] = &["uid", "name", "token", "server"];
pub const LOGIN_KEYS: &[&str] = &["server"];
pub const ACTION_KEYS: &[&str] = &[
    "at_ms", "user", "text", "image", "images", "pause", "resume", "cancel", "logout", "login",
    "probe", "raw",
];
/// A probe's keys; its `body` is free-form (the request's JSON).
pub const PROBE_KEYS: &[&str] = &["server", "id", "body", "deadline_ms", "expect"];
pub const RAW_KEYS: &[&str] = &["server", "hex", "deadline_ms", "expect"];
pub const PROBE_EXPECT_KEYS: &[&str] = &["reply", "error", "closed"];
pub const TEXT_KEYS: &[&str] = &["to", "contents"];
pub const IMAGE_KEYS: &[&str] = &["to", "size", "name"];
pub const FILE_REF_KEYS: &[&str] = &["file"];
pub const EXPECT_KEYS: &[&str] = &["violated", "downloaded", "failed", "seed", "upstream"];
pub const EXPECTATION_KEYS: &[&str] = &["violated", "downloaded", "failed"];
/// The values of a frame fault's `action` and `direction` (`FrameAction`, `Direction`).
pub const FRAME_ACTIONS: &[&str] = &[
    "drop",
    "delay",
    "duplicate",
    "reorder",
    "corrupt",
    "rewrite",
    "slice",
];
pub const DIRECTIONS: &[&str] = &["up", "down"];

/// Every problem of shape in the document, first in the file first.
pub fn check(doc: &DeTable) -> Vec<Problem> {
    let mut walk = Walk::default();
    walk.keys(doc, "", TOP_KEYS);
    if let Some(link) = table(doc, "link") {
        walk.keys(link, "link", LINK_KEYS);
    }
    for (here, _, user) in tables(doc, "users", "users") {
        walk.keys(user, &here, USER_KEYS);
    }
    for (here, _, action) in tables(doc, "actions", "actions") {
        walk.action(action, &here);
    }
    for (here, at, fault) in tables(doc, "faults", "faults") {
        walk.fault(fault, &here, at);
    }
    for (here, _, fault) in tables(doc, "frame_faults", "frame_faults") {
        walk.keys(fault, &here, FRAME_FAULT_KEYS);
        walk.word(fault, &here, "action", FRAME_ACTIONS);
        walk.word(fault, &here, "direction", DIRECTIONS);
    }
    if let Some(expect) = table(doc, "expect") {
        walk.keys(expect, "expect", EXPECT_KEYS);
        for profile in ["seed", "upstream"] {
            if let Some(sub) = table(expect, profile) {
                walk.keys(sub, &format!("expect.{profile}"), EXPECTATION_KEYS);
            }
        }
    }
    walk.problems.sort_by_key(|p| p.at);
    walk.problems
}

#[derive(Default)]
struct Walk {
    problems: Vec<Problem>,
}

impl Walk {
    fn push(&mut self, at: usize, field: String, message: String) {
        self.problems.push(Problem { at, field, message });
    }

    /// Every key of `table` is in `allowed`.
    fn keys(&mut self, table: &DeTable, path: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let message = unknown(
                    "key",
                    key.get_ref(),
                    allowed.iter().copied(),
                    &known_keys(allowed),
                );
                self.push(key.span().start, join(path, key.get_ref()), message);
            }
        }
    }

    /// The string under `key`, if any, is one of `words` (a value that is not a string is
    /// serde's to report).
    fn word(&mut self, table: &DeTable, here: &str, key: &str, words: &[&str]) {
        let Some(value) = get(table, key) else { return };
        let Some(word) = value.get_ref().as_str().filter(|w| !words.contains(w)) else {
            return;
        };
        let otherwise = format!("{word:?} is none of {}", list(words.iter().copied()));
        let message = unknown(key, word, words.iter().copied(), &otherwise);
        self.push(value.span().start, join(here, key), message);
    }

    fn action(&mut self, action: &DeTable, here: &str) {
        self.keys(action, here, ACTION_KEYS);
        let inner: [(&str, &[&str]); 9] = [
            ("text", TEXT_KEYS),
            ("image", IMAGE_KEYS),
            ("pause", FILE_REF_KEYS),
            ("resume", FILE_REF_KEYS),
            ("cancel", FILE_REF_KEYS),
            ("logout", &[]),
            ("login", LOGIN_KEYS),
            ("probe", PROBE_KEYS),
            ("raw", RAW_KEYS),
        ];
        for (key, allowed) in inner {
            if let Some(t) = table(action, key) {
                self.keys(t, &join(here, key), allowed);
            }
        }
        for key in ["probe", "raw"] {
            if let Some(expect) = table(action, key).and_then(|t| table(t, "expect")) {
                let path = join(&join(here, key), "expect");
                self.keys(expect, &path, PROBE_EXPECT_KEYS);
            }
        }
        for (path, _, image) in tables(action, "images", &join(here, "images")) {
            self.keys(image, &path, IMAGE_KEYS);
        }
    }

    /// The common keys plus the keys of the fault's kind; a trigger under `after`.
    fn fault(&mut self, fault: &DeTable, here: &str, at: usize) {
        if let Some(after) = get(fault, "after") {
            if let Some(trigger) = after.get_ref().as_table() {
                self.trigger(trigger, &join(here, "after"), after.span().start);
            }
        }
        let Some(kind) = get(fault, "kind") else {
            let kinds = list(FAULT_KINDS.iter().map(|k| k.0));
            return self.push(at, here.to_owned(), format!("needs `kind`, one of {kinds}"));
        };
        // A kind that is not a string is serde's to report.
        let Some(name) = kind.get_ref().as_str() else {
            return;
        };
        let Some((_, own)) = FAULT_KINDS.iter().find(|(k, _)| *k == name) else {
            let kinds = FAULT_KINDS.iter().map(|k| k.0);
            let otherwise = format!("{name:?} is none of {}", list(kinds.clone()));
            let message = unknown("fault kind", name, kinds, &otherwise);
            return self.push(kind.span().start, join(here, "kind"), message);
        };
        let allowed: Vec<&str> = FAULT_KEYS.iter().chain(own.iter()).copied().collect();
        for (key, _) in fault.iter() {
            let key_name: &str = key.get_ref();
            if allowed.contains(&key_name) {
                continue;
            }
            let message = if FAULT_KINDS.iter().any(|(_, keys)| keys.contains(&key_name)) {
                format!(
                    "kind {name:?} takes no `{key_name}`; its own keys: {}",
                    list(own.iter().copied())
                )
            } else {
                unknown(
                    "key",
                    key_name,
                    allowed.iter().copied(),
                    &known_keys(&allowed),
                )
            };
            self.push(key.span().start, join(here, key_name), message);
        }
        // A misspelt key is reported as such, not also as the key it failed to be.
        if self
            .problems
            .iter()
            .any(|p| p.field.starts_with(&format!("{here}.")))
        {
            return;
        }
        let required = own.iter().filter(|k| !OPTIONAL_KIND_KEYS.contains(k));
        for key in required.filter(|k| get(fault, k).is_none()) {
            self.push(at, here.to_owned(), format!("kind {name:?} needs `{key}`"));
        }
    }

    /// A trigger's own keys: `host` a string, `nth` an integer from 1.
    fn trigger_keys(&mut self, trigger: &DeTable, here: &str) {
        if let Some(host) = get(trigger, "host").filter(|h| h.get_ref().as_str().is_none()) {
            let message = format!("must be a string, not {}", a(host.get_ref().type_str()));
            self.push(host.span().start, join(here, "host"), message);
        }
        if let Some(nth) = get(trigger, "nth") {
            let n = nth.get_ref().as_integer().map(|i| {
                let digits = i.as_str().replace('_', "");
                u32::from_str_radix(&digits, i.radix()).unwrap_or(0)
            });
            if n.is_none_or(|n| n == 0) {
                let message = "must be an integer from 1 (the n-th matching record)".to_owned();
                self.push(nth.span().start, join(here, "nth"), message);
            }
        }
    }

    /// `event` is a trace event tag; every other key but `host` and `nth` is a field of that
    /// event, with a value of the field's type.
    fn trigger(&mut self, trigger: &DeTable, here: &str, at: usize) {
        self.trigger_keys(trigger, here);
        let Some(event) = get(trigger, "event") else {
            let message = "a trigger needs `event`, an event tag of the trace".to_owned();
            return self.push(at, here.to_owned(), message);
        };
        let Some(tag) = event.get_ref().as_str() else {
            let message = format!("must be a string, not {}", a(event.get_ref().type_str()));
            return self.push(event.span().start, join(here, "event"), message);
        };
        let Some(fields) = events::fields(tag) else {
            let otherwise = format!("no event is tagged {tag:?}");
            let message = format!(
                "{} (the event tags are listed in scenarios/README.md)",
                unknown("event", tag, events::tags(), &otherwise)
            );
            return self.push(event.span().start, join(here, "event"), message);
        };
        for (key, value) in trigger.iter() {
            let key_name: &str = key.get_ref();
            if TRIGGER_KEYS.contains(&key_name) {
                continue;
            }
            let field = join(here, key_name);
            match fields.iter().find(|(f, _)| *f == key_name) {
                None => {
                    let names = fields.iter().map(|f| f.0);
                    let otherwise = format!("its fields are {}", list(names.clone()));
                    let what = format!("field of event {tag:?}");
                    let message = unknown(&what, key_name, names, &otherwise);
                    self.push(key.span().start, field, message);
                }
                Some((_, ty)) if !fits(value.get_ref(), *ty) => {
                    let message = format!(
                        "must be {} (the {key_name} of event {tag:?}), not {}",
                        ty.name(),
                        a(value.get_ref().type_str())
                    );
                    self.push(value.span().start, field, message);
                }
                Some(_) => {
                    if let Some(message) = outside_closed_set(tag, key_name, value.get_ref()) {
                        self.push(value.span().start, field, message);
                    }
                }
            }
        }
    }
}

/// A string the trace never writes in this field, when the field has a closed set of values.
fn outside_closed_set(tag: &str, field: &str, value: &DeValue) -> Option<String> {
    let word = value.as_str()?;
    let values = events::closed_values(tag, field)?;
    if values.contains(&word) {
        return None;
    }
    let never = format!("{word:?} is not a {field} the trace writes for event {tag:?}");
    Some(match suggest(word, values.iter().copied()) {
        Some(near) => format!("{never}; did you mean {near:?}?"),
        None => format!("{never}; it writes {}", list(values)),
    })
}

fn fits(value: &DeValue, ty: FieldType) -> bool {
    matches!(
        (value, ty),
        (DeValue::String(_), FieldType::Str)
            | (DeValue::Integer(_), FieldType::Num)
            | (DeValue::Boolean(_), FieldType::Bool)
            | (DeValue::Array(_), FieldType::List)
    )
}

/// `unknown key; did you mean "downloaded"?`, or `unknown key; <otherwise>` when nothing known
/// is near.
fn unknown<'a>(
    what: &str,
    word: &str,
    known: impl IntoIterator<Item = &'a str>,
    otherwise: &str,
) -> String {
    match suggest(word, known) {
        Some(near) => format!("unknown {what}; did you mean {near:?}?"),
        None => format!("unknown {what}; {otherwise}"),
    }
}

/// The tail of an unknown-key message that lists what the table takes.
fn known_keys(known: &[&str]) -> String {
    if known.is_empty() {
        "this table takes no keys".to_owned()
    } else {
        format!("known keys: {}", list(known.iter().copied()))
    }
}

/// The known word nearest to `word`, if it is near enough to be a slip of the fingers: close by
/// Jaro-Winkler, or one edit away (which Jaro-Winkler undervalues in short words like `sq`).
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        let score = strsim::jaro_winkler(word, candidate);
        let near =
            score >= 0.8 || (candidate.len() >= 3 && strsim::osa_distance(word, candidate) <= 1);
        if near && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, word)| word)
}

/// "an integer", "a string".
fn a(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

fn list<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words.into_iter().collect::<Vec<_>>().join(", ")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn get<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(_, v)| v)
}

/// The table under `key`; anything else (absent, or the wrong type, which serde reports).
fn table<'a, 'i>(parent: &'a DeTable<'i>, key: &str) -> Option<&'a DeTable<'i>> {
    get(parent, key).and_then(|v| v.get_ref().as_table())
}

/// The tables of the array under `key`, with their paths (`users[0]`) and places.
fn tables<'a, 'i>(
    parent: &'a DeTable<'i>,
    key: &str,
    path: &str,
) -> Vec<(String, usize, &'a DeTable<'i>)> {
    let Some(items) = get(parent, key).and_then(|v| v.get_ref().as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let table = item.get_ref().as_table()?;
            Some((format!("{path}[{i}]"), item.span().start, table))
        })
        .collect()
}

/// The path of the innermost value that holds byte `at` (`actions[2].image.size`), for errors
/// that carry only a place. Spans are compared, not nesting: the span of `[[faults]]` as a whole
/// does not cover the tables after its first header.
pub fn field_at(doc: &DeTable, at: usize) -> String {
    let mut all = Vec::new();
    every_value(doc, "", &mut all);
    all.into_iter()
        .filter(|(_, span)| holds(span.clone(), at))
        .min_by_key(|(_, span)| span.len())
        .map(|(path, _)| path)
        .unwrap_or_default()
}

/// Every value in the document with its path and span, arrays' items included.
fn every_value(table: &DeTable, path: &str, out: &mut Vec<(String, Range<usize>)>) {
    fn visit(value: &Spanned<DeValue>, path: String, out: &mut Vec<(String, Range<usize>)>) {
        match value.get_ref() {
            DeValue::Table(t) => every_value(t, &path, out),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    visit(item, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
        out.push((path, value.span()));
    }
    for (key, value) in table.iter() {
        visit(value, join(path, key.get_ref()), out);
    }
}

fn holds(span: Range<usize>, at: usize) -> bool {
    span.contains(&at) || span.start == at
}

/// Where the field with this path (`actions[0].image.name`) is, or its deepest present parent.
pub fn place_of(doc: &DeTable, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut found = None;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let Some((k, mut here)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
            break;
        };
        found = Some(k.span().start);
        if let Some(i) = index {
            let Some(item) = here.get_ref().as_array().and_then(|a| a.get(i)) else {
                break;
            };
            found = Some(item.span().start);
            here = item;
        }
        match here.get_ref().as_table() {
            Some(inner) => table = inner,
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::*;
    use serde::de::{self, Deserialize, Visitor};
    use std::collections::BTreeSet;

    /// A deserializer that only records the field names serde asks a struct for.
    struct Introspect(Option<&'static [&'static str]>);

    impl<'de> de::Deserializer<'de> for &mut Introspect {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(variants);
            Err(de::Error::custom("seen"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("seen"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map identifier
            ignored_any
        }
    }

    fn serde_keys<'de, T: Deserialize<'de>>() -> BTreeSet<&'static str> {
        let mut introspect = Introspect(None);
        let _ = T::deserialize(&mut introspect);
        introspect
            .0
            .expect("a struct or an enum")
            .iter()
            .copied()
            .collect()
    }

    fn set(keys: &[&'static str]) -> BTreeSet<&'static str> {
        keys.iter().copied().collect()
    }

    #[test]
    fn the_key_lists_match_the_serde_types() {
        assert_eq!(serde_keys::<Scenario>(), set(TOP_KEYS));
        assert_eq!(serde_keys::<Link>(), set(LINK_KEYS));
        assert_eq!(serde_keys::<UserSpec>(), set(USER_KEYS));
        assert_eq!(serde_keys::<Action>(), set(ACTION_KEYS));
        assert_eq!(serde_keys::<TextAction>(), set(TEXT_KEYS));
        assert_eq!(serde_keys::<ImageAction>(), set(IMAGE_KEYS));
        assert_eq!(serde_keys::<FileRef>(), set(FILE_REF_KEYS));
        assert_eq!(serde_keys::<ProbeAction>(), set(PROBE_KEYS));
        assert_eq!(serde_keys::<RawAction>(), set(RAW_KEYS));
        assert_eq!(serde_keys::<ProbeExpect>(), set(PROBE_EXPECT_KEYS));
        assert_eq!(serde_keys::<Empty>(), set(&[]));
        assert_eq!(serde_keys::<Expect>(), set(EXPECT_KEYS));
        assert_eq!(serde_keys::<Expectation>(), set(EXPECTATION_KEYS));
        assert_eq!(serde_keys::<FrameFault>(), set(FRAME_FAULT_KEYS));
        let fault: BTreeSet<&str> = FAULT_KEYS
            .iter()
            .chain(FAULT_KINDS.iter().flat_map(|(_, keys)| keys.iter()))
            .copied()
            .collect();
        assert_eq!(serde_keys::<FaultSpec>(), fault);
        assert_eq!(serde_keys::<FrameAction>(), set(FRAME_ACTIONS));
        assert_eq!(serde_keys::<Direction>(), set(DIRECTIONS));
    }

    /// Every kind in `FAULT_KINDS` reads with exactly its listed keys, into the variant it names.
    #[test]
    fn every_fault_kind_reads_with_its_keys() {
        for (kind, keys) in FAULT_KINDS {
            let mut text = format!("kind = {kind:?}\nat_ms = 1\n");
            for key in *keys {
                let value = match *key {
                    "oneway" => "true",
                    "after_ms" | "count" | "nth" | "kbps" => "2",
                    "op" => "\"change_status\"",
                    _ => "\"chat\"",
                };
                text.push_str(&format!("{key} = {value}\n"));
            }
            let spec: FaultSpec = toml::from_str(&text).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(spec.kind.name(), *kind);
            // Without any one key, it reads only if that key has a default.
            for key in *keys {
                let without: String = text
                    .lines()
                    .filter(|line| !line.starts_with(&format!("{key} =")))
                    .map(|line| format!("{line}\n"))
                    .collect();
                let read = toml::from_str::<FaultSpec>(&without);
                assert_eq!(
                    read.is_ok(),
                    OPTIONAL_KIND_KEYS.contains(key),
                    "{kind} without {key}"
                );
            }
        }
    }

    #[test]
    fn suggestions_take_near_misses_only() {
        assert_eq!(
            suggest("downlaoded", EXPECT_KEYS.iter().copied()),
            Some("downloaded")
        );
        assert_eq!(suggest("sq", ["file", "seq"]), Some("seq"));
        assert_eq!(suggest("colour", EXPECT_KEYS.iter().copied()), None);
    }

    #[test]
    fn places_resolve_to_the_deepest_present_key() {
        let text = "[[users]]\nuid = 1\n[[users]]\nuid = 2\nname = \"b\"\n";
        let doc = DeTable::parse(text).unwrap();
        let doc = doc.get_ref();
        let line = |at: usize| text[..at].matches('\n').count() + 1;
        assert_eq!(place_of(doc, "users[1].name").map(line), Some(5));
        assert_eq!(place_of(doc, "users[1].token").map(line), Some(3));
        assert_eq!(place_of(doc, "actions[0]"), None);
        assert_eq!(field_at(doc, text.find("\"b\"").unwrap()), "users[1].name");
    }
}
