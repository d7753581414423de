//! Collection schemas and organization settings: what a valid collection
//! definition is. A `Collection` is parsed once from its JSON spec, so field
//! types, rules and compiled patterns are trusted everywhere past this module.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldErrors};
use crate::ids::{CollectionKey, FieldKey, Locale, OrgId};

/// Most fields a collection may declare; keeps an item's schema check cheap
/// and its stored form well inside DynamoDB's item size.
pub const MAX_FIELDS: usize = 100;
/// Every name a field's `type` takes, as `FieldType::name` gives them (the
/// error for an unknown type and `openapi.yaml` list these).
pub const FIELD_TYPES: [&str; 11] = [
    "text",
    "long_text",
    "html",
    "number",
    "boolean",
    "date",
    "datetime",
    "dropdown",
    "media",
    "reference",
    "page_reference",
];
/// Fields of one collection that may be `indexed`: each costs an index
/// entry written with every item write that changes it.
pub const MAX_INDEXED: usize = 5;
/// Characters in a collection's `name` and in a field's `label`.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Options of one dropdown, and characters in each.
pub const MAX_OPTIONS: usize = 200;
pub const MAX_OPTION_CHARS: usize = 200;
/// The whole stored schema (name, description, fields as JSON): well inside
/// DynamoDB's 400 KB item, and cheap to cache in every warm instance.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// An organization: its id and content locales (empty: not localized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: OrgId,
    pub locales: Vec<Locale>,
    pub default_locale: Option<Locale>,
}

impl Org {
    pub fn is_localized(&self) -> bool {
        !self.locales.is_empty()
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// The referenced item cannot be deleted while this reference exists.
    Restrict,
    /// Deleting the referenced item removes it from this field.
    Detach,
}

/// A field's type with the settings that only make sense for that type.
#[derive(Debug, Clone)]
pub enum FieldType {
    Text,
    LongText,
    Html,
    Number,
    Boolean,
    Date,
    Datetime,
    Dropdown {
        options: Vec<String>,
    },
    Media,
    Reference {
        collection: CollectionKey,
        many: bool,
        on_delete: OnDelete,
    },
    PageReference {
        many: bool,
    },
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::LongText => "long_text",
            FieldType::Html => "html",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Dropdown { .. } => "dropdown",
            FieldType::Media => "media",
            FieldType::Reference { .. } => "reference",
            FieldType::PageReference { .. } => "page_reference",
        }
    }

    /// Whether `indexed: true` applies: one scalar value per item, ordered
    /// and compared as `order=` and `fields.<name>=` read it (long texts,
    /// media and lists are not).
    pub fn indexable(&self) -> bool {
        match self {
            FieldType::Text
            | FieldType::Number
            | FieldType::Boolean
            | FieldType::Date
            | FieldType::Datetime
            | FieldType::Dropdown { .. } => true,
            FieldType::Reference { many, .. } => !many,
            FieldType::LongText | FieldType::Html | FieldType::Media => false,
            FieldType::PageReference { .. } => false,
        }
    }

    fn is_textual(&self) -> bool {
        matches!(
            self,
            FieldType::Text | FieldType::LongText | FieldType::Html
        )
    }
}

/// A regular expression rule, kept with its source so it can be shown back.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: regex_lite::Regex,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub key: FieldKey,
    pub label: Option<String>,
    pub kind: FieldType,
    pub required: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<Pattern>,
    /// Listings ordered or filtered by this field are served by DynamoDB
    /// (`store::entries`).
    pub indexed: bool,
}

/// A collection definition as clients send and read it; every rule is flat
/// on the field, as in the request body of `PUT /v2/collections/{key}/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[schema(pattern = "^[a-z][a-z0-9_]*$", max_length = 64)]
    pub key: String,
    #[serde(rename = "type")]
    // One of `FIELD_TYPES`; a string here, so that an unknown name is a
    // field error rather than a parse error (openapi.yaml lists them).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A regular expression (Rust `regex-lite` syntax) that text values must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z][a-z0-9_]*$", max_length = 64)]
    pub collection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub many: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<OnDelete>,
    /// `order=<key>` and `fields.<key>=` are served by an index (text,
    /// number, boolean, date, datetime, dropdown and single reference
    /// fields; at most 5 per collection).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub indexed: bool,
}

/// The body of `PUT /v2/collections/{collection_key}/`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    /// 1 to 200 characters, not all of them spaces (it is stored trimmed).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[schema(max_items = 100)]
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub key: CollectionKey,
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<Field>,
    pub created_at: String,
    pub updated_at: String,
    /// Indexed fields whose entries are still being built (the worker's
    /// `index_build`): listings by them are served from memory meanwhile.
    pub building: BTreeSet<FieldKey>,
    /// The organization's default locale when the entries were built: a
    /// localized organization's entries hold that locale's values.
    pub index_locale: Option<Locale>,
    /// Whether every entry of its indexed fields is in its value counts
    /// (`store::entries`): true for a collection defined, or whose fields
    /// were built, since value counts exist; a filter's count is then read
    /// from them, else counted from the matching entries.
    pub counted: bool,
}

impl Collection {
    /// The fields every item write keeps index entries for.
    pub fn indexed_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.indexed)
    }

    /// Whether listings by `field` in `locale` (None: the default) are
    /// served by its index: indexed, built, and built in the organization's
    /// default locale as it is now.
    pub fn index_serves(&self, field: &str, org: &Org, locale: Option<&Locale>) -> bool {
        self.field(field)
            .is_some_and(|f| f.indexed && !self.building.contains(&f.key))
            && self.index_locale == org.default_locale
            && locale.is_none_or(|l| Some(l) == org.default_locale.as_ref())
    }

    /// The fields of `self` (the new schema) whose entries must be built
    /// before its index serves them, given the schema it replaces: newly
    /// indexed fields, those whose type changed, and those still building.
    pub fn to_build(&self, old: &Collection) -> BTreeSet<FieldKey> {
        self.indexed_fields()
            .filter(|f| {
                let ready = old.field(f.key.as_str()).is_some_and(|o| {
                    o.indexed && o.kind.name() == f.kind.name() && !old.building.contains(&o.key)
                });
                !ready
            })
            .map(|f| f.key.clone())
            .collect()
    }

    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key.as_str() == key)
    }

    /// This collection's reference fields: each with its target collection
    /// and whether it holds many references.
    pub fn reference_fields(&self) -> impl Iterator<Item = (&Field, &CollectionKey, bool)> {
        self.fields.iter().filter_map(|f| match &f.kind {
            FieldType::Reference {
                collection, many, ..
            } => Some((f, collection, *many)),
            _ => None,
        })
    }

    /// Targets of this collection's reference fields.
    pub fn referenced_collections(&self) -> impl Iterator<Item = &CollectionKey> {
        self.reference_fields().map(|(_, target, _)| target)
    }

    pub fn specs(&self) -> Vec<FieldSpec> {
        self.fields.iter().map(Field::spec).collect()
    }
}

impl Field {
    pub fn spec(&self) -> FieldSpec {
        let mut spec = FieldSpec {
            key: self.key.to_string(),
            kind: self.kind.name().to_owned(),
            label: self.label.clone(),
            required: self.required,
            min_length: self.min_length,
            max_length: self.max_length,
            min: self.min,
            max: self.max,
            pattern: self.pattern.as_ref().map(|p| p.source.clone()),
            indexed: self.indexed,
            ..FieldSpec::default()
        };
        match &self.kind {
            FieldType::Dropdown { options } => spec.options = Some(options.clone()),
            FieldType::Reference {
                collection,
                many,
                on_delete,
            } => {
                spec.collection = Some(collection.to_string());
                spec.many = Some(*many);
                spec.on_delete = Some(*on_delete);
            }
            FieldType::PageReference { many } => spec.many = Some(*many),
            _ => {}
        }
        spec
    }
}

/// Parses a collection definition, collecting every problem as a field error
/// (`fields[2].options`, …) instead of stopping at the first.
pub fn parse_collection(
    key: CollectionKey,
    spec: CollectionSpec,
    created_at: String,
    updated_at: String,
) -> Result<Collection, Error> {
    let mut errors = FieldErrors::new();
    let name = spec.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errors.insert(
            "name".into(),
            vec![format!(
                "Ensure this field has 1 to {MAX_NAME_CHARS} characters."
            )],
        );
    }
    if spec
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        errors.insert(
            "description".into(),
            vec![format!(
                "Ensure this field has no more than {MAX_DESCRIPTION_CHARS} characters."
            )],
        );
    }
    if spec.fields.len() > MAX_FIELDS {
        errors.insert(
            "fields".into(),
            vec![format!(
                "Ensure this list has no more than {MAX_FIELDS} fields."
            )],
        );
    }
    let mut seen = BTreeSet::new();
    let mut fields = Vec::with_capacity(spec.fields.len());
    for (i, f) in spec.fields.into_iter().enumerate() {
        let mut push = |what: &str, msg: String| {
            errors
                .entry(format!("fields[{i}].{what}"))
                .or_default()
                .push(msg);
        };
        let key = match FieldKey::parse(&f.key) {
            Ok(k) => k,
            Err(e) => {
                push("key", e.0);
                continue;
            }
        };
        if !seen.insert(key.clone()) {
            push("key", format!("Duplicate field key \"{key}\"."));
        }
        let kind = match parse_kind(&f) {
            Ok(kind) => kind,
            Err((what, msg)) => {
                push(what, msg);
                continue;
            }
        };
        if f.label
            .as_ref()
            .is_some_and(|l| l.chars().count() > MAX_NAME_CHARS)
        {
            push(
                "label",
                format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
            );
        }
        if (f.min_length.is_some() || f.max_length.is_some() || f.pattern.is_some())
            && !kind.is_textual()
        {
            push(
                "type",
                format!(
                    "min_length, max_length and pattern apply to text fields, not {}.",
                    kind.name()
                ),
            );
        }
        if (f.min.is_some() || f.max.is_some()) && !matches!(kind, FieldType::Number) {
            push(
                "type",
                format!("min and max apply to number fields, not {}.", kind.name()),
            );
        }
        if let (Some(lo), Some(hi)) = (f.min_length, f.max_length) {
            if lo > hi {
                push(
                    "min_length",
                    "min_length is greater than max_length.".into(),
                );
            }
        }
        if let (Some(lo), Some(hi)) = (f.min, f.max) {
            if lo > hi || !lo.is_finite() || !hi.is_finite() {
                push(
                    "min",
                    "min must be a finite number no greater than max.".into(),
                );
            }
        }
        let pattern = match &f.pattern {
            None => None,
            Some(src) if src.len() > 500 => {
                push(
                    "pattern",
                    "Ensure this pattern has no more than 500 characters.".into(),
                );
                None
            }
            Some(src) => match regex_lite::Regex::new(src) {
                Ok(regex) => Some(Pattern {
                    source: src.clone(),
                    regex,
                }),
                Err(e) => {
                    push("pattern", format!("Not a valid regular expression: {e}"));
                    None
                }
            },
        };
        if f.indexed && !kind.indexable() {
            push(
                "indexed",
                format!(
                    "A {} field cannot be indexed; index text, number, boolean, date, datetime, dropdown or single reference fields.",
                    if matches!(kind, FieldType::Reference { many: true, .. }) { "many-reference" } else { kind.name() }
                ),
            );
        }
        fields.push(Field {
            indexed: f.indexed,
            key,
            label: f.label.clone(),
            kind,
            required: f.required,
            min_length: f.min_length,
            max_length: f.max_length,
            min: f.min,
            max: f.max,
            pattern,
        });
    }
    if fields.iter().filter(|f| f.indexed).count() > MAX_INDEXED {
        errors.insert(
            "fields".into(),
            vec![format!(
                "At most {MAX_INDEXED} fields of a collection may be indexed."
            )],
        );
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let collection = Collection {
        key,
        name,
        description: spec.description,
        fields,
        created_at,
        updated_at,
        building: BTreeSet::new(),
        index_locale: None,
        // As stored decides (`Store::put_collection`); false only reads a
        // filter's count by keys.
        counted: false,
    };
    let size = collection.name.len()
        + collection.description.as_ref().map_or(0, String::len)
        + serde_json::to_string(&collection.specs()).map_or(usize::MAX, |s| s.len());
    if size > MAX_SCHEMA_BYTES {
        return Err(Error::TooLarge(format!(
            "This collection definition is {} KB; a definition may be at most {} KB.",
            size.div_ceil(1024),
            MAX_SCHEMA_BYTES / 1024
        )));
    }
    Ok(collection)
}

fn parse_kind(f: &FieldSpec) -> Result<FieldType, (&'static str, String)> {
    let only = |allowed: &[&str]| -> Result<(), (&'static str, String)> {
        let given = [
            ("options", f.options.is_some()),
            ("collection", f.collection.is_some()),
            ("many", f.many.is_some()),
            ("on_delete", f.on_delete.is_some()),
        ];
        for (name, present) in given {
            if present && !allowed.contains(&name) {
                return Err((
                    "type",
                    format!("\"{name}\" does not apply to a {} field.", f.kind),
                ));
            }
        }
        Ok(())
    };
    let kind = match f.kind.as_str() {
        "text" => FieldType::Text,
        "long_text" => FieldType::LongText,
        "html" => FieldType::Html,
        "number" => FieldType::Number,
        "boolean" => FieldType::Boolean,
        "date" => FieldType::Date,
        "datetime" => FieldType::Datetime,
        "media" => FieldType::Media,
        "dropdown" => {
            only(&["options"])?;
            let options = f.options.clone().unwrap_or_default();
            if options.is_empty() || options.len() > MAX_OPTIONS {
                return Err((
                    "options",
                    format!("A dropdown needs 1 to {MAX_OPTIONS} options."),
                ));
            }
            if options
                .iter()
                .any(|o| o.is_empty() || o.chars().count() > MAX_OPTION_CHARS)
            {
                return Err((
                    "options",
                    format!("Each option has 1 to {MAX_OPTION_CHARS} characters."),
                ));
            }
            let distinct: BTreeSet<_> = options.iter().collect();
            if distinct.len() != options.len() {
                return Err(("options", "Options must be distinct.".into()));
            }
            return Ok(FieldType::Dropdown { options });
        }
        "reference" => {
            only(&["collection", "many", "on_delete"])?;
            let collection = match &f.collection {
                None => {
                    return Err((
                        "collection",
                        "This field is required for a reference.".into(),
                    ))
                }
                Some(c) => CollectionKey::parse(c).map_err(|e| ("collection", e.0))?,
            };
            return Ok(FieldType::Reference {
                collection,
                many: f.many.unwrap_or(false),
                on_delete: f.on_delete.unwrap_or(OnDelete::Restrict),
            });
        }
        "page_reference" => {
            only(&["many"])?;
            return Ok(FieldType::PageReference {
                many: f.many.unwrap_or(false),
            });
        }
        other => {
            return Err((
                "type",
                format!(
                    "\"{}\" is not a valid choice. Use one of {}.",
                    other.chars().take(40).collect::<String>(),
                    FIELD_TYPES.join(", ")
                ),
            ))
        }
    };
    only(&[])?;
    Ok(kind)
}

#[cfg(test)]
mod tests;
