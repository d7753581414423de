//! A listing's plan: whether DynamoDB serves it (an index in its order,
//! with or without one equality filter) or it is filtered and ordered in
//! memory, and the 400 of a list too large for memory.

use crate::content::order::{self, Filter};
use crate::error::Error;
use crate::ids::Locale;
use crate::schema::{Collection, Org};
use crate::store::pages::Sorted;

/// What a listing asks for, parsed (by the HTTP edge) and checked
/// against the collection.
pub struct ListQuery {
    /// The page by number (from 1), and whether the query gave one.
    pub page: usize,
    pub page_given: bool,
    pub page_size: usize,
    /// An opaque `cursor` (`meta.next_cursor`), instead of a page.
    pub cursor: Option<String>,
    pub updated_after: Option<String>,
    /// `fields.<name>=<value>`, by field name.
    pub filters: Vec<(String, String)>,
    /// Field (or `created_at`, `updated_at`, `id`) and descending.
    pub order: Option<(String, bool)>,
}

impl ListQuery {
    /// How DynamoDB serves this listing, if it does: creation order
    /// (`created_at`, `id`, or none given) and last write, either way,
    /// without field filters (`updated_after` with the last-write order);
    /// an indexed field's order; one filter on an indexed field, in
    /// creation order or that field's. Indexes of fields still building, or
    /// built in another default locale, or read in another `locale`, do not.
    pub fn served(
        &self,
        collection: &Collection,
        org: &Org,
        locale: Option<&Locale>,
    ) -> Option<Served> {
        let order = self.order.as_ref().map(|(n, d)| (n.as_str(), *d));
        let indexed = |name: &str| {
            collection
                .field(name)
                .filter(|_| collection.index_serves(name, org, locale))
        };
        match self.filters.as_slice() {
            [] => {
                let (sorted, descending) = match order {
                    None => (Sorted::Created, false),
                    Some(("created_at" | "id", d)) => (Sorted::Created, d),
                    Some(("updated_at", d)) => (Sorted::Updated, d),
                    Some((name, d)) => (Sorted::Field(indexed(name)?.key.clone()), d),
                };
                if self.updated_after.is_some() && sorted != Sorted::Updated {
                    return None;
                }
                Some(Served {
                    sorted,
                    descending,
                    equals: None,
                })
            }
            [(name, want)] if self.updated_after.is_none() => {
                let field = indexed(name)?;
                let descending = match order {
                    None => false,
                    Some(("created_at" | "id", d)) => d,
                    Some((o, d)) if o == name => d,
                    Some(_) => return None,
                };
                let equals = match order::filter(order::kind_of(&field.kind), want) {
                    Filter::Prefix(p) => p,
                    Filter::Nothing => order::NOTHING.to_owned(),
                    Filter::Unserved => return None,
                };
                Some(Served {
                    sorted: Sorted::Field(field.key.clone()),
                    descending,
                    equals: Some(equals),
                })
            }
            _ => None,
        }
    }
}

/// How DynamoDB serves a listing: the index order, its direction, and for
/// a filter on an indexed field the prefix of its entries' sort keys.
pub struct Served {
    pub sorted: Sorted,
    pub descending: bool,
    pub equals: Option<String>,
}

/// The 400 of a list that would sort more than `max` items in memory:
/// it names the parameter to change and the field to index.
pub(super) fn too_many_for_memory(
    args: &ListQuery,
    collection: &Collection,
    org: &Org,
    locale: Option<&Locale>,
    max: usize,
) -> Error {
    let over = format!("This collection has more than {max} items");
    let serves = |f: &str| collection.index_serves(f, org, locale);
    let building = |f: &str| collection.building.iter().any(|b| b.as_str() == f);
    let unindexed = |f: &str| -> String {
        if building(f) {
            format!("{over}, and the index of \"{f}\" is still being built; try again in a minute.")
        } else if collection.field(f).is_some_and(|d| d.indexed) {
            format!("{over}; the index of \"{f}\" serves the organization's default locale only.")
        } else {
            format!("{over}: mark the field \"{f}\" as indexed in the collection to filter or order by it.")
        }
    };
    if let Some((f, _)) = args.filters.iter().find(|(f, _)| !serves(f)) {
        return Error::field(format!("fields.{f}"), unindexed(f));
    }
    if let Some((f, _)) = args
        .order
        .as_ref()
        .filter(|(f, _)| !matches!(f.as_str(), "created_at" | "updated_at" | "id") && !serves(f))
    {
        return Error::field("order", unindexed(f));
    }
    if args.updated_after.is_some() {
        return Error::field(
            "updated_after",
            format!("{over}: use updated_after with order=updated_at (or -updated_at)."),
        );
    }
    let first = args.filters.first().map_or("fields", |(f, _)| f.as_str());
    Error::field(
        format!("fields.{first}"),
        format!("{over}: list it with one filter on an indexed field, in creation order or that field's (a text value up to 256 bytes)."),
    )
}
