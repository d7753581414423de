//! Checks a request's field values against a collection schema once, and
//! turns them into the values to store plus the references they make.
//! Errors are collected per field (`name`, `en.name`) rather than stopping
//! at the first, so a client can fix a form in one round.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use super::{distinct_targets, limit_message, MAX_TARGETS};
use crate::error::FieldErrors;
use crate::ids::{CollectionKey, ItemId, Locale};
use crate::schema::{Collection, Field, FieldType, OnDelete, Org, MAX_FIELDS};

const MAX_URL_LEN: usize = 2048;

/// DynamoDB's number range: a magnitude from 1e-130 to 9.99…e125 (or 0).
/// A JSON number arrives as an f64, whose 17 significant digits are within
/// DynamoDB's 38, so only the magnitude needs a check.
pub const MIN_NUMBER: f64 = 1e-130;
/// The first magnitude past DynamoDB's largest number.
pub const MAX_NUMBER: f64 = 1e126;

fn storable_number(n: f64) -> bool {
    n == 0.0 || (MIN_NUMBER..MAX_NUMBER).contains(&n.abs())
}

/// A reference an item makes to another item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutRef {
    pub collection: CollectionKey,
    pub id: ItemId,
    /// The referring field's storage key (`manager`, `en.manager`).
    pub field: String,
    pub on_delete: OnDelete,
}

impl OutRef {
    /// The form kept in an item's `out_refs` and in its targets' referrer sets.
    pub fn encode(&self) -> String {
        let mode = match self.on_delete {
            OnDelete::Restrict => "restrict",
            OnDelete::Detach => "detach",
        };
        format!("{}#{}#{}#{}", self.collection, self.id, self.field, mode)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.splitn(4, '#');
        let collection = CollectionKey::parse(parts.next()?).ok()?;
        let id = ItemId::parse(parts.next()?).ok()?;
        let field = parts.next()?.to_owned();
        let on_delete = match parts.next()? {
            "restrict" => OnDelete::Restrict,
            "detach" => OnDelete::Detach,
            _ => return None,
        };
        Some(OutRef {
            collection,
            id,
            field,
            on_delete,
        })
    }
}

/// The result of checking a complete item (create, replace).
#[derive(Debug, Clone, Default)]
pub struct Validated {
    pub values: BTreeMap<String, Value>,
    pub refs: Vec<OutRef>,
}

/// The result of checking a patch: `None` clears a field.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub changes: BTreeMap<String, Option<Value>>,
    /// References made by the patched reference fields, by storage key.
    pub refs: BTreeMap<String, Vec<OutRef>>,
}

/// Where a field's value is kept: `name`, or `en.name` in a localized org.
pub fn storage_key(locale: Option<&Locale>, field: &str) -> String {
    match locale {
        Some(l) => format!("{l}.{field}"),
        None => field.to_owned(),
    }
}

/// Checks every field of a complete item. `prefix` goes in front of error
/// keys (`fields[2].` when a request creates several items).
pub fn validate_full(
    org: &Org,
    collection: &Collection,
    input: &Value,
    prefix: &str,
    errors: &mut FieldErrors,
) -> Validated {
    let mut out = Validated::default();
    for (locale, block) in blocks(org, input, prefix, true, errors) {
        if too_many_values(block, prefix, locale, errors) {
            continue;
        }
        let is_default = locale == org.default_locale.as_ref();
        for (key, _) in block.iter().filter(|(k, _)| collection.field(k).is_none()) {
            add(errors, prefix, locale, key, "Unknown field.".into());
        }
        for field in &collection.fields {
            let skey = storage_key(locale, field.key.as_str());
            match block.get(field.key.as_str()) {
                None | Some(Value::Null) => {
                    if field.required && is_default {
                        add(
                            errors,
                            prefix,
                            locale,
                            field.key.as_str(),
                            "This field is required.".into(),
                        );
                    }
                }
                Some(v) => match check(collection, field, v, &skey) {
                    Ok(None) if field.required && is_default => add(
                        errors,
                        prefix,
                        locale,
                        field.key.as_str(),
                        "This field may not be blank.".into(),
                    ),
                    Ok(None) => {}
                    Ok(Some((value, refs))) => {
                        out.values.insert(skey, value);
                        out.refs.extend(refs);
                    }
                    Err(msg) => add(errors, prefix, locale, field.key.as_str(), msg),
                },
            }
        }
    }
    check_ref_count(&out.refs, prefix, errors);
    out
}

/// Checks only the fields a patch sends.
pub fn validate_patch(
    org: &Org,
    collection: &Collection,
    input: &Value,
    errors: &mut FieldErrors,
) -> Patch {
    let mut out = Patch::default();
    for (locale, block) in blocks(org, input, "", false, errors) {
        if too_many_values(block, "", locale, errors) {
            continue;
        }
        let is_default = locale == org.default_locale.as_ref();
        for (key, v) in block {
            let Some(field) = collection.field(key) else {
                add(errors, "", locale, key, "Unknown field.".into());
                continue;
            };
            let skey = storage_key(locale, key);
            let checked = if v.is_null() {
                Ok(None)
            } else {
                check(collection, field, v, &skey)
            };
            match checked {
                Ok(None) if field.required && is_default => {
                    add(errors, "", locale, key, "This field is required.".into())
                }
                Ok(None) => {
                    if matches!(field.kind, FieldType::Reference { .. }) {
                        out.refs.insert(skey.clone(), Vec::new());
                    }
                    out.changes.insert(skey, None);
                }
                Ok(Some((value, refs))) => {
                    if matches!(field.kind, FieldType::Reference { .. }) {
                        out.refs.insert(skey.clone(), refs);
                    }
                    out.changes.insert(skey, Some(value));
                }
                Err(msg) => add(errors, "", locale, key, msg),
            }
        }
    }
    let all: Vec<OutRef> = out.refs.values().flatten().cloned().collect();
    check_ref_count(&all, "", errors);
    out
}

/// The request's own references past the limit are refused here, before
/// any read; the store checks the item's references after the write.
fn check_ref_count(refs: &[OutRef], prefix: &str, errors: &mut FieldErrors) {
    if distinct_targets(refs) > MAX_TARGETS {
        errors
            .entry(format!("{prefix}fields"))
            .or_default()
            .push(limit_message());
    }
}

/// A block of more values than any collection has fields cannot be an
/// item: it is refused whole, with one message, before any key is looked
/// up (a body can hold hundreds of thousands, each an error of its own).
fn too_many_values(
    block: &Map<String, Value>,
    prefix: &str,
    locale: Option<&Locale>,
    errors: &mut FieldErrors,
) -> bool {
    if block.len() <= MAX_FIELDS {
        return false;
    }
    errors
        .entry(format!(
            "{prefix}{}",
            locale.map_or("fields", |l| l.as_str())
        ))
        .or_default()
        .push(format!(
            "Ensure this item has no more than {MAX_FIELDS} field values; it has {}.",
            block.len()
        ));
    true
}

fn add(errors: &mut FieldErrors, prefix: &str, locale: Option<&Locale>, key: &str, msg: String) {
    errors
        .entry(format!("{prefix}{}", storage_key(locale, key)))
        .or_default()
        .push(msg);
}

/// Splits the input into per-locale blocks of `field -> value`.
fn blocks<'a>(
    org: &'a Org,
    input: &'a Value,
    prefix: &str,
    need_default: bool,
    errors: &mut FieldErrors,
) -> Vec<(Option<&'a Locale>, &'a Map<String, Value>)> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    let Some(obj) = input.as_object() else {
        errors
            .entry(format!("{prefix}fields"))
            .or_default()
            .push("Expected an object of field values.".into());
        return Vec::new();
    };
    if !org.is_localized() {
        return vec![(None, obj)];
    }
    let known = || org.locales.iter().map(|l| l.as_str()).collect::<Vec<_>>();
    // More codes than the organization has locales (or a collection
    // fields: values sent unnested) are refused whole, as a block is.
    if obj.len() > org.locales.len().max(MAX_FIELDS) {
        errors
            .entry(format!("{prefix}fields"))
            .or_default()
            .push(format!(
                "Values are nested by locale: one of {}.",
                known().join(", ")
            ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (code, block) in obj {
        let Some(locale) = org.locales.iter().find(|l| l.as_str() == code) else {
            errors
                .entry(format!("{prefix}{code}"))
                .or_default()
                .push(format!(
                    "Unknown locale. Values are nested by locale: one of {}.",
                    known().join(", ")
                ));
            continue;
        };
        match block.as_object() {
            Some(b) => out.push((Some(locale), b)),
            None => errors
                .entry(format!("{prefix}{code}"))
                .or_default()
                .push("Expected an object of field values.".into()),
        }
    }
    if need_default {
        if let Some(default) = &org.default_locale {
            if !obj.contains_key(default.as_str()) {
                out.push((Some(default), &*EMPTY));
            }
        }
    }
    out
}

type Checked = Option<(Value, Vec<OutRef>)>;

/// Checks one non-null value. `Ok(None)` means the value clears the field
/// (`""` for text-like fields and single references, `[]` for lists).
fn check(collection: &Collection, field: &Field, v: &Value, skey: &str) -> Result<Checked, String> {
    let plain = |v: Value| Ok(Some((v, Vec::new())));
    match &field.kind {
        FieldType::Text | FieldType::LongText | FieldType::Html => {
            let s = v.as_str().ok_or("Not a valid string.")?;
            if s.is_empty() {
                return Ok(None);
            }
            let n = s.chars().count() as u64;
            if let Some(max) = field.max_length {
                if n > max {
                    return Err(format!(
                        "Ensure this field has no more than {max} characters."
                    ));
                }
            }
            if let Some(min) = field.min_length {
                if n < min {
                    return Err(format!("Ensure this field has at least {min} characters."));
                }
            }
            if let Some(p) = &field.pattern {
                if !p.regex.is_match(s) {
                    return Err(format!(
                        "This value does not match the pattern {}.",
                        p.source
                    ));
                }
            }
            plain(v.clone())
        }
        FieldType::Number => {
            let n = v
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or("A valid number is required.")?;
            if !storable_number(n) {
                return Err(format!(
                    "Ensure this number is 0 or its magnitude is at least {MIN_NUMBER:e} and below {MAX_NUMBER:e}."
                ));
            }
            if let Some(min) = field.min {
                if n < min {
                    return Err(format!(
                        "Ensure this value is greater than or equal to {min}."
                    ));
                }
            }
            if let Some(max) = field.max {
                if n > max {
                    return Err(format!("Ensure this value is less than or equal to {max}."));
                }
            }
            plain(v.clone())
        }
        FieldType::Boolean => match v {
            Value::Bool(_) => plain(v.clone()),
            _ => Err("Must be a valid boolean.".into()),
        },
        FieldType::Date => {
            let s = v.as_str().ok_or("Date has wrong format. Use YYYY-MM-DD.")?;
            if s.is_empty() {
                return Ok(None);
            }
            time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| "Date has wrong format. Use YYYY-MM-DD.")?;
            plain(v.clone())
        }
        FieldType::Datetime => {
            let s = v
                .as_str()
                .ok_or("Datetime has wrong format. Use RFC 3339.")?;
            if s.is_empty() {
                return Ok(None);
            }
            time::OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| "Datetime has wrong format. Use RFC 3339.")?;
            plain(v.clone())
        }
        FieldType::Dropdown { options } => {
            let s = v.as_str().ok_or("Not a valid string.")?;
            if s.is_empty() {
                return Ok(None);
            }
            if !options.iter().any(|o| o == s) {
                return Err(format!("\"{}\" is not a valid choice.", truncate(s)));
            }
            plain(v.clone())
        }
        FieldType::Media => {
            let s = v.as_str().ok_or("Not a valid string.")?;
            if s.is_empty() {
                return Ok(None);
            }
            let ok = (s.starts_with("https://") || s.starts_with("http://"))
                && s.len() <= MAX_URL_LEN
                && s.len() > "https://".len()
                && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err("Enter a valid http or https URL.".into());
            }
            plain(v.clone())
        }
        FieldType::PageReference { many } => {
            let slug = |v: &Value| -> Result<(), String> {
                match v.as_str() {
                    Some(s) if !s.is_empty() && s.len() <= 200 => Ok(()),
                    _ => Err("Expected a page slug.".into()),
                }
            };
            match (many, v) {
                (false, Value::String(s)) if s.is_empty() => Ok(None),
                (false, _) => slug(v).and_then(|_| plain(v.clone())),
                (true, Value::Array(a)) if a.is_empty() => Ok(None),
                (true, Value::Array(a)) => {
                    a.iter().try_for_each(slug)?;
                    plain(v.clone())
                }
                (true, _) => Err("Expected a list of page slugs.".into()),
            }
        }
        FieldType::Reference {
            collection: target,
            many,
            on_delete,
        } => {
            let _ = collection;
            let to_ref = |v: &Value| -> Result<OutRef, String> {
                let id = v
                    .as_str()
                    .and_then(|s| ItemId::parse(s).ok())
                    .ok_or("This value does not exist.")?;
                Ok(OutRef {
                    collection: target.clone(),
                    id,
                    field: skey.to_owned(),
                    on_delete: *on_delete,
                })
            };
            match (many, v) {
                (false, Value::String(s)) if s.is_empty() => Ok(None),
                (false, _) => {
                    let r = to_ref(v)?;
                    Ok(Some((Value::String(r.id.to_string()), vec![r])))
                }
                (true, Value::Array(a)) if a.is_empty() => Ok(None),
                (true, Value::Array(a)) => {
                    let mut refs = a.iter().map(to_ref).collect::<Result<Vec<_>, _>>()?;
                    // A list keeps its order, but names each item once.
                    let mut seen = std::collections::BTreeSet::new();
                    refs.retain(|r| seen.insert(r.id));
                    let ids = refs
                        .iter()
                        .map(|r| Value::String(r.id.to_string()))
                        .collect();
                    Ok(Some((Value::Array(ids), refs)))
                }
                (true, _) => Err("Expected a list of item ids.".into()),
            }
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests;
