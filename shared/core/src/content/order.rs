//! Value order, written once: how a field's stored values compare and
//! match a filter, both for the index (`encode`, `filter`: byte order of
//! an entry's sort key) and for lists sorted and filtered in memory
//! (`compare`, `matches`). The two agree, value for value (the property
//! tests below): an order or a filter answers the same whichever path
//! serves it.
//!
//! Encoding, so that byte order is the order `order=` promises (numbers
//! by value, text by its UTF-8 bytes, missing last) and no value holds the
//! `#` that ends it: a type tag, then numbers as the 16 hex digits of an
//! order-preserving transform of the f64, text as the hex of its UTF-8
//! (first `MAX_VALUE_BYTES` bytes; longer values are marked `+` and sort
//! among themselves by id), booleans `0`/`1`.

use std::cmp::Ordering;

use serde_json::Value;

use crate::schema::FieldType;

/// Bytes of a text value that its entry orders by; a filter on a longer
/// value is served from memory.
pub const MAX_VALUE_BYTES: usize = 256;

/// How an indexed field's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Boolean,
}

pub fn kind_of(kind: &FieldType) -> Kind {
    match kind {
        FieldType::Number => Kind::Number,
        FieldType::Boolean => Kind::Boolean,
        _ => Kind::Text,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// An f64 as 16 hex digits whose byte order is the numbers' order.
fn number_key(f: f64) -> String {
    let f = if f == 0.0 { 0.0 } else { f }; // -0 equals 0
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    format!("{ordered:016x}")
}

fn text_key(s: &str) -> String {
    if s.len() <= MAX_VALUE_BYTES {
        format!("s{}", hex(s.as_bytes()))
    } else {
        format!("s{}+", hex(&s.as_bytes()[..MAX_VALUE_BYTES]))
    }
}

/// The encoded value an entry's sort key starts with (see the module).
pub fn encode(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "z".into(),
        Some(Value::Number(n)) => format!("n{}", number_key(n.as_f64().unwrap_or(0.0))),
        Some(Value::String(s)) => text_key(s),
        Some(Value::Bool(b)) => format!("b{}", u8::from(*b)),
        // Not an indexable value (left by a type change): after the others.
        Some(other) => format!("x{}", &text_key(&other.to_string())[1..]),
    }
}

/// A prefix no entry's sort key has: what a filter that nothing can equal
/// reads (an empty range).
pub const NOTHING: &str = "-#";

/// What an equality filter on an indexed field reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The entries whose sort key starts with this.
    Prefix(String),
    /// No value of this field can equal it (a number field and `abc`).
    Nothing,
    /// The index cannot answer it exactly (text past `MAX_VALUE_BYTES`).
    Unserved,
}

/// The entries `fields.<field>=<want>` reads: the values that equal
/// `want` as the field's type reads it (as the in-memory filter does).
pub fn filter(kind: Kind, want: &str) -> Filter {
    match kind {
        Kind::Number => match want.parse::<f64>() {
            Ok(f) if f.is_finite() => Filter::Prefix(format!("n{}#", number_key(f))),
            _ => Filter::Nothing,
        },
        Kind::Boolean => match want {
            "true" => Filter::Prefix("b1#".into()),
            "false" => Filter::Prefix("b0#".into()),
            _ => Filter::Nothing,
        },
        Kind::Text if want.len() > MAX_VALUE_BYTES => Filter::Unserved,
        Kind::Text => Filter::Prefix(format!("{}#", text_key(want))),
    }
}

/// A filter value matches a stored value when they are equal as the
/// stored type reads it; a list matches when any element does.
pub fn matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => want
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        Value::Bool(b) => want == if *b { "true" } else { "false" },
        Value::Array(a) => a.iter().any(|v| matches(v, want)),
        _ => false,
    }
}

/// Orders values of one field: numbers numerically, strings by text,
/// missing values last; values of different types (left by a type change)
/// by type, booleans, numbers, text, others, as an index orders them
/// (`encode`).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Bool(_) => 0,
            Value::Number(_) => 1,
            Value::String(_) => 2,
            Value::Array(_) | Value::Object(_) => 3,
            Value::Null => 4,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Values of every shape a stored field holds, a type change's
    /// leftovers (lists, objects) and missing values included.
    fn value() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-1_000i64..1_000).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::from),
            // Few distinct texts, so that equal values and shared prefixes come up.
            "[ab]{0,3}".prop_map(Value::from),
        ];
        prop_oneof![
            8 => scalar,
            1 => prop::collection::vec("[ab]{0,2}", 0..3).prop_map(|v| json!(v)),
            1 => "[ab]{0,2}".prop_map(|s| json!({ "k": s })),
        ]
    }

    /// A filter value a client may send for `v`'s field.
    fn wanted() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ab]{0,3}",
            (-1_000i64..1_000).prop_map(|n| n.to_string()),
            (-1_000i64..1_000).prop_map(|n| format!("{n}.0")),
            Just("true".to_owned()),
            Just("false".to_owned()),
            "\\PC{0,6}",
        ]
    }

    /// The kind whose field would hold `v`.
    fn kind_holding(v: &Value) -> Kind {
        match v {
            Value::Number(_) => Kind::Number,
            Value::Bool(_) => Kind::Boolean,
            _ => Kind::Text,
        }
    }

    proptest! {
        /// The index's order (an entry's sort key: the encoded value, `#`,
        /// the id) and the in-memory order rank any two values alike.
        #[test]
        fn the_index_and_memory_order_any_two_values_alike(a in value(), b in value()) {
            let ka = format!("{}#01JF0000000000000000000000", encode(Some(&a)));
            let kb = format!("{}#01JF0000000000000000000001", encode(Some(&b)));
            match compare(&a, &b) {
                Ordering::Equal => prop_assert_eq!(encode(Some(&a)), encode(Some(&b))),
                by_memory => prop_assert_eq!(ka.cmp(&kb), by_memory),
            }
        }

        /// An equality filter reads, from the index, exactly the values it
        /// matches in memory (for the values an index holds: not lists).
        #[test]
        fn the_index_and_memory_match_a_filter_alike(v in value(), want in wanted()) {
            prop_assume!(!matches!(v, Value::Array(_)));
            let key = format!("{}#01JF0000000000000000000000", encode(Some(&v)));
            let by_index = match filter(kind_holding(&v), &want) {
                Filter::Prefix(prefix) => key.starts_with(&prefix),
                Filter::Nothing => false,
                Filter::Unserved => unreachable!("short filters are served"),
            };
            prop_assert_eq!(by_index, matches(&v, &want), "{} = {}", v, want);
        }

        #[test]
        fn encoded_numbers_sort_as_numbers(a in any::<f64>().prop_filter("finite", |f| f.is_finite()),
                                           b in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let (va, vb) = (json!(a), json!(b));
            prop_assert_eq!(encode(Some(&va)).cmp(&encode(Some(&vb))), compare(&va, &vb));
        }
    }

    #[test]
    fn missing_values_sort_last_and_filters_read_values_by_type() {
        for v in [json!(-1e300), json!(0), json!("zzz"), json!(true)] {
            assert!(encode(Some(&v)) < encode(None));
        }
        assert_eq!(encode(Some(&json!(-0.0))), encode(Some(&json!(0))));
        let Filter::Prefix(p) = filter(Kind::Number, "36.0") else {
            panic!()
        };
        assert!(format!("{}#x", encode(Some(&json!(36)))).starts_with(&p));
        assert_eq!(filter(Kind::Number, "thirty"), Filter::Nothing);
        assert_eq!(filter(Kind::Boolean, "yes"), Filter::Nothing);
        assert_eq!(filter(Kind::Boolean, "true"), Filter::Prefix("b1#".into()));
        assert_eq!(
            filter(Kind::Text, &"x".repeat(MAX_VALUE_BYTES + 1)),
            Filter::Unserved
        );
        // A long value sorts after its own first MAX_VALUE_BYTES bytes.
        let long = "a".repeat(MAX_VALUE_BYTES + 10);
        let short = "a".repeat(MAX_VALUE_BYTES);
        assert!(
            format!("{}#1", encode(Some(&json!(short))))
                < format!("{}#0", encode(Some(&json!(long))))
        );
    }

    #[test]
    fn filters_read_values_by_their_type() {
        assert!(matches(&json!("engineer"), "engineer"));
        assert!(matches(&json!(36), "36"));
        assert!(matches(&json!(36.5), "36.5"));
        assert!(matches(&json!(true), "true"));
        assert!(matches(&json!(["a", "b"]), "b"));
        assert!(!matches(&json!(36), "thirty"));
    }

    #[test]
    fn ordering_puts_missing_values_last_and_mixed_types_by_type() {
        let values = [
            json!(null),
            json!("36"),
            json!(5),
            json!(true),
            json!(["a"]),
            json!(-1),
        ];
        let mut by_compare = values.to_vec();
        by_compare.sort_by(compare);
        assert_eq!(
            by_compare,
            [
                json!(true),
                json!(-1),
                json!(5),
                json!("36"),
                json!(["a"]),
                json!(null)
            ]
        );
        let mut by_index = values.to_vec();
        by_index.sort_by_key(|v| encode(Some(v)));
        assert_eq!(by_compare, by_index);
    }
}
