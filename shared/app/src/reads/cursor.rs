//! `next_cursor` / `cursor`: an opaque position in a listing served by
//! DynamoDB. It holds the listing's order and the sort key of the last entry
//! shown, so the next page starts right after it whatever was written
//! meanwhile: items changed between pages move to where they now sort, none
//! is shown twice in a walk unless it was written again after being shown.
//! An item's versions list has a cursor of its own (`versions_cursor`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::Error;
use crate::ids::ItemId;
use crate::store::pages::Sorted;

/// Longest `cursor` accepted (the longest one issued, an indexed text
/// value of `order::MAX_VALUE_BYTES`, is under 800).
const MAX_CURSOR: usize = 1_000;
/// Width of a stored timestamp (`api::format_time`).
const TIME_WIDTH: usize = "2026-11-29T08:53:10.123456Z".len();

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sorted: Sorted,
    pub descending: bool,
    /// The sort key of the last entry shown.
    pub after: String,
}

fn code(sorted: &Sorted, descending: bool) -> String {
    let order = match sorted {
        Sorted::Created => "c".to_owned(),
        Sorted::Updated => "u".to_owned(),
        Sorted::Field(f) => format!("f.{f}"),
    };
    if descending {
        format!("-{order}")
    } else {
        order
    }
}

fn bad(msg: &str) -> Error {
    Error::field("cursor", msg)
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = format!("1:{}:{}", code(&self.sorted, self.descending), self.after);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The cursor a client sent, for a listing in `sorted`/`descending`.
    pub fn decode(s: &str, sorted: Sorted, descending: bool) -> Result<Cursor, Error> {
        let unreadable = || bad("Not a cursor this API issued; use meta.next_cursor as it is.");
        if s.len() > MAX_CURSOR {
            return Err(unreadable());
        }
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| unreadable())?;
        let raw = String::from_utf8(raw).map_err(|_| unreadable())?;
        let mut parts = raw.splitn(3, ':');
        let (Some("1"), Some(order), Some(after)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(unreadable());
        };
        if order != code(&sorted, descending) {
            return Err(bad(
                "This cursor belongs to a listing in another order; send the same order with it.",
            ));
        }
        let well_formed = match &sorted {
            Sorted::Created => ItemId::parse(after).is_ok(),
            Sorted::Updated => after.split_once('#').is_some_and(|(t, id)| {
                t.len() == TIME_WIDTH
                    && crate::clock::parse_time(t).as_deref() == Some(t)
                    && ItemId::parse(id).is_ok()
            }),
            // An encoded value (`content::order::encode`), then the id.
            Sorted::Field(_) => after.rsplit_once('#').is_some_and(|(v, id)| {
                v.starts_with(['n', 's', 'b', 'z', 'x'])
                    && v[1..]
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '+')
                    && ItemId::parse(id).is_ok()
            }),
        };
        if !well_formed {
            return Err(unreadable());
        }
        Ok(Cursor {
            sorted,
            descending,
            after: after.to_owned(),
        })
    }
}

/// An item's versions list (`GET …/versions/`) continues below the last
/// version it showed: its cursor holds that number.
pub fn versions_cursor(last_shown: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{last_shown}"))
}

/// The version a versions cursor continues below.
pub fn versions_before(s: &str) -> Result<u64, Error> {
    let unreadable = || bad("Not a cursor this API issued; use meta.next_cursor as it is.");
    if s.len() > MAX_CURSOR {
        return Err(unreadable());
    }
    let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| unreadable())?;
    let raw = String::from_utf8(raw).map_err(|_| unreadable())?;
    raw.strip_prefix("v1:")
        .and_then(crate::ids::Version::parse_number)
        .ok_or_else(unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versions_cursor_reads_back_and_a_forged_one_is_refused() {
        assert_eq!(versions_before(&versions_cursor(7)).unwrap(), 7);
        for raw in [
            "v1:0",
            "v1:07",
            "v1:+7",
            "v1:-7",
            "v1:",
            "v2:7",
            "7",
            "v1:99999999999999999999",
        ] {
            assert!(
                versions_before(&URL_SAFE_NO_PAD.encode(raw)).is_err(),
                "{raw}"
            );
        }
        assert!(versions_before("not base64!").is_err());
        assert!(versions_before(&"A".repeat(1_100)).is_err());
    }

    const ID: &str = "01JF0000000000000000000000";

    #[test]
    fn a_cursor_reads_back_only_in_its_own_order() {
        let c = Cursor {
            sorted: Sorted::Updated,
            descending: true,
            after: format!("2026-11-29T08:53:10.123456Z#{ID}"),
        };
        let s = c.encode();
        assert!(s.len() < 100 && !s.contains(['+', '/', '=']));
        assert_eq!(Cursor::decode(&s, Sorted::Updated, true).unwrap(), c);
        assert!(Cursor::decode(&s, Sorted::Updated, false).is_err());
        assert!(Cursor::decode(&s, Sorted::Created, true).is_err());
        let created = Cursor {
            sorted: Sorted::Created,
            descending: false,
            after: ID.into(),
        };
        assert_eq!(
            Cursor::decode(&created.encode(), Sorted::Created, false).unwrap(),
            created
        );
        let age = Sorted::Field(crate::ids::FieldKey::parse("age").unwrap());
        let by_age = Cursor {
            sorted: age.clone(),
            descending: true,
            after: format!("n{}#{ID}", "c0".repeat(8)),
        };
        assert_eq!(
            Cursor::decode(&by_age.encode(), age.clone(), true).unwrap(),
            by_age
        );
        let name = Sorted::Field(crate::ids::FieldKey::parse("name").unwrap());
        assert!(Cursor::decode(&by_age.encode(), name, true).is_err());
        assert!(Cursor::decode(&by_age.encode(), age, false).is_err());
    }

    #[test]
    fn forged_cursors_are_refused() {
        let forge = |raw: &str| URL_SAFE_NO_PAD.encode(raw);
        for s in [
            "".to_owned(),
            "not base64!".to_owned(),
            "x".repeat(1_100),
            forge("1:c:not-an-id"),
            forge("2:c:01JF0000000000000000000000"),
            forge("1:u:01JF0000000000000000000000"),
            forge("1:u:2026-13-29T08:53:10.123456Z#01JF0000000000000000000000"),
            forge("1:u:2026-11-29T08:53:10Z#01JF0000000000000000000000"),
            forge("1:f.age:q12#01JF0000000000000000000000"),
            forge("1:f.age:n12#not-an-id"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        ] {
            let age = Sorted::Field(crate::ids::FieldKey::parse("age").unwrap());
            for sorted in [Sorted::Created, Sorted::Updated, age] {
                assert!(Cursor::decode(&s, sorted, false).is_err(), "{s}");
            }
        }
    }
}
