//! Versions: every write that changes an item keeps the item as it stands
//! after the write as a numbered version (`store::versions` stores them in
//! the write's own transaction), which can be listed newest first, read,
//! compared and reverted. History is never rewritten: a revert is a new
//! version.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::same_value;
use super::{ItemRecord, State};

/// Who made a write: the token's label and a short prefix of its hash
/// (never the token), with the request; `worker` for the background
/// worker's writes (reference cleanup, media).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Author {
    /// The token's label (`folio-admin token create --name`), if any.
    pub label: Option<String>,
    /// The first 8 hex digits of the token's SHA-256 (the token is never
    /// stored or shown); none for the worker.
    pub token: Option<String>,
    /// The request (`X-Request-Id`), or the event a worker job ran for.
    pub request_id: String,
}

impl Author {
    /// A request made with the token whose SHA-256 hex is `token_hash`.
    pub fn token(label: Option<&str>, token_hash: &str, request_id: &str) -> Author {
        Author {
            label: label.map(str::to_owned),
            token: Some(token_hash.chars().take(8).collect()),
            request_id: request_id.to_owned(),
        }
    }

    /// The background worker, running a job for `event_id`.
    pub fn worker(event_id: &str) -> Author {
        Author {
            label: Some("worker".into()),
            token: None,
            request_id: event_id.to_owned(),
        }
    }
}

/// What made a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    /// A replace or patch that leaves the item's state unpublished or
    /// with a draft, or changes a live item.
    Update,
    /// A write that made its newest content the live version.
    Publish,
    Unpublish,
    Delete,
    Restore,
    Revert,
    /// The worker removed references to a deleted item.
    Detach,
    /// The worker rewrote media fields to their library URLs.
    Media,
}

impl Action {
    /// The action of a replace or patch that took the item from `old` to
    /// `new`: a publish when it made the newest content live.
    pub fn of_write(old: State, new: State) -> Action {
        if new == State::Published && old != State::Published {
            Action::Publish
        } else {
            Action::Update
        }
    }
}

/// A version as kept: the item's state and newest content after a write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: u64,
    pub status: State,
    pub action: Action,
    /// When the write happened (the item's `updated_at` after it).
    pub created_at: String,
    pub by: Author,
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Its references, encoded as `ItemRecord::out_refs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_refs: Vec<String>,
}

impl Version {
    /// The version `item` (as a write leaves it) is, made by `by`.
    pub fn of(item: &ItemRecord, action: Action, by: &Author) -> Version {
        Version {
            version: item.version,
            status: item.status,
            action,
            created_at: item.updated_at.clone(),
            by: by.clone(),
            fields: item.fields.clone(),
            out_refs: item.out_refs.clone(),
        }
    }

    /// The version as an item read shows it (`content::render`): `item`
    /// (the item now) with this version's content, state and time.
    pub fn as_item(&self, item: &ItemRecord) -> ItemRecord {
        ItemRecord {
            status: self.status,
            version: self.version,
            updated_at: self.created_at.clone(),
            fields: self.fields.clone(),
            out_refs: self.out_refs.clone(),
            live: None,
            newest_version: None,
            deleted_at: None,
            expires_at: None,
            media_status: BTreeMap::new(),
            ..item.clone()
        }
    }
}

/// One stored value that differs between two versions: `from` is the
/// first version's (null: none), `to` the other's.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    /// The field's storage key (`name`, or `en.name` in a localized org).
    pub field: String,
    /// The value as stored (any JSON: a reference is its id).
    #[schema(value_type = Value)]
    pub from: Value,
    #[schema(value_type = Value)]
    pub to: Value,
}

/// The fields whose values differ from `from` to `to`, by storage key, in
/// key order; numbers compare by value.
pub fn compare(from: &BTreeMap<String, Value>, to: &BTreeMap<String, Value>) -> Vec<Difference> {
    let keys: BTreeSet<&String> = from.keys().chain(to.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (from.get(k), to.get(k));
            let same = match (a, b) {
                (Some(a), Some(b)) => same_value(a, b),
                (None, None) => true,
                _ => false,
            };
            (!same).then(|| Difference {
                field: k.clone(),
                from: a.cloned().unwrap_or(Value::Null),
                to: b.cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Status;
    use crate::ids::{CollectionKey, OrgId};
    use serde_json::json;

    fn fields(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_comparison_names_each_changed_added_and_removed_field() {
        let a = fields(json!({"name": "Ada", "age": 36, "role": "eng"}));
        let b = fields(json!({"name": "Ada", "age": 36.0, "bio": "x"}));
        let d = compare(&a, &b);
        assert_eq!(
            d,
            vec![
                Difference {
                    field: "bio".into(),
                    from: Value::Null,
                    to: json!("x")
                },
                Difference {
                    field: "role".into(),
                    from: json!("eng"),
                    to: Value::Null
                },
            ]
        );
        assert!(compare(&a, &a).is_empty());
    }

    #[test]
    fn a_version_keeps_the_newest_content_and_reads_as_an_item() {
        let org = OrgId::parse("acme").unwrap();
        let coll = CollectionKey::parse("team").unwrap();
        let live = ItemRecord::new(
            &org,
            &coll,
            Status::Published,
            "t1",
            fields(json!({"n": 1})),
        );
        let draft = live.written(Some(Status::Draft), fields(json!({"n": 2})), vec![], "t2");
        let by = Author::token(Some("ci"), "abcdef0123456789", "req-1");
        assert_eq!(
            by.token.as_deref(),
            Some("abcdef01"),
            "a prefix, never the token"
        );
        let v = Version::of(&draft, Action::of_write(live.status, draft.status), &by);
        assert_eq!(
            (v.version, v.action, v.status),
            (2, Action::Update, State::PublishedWithDraft)
        );
        assert_eq!(v.fields["n"], 2);
        let shown = v.as_item(&draft);
        assert_eq!((shown.version, shown.updated_at.as_str()), (2, "t2"));
        assert!(shown.live.is_none() && shown.id == draft.id);
        assert_eq!(
            Action::of_write(State::PublishedWithDraft, State::Published),
            Action::Publish
        );
        assert_eq!(
            Action::of_write(State::Published, State::Published),
            Action::Update
        );
        assert_eq!(
            serde_json::to_value(Action::Unpublish).unwrap(),
            "unpublish"
        );
    }
}
