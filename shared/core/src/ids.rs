//! Identifier newtypes. Each constructor is the only way in, so code past the
//! HTTP edge never re-checks a key, id or version.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused; the message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadId(pub String);

fn is_key(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= max
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, BadId> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(BadId(format!(concat!("\"{}\" is not a valid ", $what, "."), s.chars().take(80).collect::<String>())))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// An organization slug: `[a-z0-9][a-z0-9-]{0,62}`.
    OrgId,
    |s| {
        matches!(s.chars().next(), Some('a'..='z' | '0'..='9'))
            && s.len() <= 63
            && s.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
    },
    "organization id"
);

string_id!(
    /// A collection key such as `team_members`: `[a-z][a-z0-9_]{0,63}`.
    CollectionKey,
    |s| is_key(s, 64),
    "collection key"
);

string_id!(
    /// A webhook endpoint's id, chosen by its owner: `[a-z0-9][a-z0-9_-]{0,63}`.
    WebhookId,
    |s| {
        matches!(s.chars().next(), Some('a'..='z' | '0'..='9'))
            && s.len() <= 64
            && s.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
    },
    "webhook id"
);

string_id!(
    /// A field key inside a collection: `[a-z][a-z0-9_]{0,63}`.
    FieldKey,
    |s| is_key(s, 64),
    "field key"
);

string_id!(
    /// A locale code such as `en` or `pt-br`.
    Locale,
    |s| {
        (2..=16).contains(&s.len())
            && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    },
    "locale"
);

/// An item id: a ULID in its canonical 26-character upper-case form, so ids
/// sort by creation time and the live index can page in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(ulid::Ulid);

impl ItemId {
    pub fn new() -> Self {
        Self(ulid::Ulid::new())
    }

    pub fn parse(s: &str) -> Result<Self, BadId> {
        if s.len() == 26 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            if let Ok(id) = ulid::Ulid::from_string(s) {
                // Only the canonical spelling is accepted: one item, one id.
                if id.to_string() == s {
                    return Ok(Self(id));
                }
            }
        }
        Err(BadId(format!(
            "\"{}\" is not a valid item id.",
            s.chars().take(80).collect::<String>()
        )))
    }
}

impl Default for ItemId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ItemId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ItemId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An item's version: 1 on create, +1 on every accepted write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// Parses an `If-Match` value: `"3"`, `W/"3"` or a bare `3`, or the
    /// `"3-<digest>"` an item's read tags (`http::with_read_etag`).
    pub fn from_if_match(value: &str) -> Option<Self> {
        let v = value.trim();
        let v = v.strip_prefix("W/").unwrap_or(v);
        let v = v.trim_matches('"');
        let v = v.split_once('-').map_or(v, |(version, _)| version);
        v.parse().ok().map(Version)
    }

    /// A version number as a path or cursor names it: a positive whole
    /// number in its one spelling (no sign, no leading zero).
    pub fn parse_number(s: &str) -> Option<u64> {
        let canonical =
            !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
        canonical.then(|| s.parse().ok()).flatten()
    }

    /// The tag of a write's response: the version it left.
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_keys_are_lower_snake_case() {
        assert!(CollectionKey::parse("team_members").is_ok());
        assert!(CollectionKey::parse("Team").is_err());
        assert!(CollectionKey::parse("1team").is_err());
        assert!(CollectionKey::parse("").is_err());
        assert!(CollectionKey::parse("a-b").is_err());
        assert!(CollectionKey::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn item_ids_must_be_canonical_ulids() {
        let id = ItemId::new();
        assert_eq!(ItemId::parse(&id.to_string()), Ok(id));
        assert!(ItemId::parse(&id.to_string().to_lowercase()).is_err());
        assert!(ItemId::parse("../../etc/passwd").is_err());
        assert!(ItemId::parse("").is_err());
        assert!(ItemId::parse("ZZZZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
    }

    #[test]
    fn if_match_accepts_quoted_weak_and_bare_versions() {
        assert_eq!(Version::from_if_match("\"3\""), Some(Version(3)));
        assert_eq!(Version::from_if_match("W/\"4\""), Some(Version(4)));
        assert_eq!(Version::from_if_match("5"), Some(Version(5)));
        assert_eq!(Version::from_if_match("\"x\""), None);
        assert_eq!(
            Version::from_if_match("\"6-0a1b2c3d4e5f60718293\""),
            Some(Version(6))
        );
        assert_eq!(Version::from_if_match("\"-1\""), None);
    }
}
