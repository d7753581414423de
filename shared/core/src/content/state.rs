//! Published with draft: an item's state, and how a write moves it.
//!
//! An item holds at most two versions: its newest content (`fields`,
//! `version`, `updated_at`, `out_refs`), which preview reads show and every
//! write applies to, and, while that newest content is a draft over a
//! published version, the published one (`live`), which every read without
//! `preview` shows. Its `status` is the item's state, the same in both
//! views:
//!
//! | state                  | newest content | `live`          | published view  |
//! |------------------------|----------------|-----------------|-----------------|
//! | `draft`                | a draft        | none            | absent          |
//! | `published`            | published      | none            | the newest      |
//! | `published_with_draft` | a draft        | the live version| `live`          |
//!
//! A write says what it wants of the state (`Publish`): `draft` saves a
//! draft and leaves a published version live, `published` publishes the
//! newest content with the write's changes, and a write that says nothing
//! keeps the state (it changes the live version of a published item, the
//! draft of one that has a draft). Only an explicit unpublish takes an
//! item off the live site (`ItemRecord::unpublished`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ItemRecord, Status};

/// An item's state (`meta.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Never published, or unpublished: only preview reads show it.
    #[default]
    Draft,
    /// Live, with no newer draft.
    Published,
    /// Live, with a newer draft that preview reads show.
    PublishedWithDraft,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Published => "published",
            State::PublishedWithDraft => "published_with_draft",
        }
    }

    /// Whether reads without `preview` show the item.
    pub fn is_live(self) -> bool {
        self != State::Draft
    }
}

impl From<Status> for State {
    fn from(s: Status) -> State {
        match s {
            Status::Draft => State::Draft,
            Status::Published => State::Published,
        }
    }
}

/// The published version of an item that has a newer draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub version: u64,
    pub updated_at: String,
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Its references, encoded as `ItemRecord::out_refs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_refs: Vec<String>,
}

impl ItemRecord {
    /// The version a read without `preview` shows, if any.
    pub fn published_version(&self) -> Option<u64> {
        match (self.status, &self.live) {
            (State::PublishedWithDraft, Some(live)) => Some(live.version),
            // Shown in the published view (`in_view`): the version is the live one.
            (State::PublishedWithDraft, None) | (State::Published, _) => Some(self.version),
            (State::Draft, _) => None,
        }
    }

    /// The draft's version, if the newest content is a draft.
    pub fn draft_version(&self) -> Option<u64> {
        match self.status {
            State::Draft => Some(self.version),
            State::PublishedWithDraft => Some(self.newest_version.unwrap_or(self.version)),
            State::Published => None,
        }
    }

    /// The item as a read in this view shows it, or None when the view
    /// does not show it (a draft outside preview). Without `preview`, an
    /// item with a draft shows its live version: its fields, version,
    /// write time and references; the state stays the item's.
    pub fn in_view(mut self, preview: bool) -> Option<ItemRecord> {
        if preview {
            return Some(self);
        }
        match self.status {
            State::Draft => None,
            State::Published => Some(self),
            State::PublishedWithDraft => {
                let live = self.live.take()?;
                self.newest_version = Some(self.version);
                self.version = live.version;
                self.updated_at = live.updated_at;
                self.fields = live.fields;
                self.out_refs = live.out_refs;
                Some(self)
            }
        }
    }

    /// Every reference the item holds, in either version (the guard and
    /// the edges cover both).
    pub fn all_out_refs(&self) -> Vec<String> {
        let mut all = self.out_refs.clone();
        if let Some(live) = &self.live {
            all.extend(live.out_refs.iter().cloned());
        }
        all.sort();
        all.dedup();
        all
    }

    /// The item after a write at `now` that makes `fields` (with
    /// references `out_refs`) its newest content and asks `status` of its
    /// state (None: keep it). The version moves by one; whether the write
    /// changed anything is `changes(&old, &new)`.
    pub fn written(
        &self,
        status: Option<Status>,
        fields: BTreeMap<String, Value>,
        out_refs: Vec<String>,
        now: &str,
    ) -> ItemRecord {
        let mut next = self.clone();
        match (self.status, status) {
            (_, Some(Status::Published)) => {
                next.status = State::Published;
                next.live = None;
            }
            (State::Published, Some(Status::Draft)) => {
                next.status = State::PublishedWithDraft;
                next.live = Some(Live {
                    version: self.version,
                    updated_at: self.updated_at.clone(),
                    fields: self.fields.clone(),
                    out_refs: self.out_refs.clone(),
                });
            }
            // A draft stays a draft; a draft over a live version stays one;
            // no status keeps the state.
            _ => {}
        }
        next.fields = fields;
        next.out_refs = out_refs;
        next.version = self.version + 1;
        next.updated_at = now.to_owned();
        next
    }

    /// The item after an explicit unpublish at `now`: off the live site,
    /// its newest content kept as a draft. None: it is a draft already.
    pub fn unpublished(&self, now: &str) -> Option<ItemRecord> {
        if self.status == State::Draft {
            return None;
        }
        let mut next = self.clone();
        next.status = State::Draft;
        next.live = None;
        next.version = self.version + 1;
        next.updated_at = now.to_owned();
        Some(next)
    }

    /// Whether `new` differs from `self` in what a write keeps: the state,
    /// the newest content and the live version. (A write that changes
    /// nothing keeps the item's version.)
    pub fn changed_by(&self, new: &ItemRecord) -> bool {
        let live_changed = match (&self.live, &new.live) {
            (None, None) => false,
            (Some(a), Some(b)) => {
                a.version != b.version
                    || a.out_refs != b.out_refs
                    || !same_fields(&a.fields, &b.fields)
            }
            _ => true,
        };
        self.status != new.status
            || !same_fields(&self.fields, &new.fields)
            || live_changed
            || self.out_refs != new.out_refs
    }
}

/// Whether two sets of values are the same as DynamoDB stores them:
/// numbers compare by value (`36` and `36.0` are one number), so a write
/// of what is stored changes nothing.
fn same_fields(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
}

pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CollectionKey, OrgId};
    use serde_json::json;

    fn fields(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    fn published() -> ItemRecord {
        ItemRecord::new(
            &OrgId::parse("acme").unwrap(),
            &CollectionKey::parse("team").unwrap(),
            Status::Published,
            "t1",
            fields(json!({"name": "Ada"})),
        )
    }

    #[test]
    fn a_draft_saved_over_a_live_item_leaves_the_live_version_shown() {
        let live = published();
        let draft = live.written(
            Some(Status::Draft),
            fields(json!({"name": "Ada L."})),
            vec![],
            "t2",
        );
        assert_eq!(draft.status, State::PublishedWithDraft);
        assert_eq!(
            (draft.published_version(), draft.draft_version()),
            (Some(1), Some(2))
        );
        let public = draft.clone().in_view(false).unwrap();
        assert_eq!(public.fields, live.fields);
        assert_eq!((public.version, public.updated_at.as_str()), (1, "t1"));
        assert_eq!(
            (public.published_version(), public.draft_version()),
            (Some(1), Some(2)),
            "the published view still names the draft"
        );
        assert_eq!(
            draft.clone().in_view(true).unwrap().fields["name"],
            "Ada L."
        );

        // A second draft edit (status said or not) changes the draft only.
        let again = draft.written(None, fields(json!({"name": "Ada K."})), vec![], "t3");
        assert_eq!(again.status, State::PublishedWithDraft);
        assert_eq!(again.live, draft.live);
        assert_eq!(again.in_view(false).unwrap().fields, live.fields);

        // Publishing promotes the newest content with the write's changes.
        let out = draft.written(
            Some(Status::Published),
            fields(json!({"name": "Ada P."})),
            vec![],
            "t4",
        );
        assert_eq!((out.status, out.live.is_none()), (State::Published, true));
        assert_eq!(out.in_view(false).unwrap().fields["name"], "Ada P.");
    }

    #[test]
    fn without_a_status_a_write_keeps_the_state() {
        let live = published();
        let edited = live.written(None, fields(json!({"name": "B"})), vec![], "t2");
        assert_eq!(
            (edited.status, edited.live.is_none()),
            (State::Published, true)
        );
        let draft = ItemRecord {
            status: State::Draft,
            ..published()
        };
        let d = draft.written(None, fields(json!({"name": "C"})), vec![], "t2");
        assert_eq!(d.status, State::Draft);
        assert!(d.clone().in_view(false).is_none());
        assert_eq!(
            draft
                .written(Some(Status::Draft), d.fields.clone(), vec![], "t3")
                .status,
            State::Draft
        );
    }

    #[test]
    fn unpublishing_keeps_the_newest_content_as_a_draft() {
        let draft = published().written(
            Some(Status::Draft),
            fields(json!({"name": "Next"})),
            vec![],
            "t2",
        );
        let off = draft.unpublished("t3").unwrap();
        assert_eq!((off.status, off.version), (State::Draft, 3));
        assert_eq!(off.fields["name"], "Next");
        assert!(off.live.is_none() && off.clone().in_view(false).is_none());
        assert!(
            off.unpublished("t4").is_none(),
            "a draft is unpublished already"
        );
        assert!(off.changed_by(&draft));
    }

    #[test]
    fn references_of_both_versions_are_held() {
        let mut live = published();
        live.out_refs = vec!["people#A#boss#restrict".into()];
        let draft = live.written(
            Some(Status::Draft),
            live.fields.clone(),
            vec!["people#B#boss#restrict".into()],
            "t2",
        );
        assert_eq!(
            draft.all_out_refs(),
            vec!["people#A#boss#restrict", "people#B#boss#restrict"]
        );
        assert!(draft.changed_by(&live));
        let same = live.written(None, live.fields.clone(), live.out_refs.clone(), "t2");
        assert!(
            !live.changed_by(&same),
            "same content, same state: no change"
        );
    }

    #[test]
    fn states_serialize_as_the_api_names_them() {
        assert_eq!(
            serde_json::to_value(State::PublishedWithDraft).unwrap(),
            "published_with_draft"
        );
        assert!(State::PublishedWithDraft.is_live() && !State::Draft.is_live());
        assert_eq!(State::from(Status::Published), State::Published);
    }
}
