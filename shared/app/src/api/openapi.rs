//! The published contract, `openapi.yaml` (OpenAPI 3.1), built from the
//! endpoint table: one operation per endpoint, its security from the
//! route's `query_token`, request bodies from the types the handlers parse
//! (`utoipa::ToSchema`), responses as the handlers shape them. A test keeps
//! the committed file equal to `yaml()`; `folio-admin openapi` writes it.

use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use super::routes::{
    Endpoint, CREATE_ITEM, CREATE_ITEM_IN, DELETE_ITEM, ENDPOINTS, GET_ITEM, GET_WEBHOOK,
    LIST_WEBHOOKS, PATCH_ITEM, REPLACE_ITEM, RESTORE_ITEM,
};
use super::{bodies, create, update, webhooks};
use crate::http::refusals;
use crate::schema::{CollectionSpec, FIELD_TYPES, MAX_OPTIONS, MAX_OPTION_CHARS};
use crate::store::webhooks::AttemptRecord;
use crate::webhooks::WebhookSpec;

/// The document as YAML, as committed in `openapi.yaml`.
pub fn yaml() -> String {
    let header = "# Generated from the endpoint table (shared/app/src/api/openapi.rs): \
                  regenerate with `make openapi`, never edit by hand.\n";
    // The top level in the order readers expect; below it, keys sort.
    let doc = document();
    let ordered: Vec<(&str, &Value)> =
        ["openapi", "info", "servers", "tags", "paths", "components"]
            .into_iter()
            .map(|k| (k, &doc[k]))
            .collect();
    let body = yaml_serde::to_string(&Ordered(ordered)).expect("a JSON value is valid YAML");
    format!("{header}{body}")
}

struct Ordered<'a>(Vec<(&'a str, &'a Value)>);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for e in &ENDPOINTS {
        let item = paths
            .entry(e.route.pattern)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path items are objects");
        let params = path_parameters(e.route.pattern);
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        item.insert(e.method.to_ascii_lowercase(), operation(e));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Folio Collections API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Collections of content items, ButterCMS-compatible writes and reads, \
                Flotiq-style batch delete and reference guard, soft delete with restore, signed \
                webhooks. Every path ends with a slash: the same path without it answers 308 to \
                the slashed URL. Every error body is JSON with a `detail`. Every response \
                carries `X-Request-Id`.",
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "servers": [
            {"url": "http://127.0.0.1:9000", "description": "`make dev`"},
            {"url": "{api_url}", "description": "a deployed stack (its `ApiUrl` output)",
             "variables": {"api_url": {"default": "https://example.execute-api.eu-west-1.amazonaws.com"}}},
        ],
        "tags": [
            {"name": "collections", "description": "Collection schemas (admin to change)."},
            {"name": "content", "description": "Items: create, read, replace, patch, delete."},
            {"name": "trash", "description": "Deleted items and restore (admin)."},
            {"name": "webhooks", "description": "Signed event deliveries (admin)."},
        ],
        "paths": paths,
        "components": components(),
    })
}

// The static shapes the server parses (`ids`, `api::read`, `api::update`),
// as JSON Schema patterns; a test holds each to its parser.
macro_rules! key {
    () => {
        "[a-z][a-z0-9_]{0,63}"
    };
}
macro_rules! item_id {
    () => {
        "[0-7][0-9A-HJKMNP-TV-Z]{25}"
    };
}
macro_rules! keys_part {
    () => {
        concat!(key!(), r"(\[_id=", item_id!(), r"\])?")
    };
}
const KEY_PATTERN: &str = concat!("^", key!(), "$");
/// `a`, `a,b` (at most `read::MAX_KEYS`), any of them as `a[_id=<id>]`.
const KEYS_PATTERN: &str = concat!("^", keys_part!(), "(,", keys_part!(), "){0,9}$");
/// A ULID in its canonical spelling.
const ITEM_ID_PATTERN: &str = concat!("^", item_id!(), "$");
const WEBHOOK_ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
const DELIVERY_ID_PATTERN: &str = "^msg_[0-9a-f]{32}$";
const LOCALE_PATTERN: &str = "^[a-z][a-z0-9-]{1,15}$";
const ORDER_PATTERN: &str = concat!("^-?", key!(), "$");
/// What `Version::from_if_match` reads: a version, in quotes or not, weak
/// or not, with or without a read tag's `-<digest>`.
const IF_MATCH_PATTERN: &str = r#"^(W/)?"*\+?[0-9]{1,19}("*|-[!-~]*)$"#;

fn operation(e: &Endpoint) -> Value {
    let doc = &e.doc;
    let parameters: Vec<Value> = doc
        .path
        .iter()
        .chain(doc.query)
        .chain(doc.headers)
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect();
    let mut responses = Map::new();
    let (status, schema) = doc.ok;
    let mut ok = ok_response(e, status, schema);
    if let Some(links) = links(e) {
        ok["links"] = links;
    }
    responses.insert(status.to_string(), ok);
    if let Some(created) = doc.created {
        responses.insert("201".into(), ok_response(e, 201, Some(created)));
    }
    if e.method == "GET" {
        responses.insert(
            "304".into(),
            json!({"$ref": "#/components/responses/NotModified"}),
        );
    }
    for (status, response) in [
        (308, "AddSlash"),
        (401, "Unauthenticated"),
        (403, "Forbidden"),
        (404, "NotFound"),
        (429, "Throttled"),
        (500, "Internal"),
    ] {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{response}")}),
        );
    }
    for (status, schema) in doc.errors {
        responses.insert(status.to_string(), error(schema));
    }
    let mut security = vec![json!({"token": []}), json!({"xAuthToken": []})];
    if e.route.query_token {
        security.push(json!({"authToken": []}));
    }
    let mut op = json!({
        "operationId": e.operation_id(),
        "summary": doc.summary,
        "tags": [doc.tag],
        "description": format!(
            "Needs a token with the `{}` scope{}. Served by the `{}` function.",
            e.route.scope.as_str(),
            e.route
                .operation
                .map(|o| format!(" allowing `{}`", o.as_str()))
                .unwrap_or_default(),
            e.function
        ),
        "security": security,
        "responses": responses,
    });
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    if let Some(body) = doc.body {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema_ref(body)}},
        });
    }
    op
}

/// Where a response's ids lead (schemathesis follows these in its stateful
/// runs: create → read, patch, replace, delete → restore).
fn links(e: &Endpoint) -> Option<Value> {
    let to = |target: &Endpoint, collection: &str, item: &str| {
        json!({"operationId": target.operation_id(),
               "parameters": {"collection_key": collection, "item_id": item}})
    };
    // Drafts (the default status) are read with preview=1.
    let read = |collection: &str, item: &str| {
        let mut link = to(&GET_ITEM, collection, item);
        link["parameters"]["preview"] = json!("1");
        link
    };
    let item_ops = |collection: &str, item: &str| {
        json!({
            "GetItem": read(collection, item),
            "PatchItem": to(&PATCH_ITEM, collection, item),
            "ReplaceItem": to(&REPLACE_ITEM, collection, item),
            "DeleteItem": to(&DELETE_ITEM, collection, item),
        })
    };
    let created = "$response.body#/items/0/meta/id";
    let id = e.operation_id();
    if id == CREATE_ITEM.operation_id() {
        Some(item_ops("$request.body#/key", created))
    } else if id == CREATE_ITEM_IN.operation_id() {
        Some(item_ops("$request.path.collection_key", created))
    } else if id == PATCH_ITEM.function || id == REPLACE_ITEM.function {
        Some(json!({
            "GetItem": read("$request.path.collection_key", "$response.body#/meta/id"),
        }))
    } else if id == DELETE_ITEM.function {
        Some(json!({
            "RestoreItem": to(&RESTORE_ITEM, "$request.path.collection_key", "$request.path.item_id"),
            "GetDeletedItem": read("$request.path.collection_key", "$request.path.item_id"),
        }))
    } else if id == RESTORE_ITEM.function {
        Some(json!({
            "GetItem": read("$request.path.collection_key", "$response.body#/meta/id"),
        }))
    } else if id == LIST_WEBHOOKS.function {
        Some(json!({
            "GetWebhook": {"operationId": GET_WEBHOOK.operation_id(),
                           "parameters": {"webhook_id": "$response.body#/data/0/id"}},
        }))
    } else {
        None
    }
}

fn ok_response(e: &Endpoint, status: u16, schema: Option<&str>) -> Value {
    let mut headers = json!({"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}});
    let tagged = e.method == "GET" && status == 200 || e.route.pattern.contains("{item_id}");
    if tagged && schema.is_some() {
        headers["ETag"] = json!({"$ref": "#/components/headers/ETag"});
    }
    let mut r = json!({"description": http_reason(status), "headers": headers});
    if let Some(schema) = schema {
        r["content"] = json!({"application/json": {"schema": schema_ref(schema)}});
    }
    r
}

fn http_reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted: written; background work (events, webhooks, media) follows",
        204 => "No Content",
        _ => "Response",
    }
}

fn error(schema: &str) -> Value {
    json!({
        "description": "Refused; nothing was written",
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {"application/json": {"schema": schema_ref(schema)}},
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn path_parameters(pattern: &str) -> Vec<Value> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect()
}

/// A type's schema and the schemas it refers to, as JSON.
fn with_refs<T: ToSchema>(schemas: &mut Map<String, Value>) {
    let mut refs: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut refs);
    refs.push((T::name().into_owned(), T::schema()));
    // A schema several types name is written once, so what `components`
    // adds to it after its first writing stays.
    for (name, schema) in refs {
        schemas
            .entry(name)
            .or_insert_with(|| serde_json::to_value(schema).expect("schemas serialize"));
    }
}

/// Field properties that only some types take (`schema::parse_collection`).
const TYPED: [&str; 9] = [
    "options",
    "collection",
    "many",
    "on_delete",
    "min_length",
    "max_length",
    "pattern",
    "min",
    "max",
];

/// What each field type takes besides `key`, `type`, `label` and
/// `required`, one `oneOf` branch per type: a property of other types is
/// absent or null, and `indexed` is true only on an indexable type (a
/// reference holding many is not).
fn field_rules() -> Value {
    let takes = |kind: &str| -> &'static [&'static str] {
        match kind {
            "text" | "long_text" | "html" => &["min_length", "max_length", "pattern"],
            "number" => &["min", "max"],
            "dropdown" => &["options"],
            "reference" => &["collection", "many", "on_delete"],
            "page_reference" => &["many"],
            _ => &[],
        }
    };
    let indexable = |kind: &str| {
        matches!(
            kind,
            "text" | "number" | "boolean" | "date" | "datetime" | "dropdown" | "reference"
        )
    };
    let mut branches = Vec::new();
    for kind in FIELD_TYPES {
        let mut properties = Map::new();
        properties.insert("type".into(), json!({"const": kind}));
        for p in TYPED.iter().filter(|p| !takes(kind).contains(p)) {
            properties.insert((*p).into(), json!({"type": "null"}));
        }
        if !indexable(kind) {
            properties.insert("indexed".into(), json!({"const": false}));
        }
        let mut branch = json!({"title": kind, "type": "object", "properties": properties});
        match kind {
            "dropdown" => {
                branch["properties"]["options"] = json!({
                    "type": "array", "minItems": 1, "maxItems": MAX_OPTIONS, "uniqueItems": true,
                    "items": {"type": "string", "minLength": 1, "maxLength": MAX_OPTION_CHARS}});
                branch["required"] = json!(["options"]);
            }
            "reference" => {
                branch["properties"]["collection"] = json!({"type": "string"});
                branch["required"] = json!(["collection"]);
                // One reference or many; only one is indexable.
                let mut many = branch.clone();
                branch["title"] = json!("reference (one)");
                branch["properties"]["many"] = json!({"enum": [false, null]});
                many["title"] = json!("reference (many)");
                many["properties"]["many"] = json!({"const": true});
                many["properties"]["indexed"] = json!({"const": false});
                many["required"] = json!(["collection", "many"]);
                branches.push(branch);
                branch = many;
            }
            _ => {}
        }
        branches.push(branch);
    }
    Value::Array(branches)
}

/// Every event type an endpoint may name, and `collectionitem.*`.
fn event_names() -> Vec<&'static str> {
    use crate::event::EventType::*;
    let mut names = vec![crate::webhooks::ALL_EVENTS];
    names.extend([Draft, Published, Unpublished, Delete, Restore, Purge].map(|e| e.as_str()));
    names
}

fn components() -> Value {
    let mut schemas = Map::new();
    with_refs::<CollectionSpec>(&mut schemas);
    let field = &mut schemas["FieldSpec"];
    field["properties"]["type"]["enum"] = json!(FIELD_TYPES);
    for bound in ["min_length", "max_length"] {
        field["properties"][bound]["maximum"] = json!(u64::MAX);
    }
    field["oneOf"] = field_rules();
    with_refs::<create::CreateBody>(&mut schemas);
    with_refs::<update::ReplaceBody>(&mut schemas);
    with_refs::<update::PatchBody>(&mut schemas);
    with_refs::<WebhookSpec>(&mut schemas);
    let webhook = &mut schemas["WebhookSpec"]["properties"];
    webhook["events"]["items"] = json!({"enum": event_names()});
    webhook["collections"]["items"] = json!({"type": "string", "pattern": KEY_PATTERN});
    with_refs::<AttemptRecord>(&mut schemas);
    with_refs::<webhooks::WebhookBody>(&mut schemas);
    with_refs::<webhooks::WebhookCreated>(&mut schemas);
    with_refs::<webhooks::WebhookRotated>(&mut schemas);
    with_refs::<webhooks::WebhookPage>(&mut schemas);
    with_refs::<webhooks::AttemptPage>(&mut schemas);
    with_refs::<webhooks::AttemptSent>(&mut schemas);
    with_refs::<bodies::CollectionBody>(&mut schemas);
    with_refs::<bodies::CollectionList>(&mut schemas);
    with_refs::<bodies::Created>(&mut schemas);
    with_refs::<bodies::Written>(&mut schemas);
    with_refs::<bodies::Restored>(&mut schemas);
    with_refs::<bodies::BatchDeleted>(&mut schemas);
    with_refs::<bodies::BatchDeleteErrors>(&mut schemas);
    with_refs::<bodies::ItemList>(&mut schemas);
    with_refs::<bodies::KeysRead>(&mut schemas);
    with_refs::<bodies::DeletedList>(&mut schemas);
    // An item's fields are defined at run time: open beside `meta`.
    schemas["Item"]["additionalProperties"] = json!(true);
    with_refs::<refusals::Detail>(&mut schemas);
    with_refs::<refusals::Invalid>(&mut schemas);
    with_refs::<refusals::Referenced>(&mut schemas);
    with_refs::<refusals::VersionMismatch>(&mut schemas);
    with_refs::<refusals::Internal>(&mut schemas);
    let Value::Object(responses) = response_schemas() else {
        unreachable!("an object literal")
    };
    schemas.extend(responses);
    json!({
        "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "ButterCMS style: `Authorization: Token <token>`."},
            "xAuthToken": {"type": "apiKey", "in": "header", "name": "X-AUTH-TOKEN",
                           "description": "Flotiq style: the token alone."},
            "authToken": {"type": "apiKey", "in": "query", "name": "auth_token",
                          "description": "Reads only."},
        },
        "parameters": parameters(),
        "headers": {
            "X-Request-Id": {"description": "The request's id, as the function logs it.",
                             "schema": {"type": "string"}},
            "ETag": {"description": "A write's version (`\"3\"`); an item's read, its version \
                     (`\"3\"`) or, where the body shows more than the version (expanded references, \
                     preview, a later schema), the version and the body's digest (`\"3-<digest>\"`); \
                     other reads, the body's digest. Send \
                     it back as If-None-Match (reads) or If-Match (writes, either item form).",
                     "schema": {"type": "string"}},
            "Location": {"description": "The slashed URL.", "schema": {"type": "string"}},
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}},
        },
        "responses": {
            "NotModified": {"description": "Not Modified: the If-None-Match tag is current",
                "headers": {"ETag": {"$ref": "#/components/headers/ETag"},
                            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}},
            "AddSlash": {"description": "Permanent Redirect to the same URL with its trailing slash",
                "headers": {"Location": {"$ref": "#/components/headers/Location"},
                            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                "content": {"application/json": {"schema": schema_ref("Error")}}},
            "Unauthenticated": error_ref("No token, or an unknown or revoked one"),
            "Forbidden": error_ref("The token's scope, collections or operations do not allow this"),
            "NotFound": error_ref("Not found (also another organization's, or a deleted item)"),
            "Throttled": {"description": "Too many requests: the stage's throttle (API Gateway's own \
                `{\"message\"}` body, no Retry-After) or DynamoDB's (`{\"detail\"}`, Retry-After)",
                "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
                            "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                "content": {"application/json": {"schema": {"anyOf": [schema_ref("Error"),
                    {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}]}}}},
            "Internal": {"description": "A fault of ours; the body names the request id",
                "content": {"application/json": {"schema": schema_ref("Internal")}}},
        },
        "schemas": schemas,
    })
}

fn error_ref(description: &str) -> Value {
    json!({"description": description,
           "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
           "content": {"application/json": {"schema": schema_ref("Error")}}})
}

fn parameters() -> Value {
    let path = |name: &str, description: &str, schema: Value| {
        json!({"name": name, "in": "path", "required": true,
               "description": description, "schema": schema})
    };
    let query = |name: &str, description: &str, schema: Value| {
        json!({"name": name, "in": "query", "required": false,
               "description": description, "schema": schema})
    };
    let header = |name: &str, description: &str, schema: Value| {
        json!({"name": name, "in": "header", "required": false,
               "description": description, "schema": schema})
    };
    json!({
        "collection_key": path("collection_key", "A collection key (any other name names nothing: 404).",
            json!({"type": "string", "pattern": KEY_PATTERN, "examples": ["people"]})),
        "collection_keys": path("collection_key", "A collection key (any other name names nothing: 404); \
            also `a,b` or `a[_id=<id>]`, read as `GET /v2/content/?keys=`.",
            json!({"type": "string", "pattern": KEYS_PATTERN, "examples": ["people"]})),
        "item_id": path("item_id", "An item id (26 characters, as created).",
            json!({"type": "string", "pattern": ITEM_ID_PATTERN})),
        "webhook_id": path("webhook_id", "A webhook endpoint's id, chosen at registration.",
            json!({"type": "string", "pattern": WEBHOOK_ID_PATTERN})),
        "delivery_id": path("delivery_id", "A delivery's id (`msg_…`) from the deliveries log.",
            json!({"type": "string", "pattern": DELIVERY_ID_PATTERN})),
        "page": query("page", "Page number, from 1.", json!({"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1})),
        "page_size": query("page_size", "Items per page (per collection with keys=).", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 10})),
        "cursor": query("cursor", "Continue a listing after its last page: `meta.next_cursor` as it came \
            (lists in created_at or updated_at order without field filters, or ordered or filtered \
            by one indexed field; one collection). Not with `page`; the same `order` and filter \
            as the page that gave it.",
            json!({"type": "string", "maxLength": 1000})),
        "trash_page_size": {"name": "page_size", "in": "query", "required": false,
            "description": "Deleted items per page.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}},
        "updated_after": query("updated_after", "Only items changed after this time (RFC 3339): with \
            order=updated_at, an incremental sync (deletions: the trash listing's deleted_after).",
            json!({"type": "string", "format": "date-time"})),
        "webhooks_page_size": {"name": "page_size", "in": "query", "required": false,
            "description": "Endpoints per page, by id.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}},
        "webhooks_cursor": query("cursor", "Continue after the last page: `meta.next_cursor` as it came.",
            json!({"type": "string", "maxLength": 100})),
        "deliveries_page_size": {"name": "page_size", "in": "query", "required": false,
            "description": "Attempts to show, newest first.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
        "locale": query("locale", "One of the organization's locales; missing translations fall back to the default.",
            json!({"type": "string", "pattern": LOCALE_PATTERN})),
        "preview": query("preview", "1: drafts too (never cached).", json!({"type": "string", "enum": ["0", "1", "true", "false"]})),
        "order": query("order", "A field, created_at, updated_at or id; `-` first for descending (the exact \
            reverse: equal values newest first). Fields marked `indexed` are ordered by DynamoDB; others \
            in memory.", json!({"type": "string", "pattern": ORDER_PATTERN, "examples": ["-created_at"]})),
        "levels": query("levels", "Depth to which references are expanded; deeper ones render as links.", json!({"type": "integer", "minimum": 1, "maximum": 5, "default": 2})),
        "keys": {"name": "keys", "in": "query", "required": true,
            "description": "Comma-separated collection keys (at most 10, each once), any of them as \
                `<key>[_id=<id>]` for one item.",
            "schema": {"type": "string", "pattern": KEYS_PATTERN, "examples": ["people"]}},
        "deleted_after": query("deleted_after", "Only items deleted after this time (RFC 3339).", json!({"type": "string", "format": "date-time"})),
        "If-Match": header("If-Match", "The version the write expects (`\"3\"`, or an item read's ETag `\"3-<digest>\"`): 412 when the item has moved on.",
            json!({"type": "string", "pattern": IF_MATCH_PATTERN})),
        "If-None-Match": header("If-None-Match", "A tag from an earlier ETag: 304 when it is current.", json!({"type": "string"})),
        "Idempotency-Key": header("Idempotency-Key", "1–255 printable characters: a retry with the same key and body replays the first response (24 h).",
            json!({"type": "string", "pattern": "^[!-~]{1,255}$"})),
    })
}

/// What no one type states: a list read that may be a `keys=` read (its
/// path names several keys), and the batch delete's body (a bare array).
fn response_schemas() -> Value {
    json!({
        "ListRead": {"description": "A collection's list; with `a,b` or `a[_id=<id>]` in the path \
            (ButterCMS's JavaScript client), the `keys=` read.",
            "anyOf": [schema_ref("ItemList"), schema_ref("KeysRead")]},
        "BatchDeleteBody": {"type": "array", "maxItems": 100,
            "items": {"type": "string", "pattern": ITEM_ID_PATTERN}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_one_operation_with_its_security() {
        let doc = document();
        for e in &ENDPOINTS {
            let op = &doc["paths"][e.route.pattern][e.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", e.method, e.route.pattern);
            let query = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.get("authToken").is_some());
            assert_eq!(query, e.route.query_token, "{}", e.function);
        }
        let ops: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| {
                p.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .count()
            })
            .sum();
        assert_eq!(ops, ENDPOINTS.len());
    }

    #[test]
    fn request_bodies_come_from_the_parsed_types() {
        let doc = document();
        let create = &doc["components"]["schemas"]["CreateBody"];
        assert_eq!(create["properties"]["fields"]["maxItems"], 25);
        assert_eq!(create["additionalProperties"], false, "deny_unknown_fields");
        let field = &doc["components"]["schemas"]["FieldSpec"];
        assert!(field["properties"]["type"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("page_reference")));
        // Every $ref points at something defined.
        let text = serde_json::to_string(&doc).unwrap();
        for r in text.split("\"$ref\":\"#/components/").skip(1) {
            let path: Vec<&str> = r.split('"').next().unwrap().split('/').collect();
            assert!(
                doc["components"][path[0]][path[1]].is_object(),
                "{path:?} is not defined"
            );
        }
    }

    #[test]
    fn each_pattern_is_what_its_parser_accepts() {
        use crate::ids::{CollectionKey, ItemId, Locale, Version, WebhookId};
        let matches = |pattern: &str, s: &str| regex_lite::Regex::new(pattern).unwrap().is_match(s);
        let long = "a".repeat(64);
        let longer = "a".repeat(65);
        for s in [
            "a",
            "team_members",
            "a_1",
            &long,
            &longer,
            "",
            "A",
            "1a",
            "a-b",
            "_a",
        ] {
            assert_eq!(
                matches(KEY_PATTERN, s),
                CollectionKey::parse(s).is_ok(),
                "{s}"
            );
            let order = format!("-{s}");
            assert_eq!(
                matches(ORDER_PATTERN, s),
                CollectionKey::parse(s).is_ok(),
                "{s}"
            );
            assert_eq!(
                matches(ORDER_PATTERN, &order),
                CollectionKey::parse(s).is_ok(),
                "{order}"
            );
        }
        let id = ItemId::new().to_string();
        let ids = [
            id.clone(),
            id.to_lowercase(),
            format!("8{}", &id[1..]),
            format!("{}I", &id[..25]),
            format!("{}U", &id[..25]),
            id[..25].to_owned(),
            format!("{id}0"),
        ];
        for s in &ids {
            assert_eq!(matches(ITEM_ID_PATTERN, s), ItemId::parse(s).is_ok(), "{s}");
        }
        let hook = format!("0{}", "a".repeat(63));
        let hook_long = format!("{hook}a");
        for s in [
            "site",
            "site-build_2",
            "0",
            &hook,
            &hook_long,
            "",
            "-a",
            "_a",
            "A",
        ] {
            assert_eq!(
                matches(WEBHOOK_ID_PATTERN, s),
                WebhookId::parse(s).is_ok(),
                "{s}"
            );
        }
        for s in [
            "en",
            "pt-br",
            "a1",
            "e",
            "EN",
            "1e",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
        ] {
            assert_eq!(matches(LOCALE_PATTERN, s), Locale::parse(s).is_ok(), "{s}");
        }
        let hook = WebhookId::parse("site").unwrap();
        assert!(matches(
            DELIVERY_ID_PATTERN,
            &crate::webhooks::delivery_id("e", &hook)
        ));
        // Every tag the pattern allows names a version; the forms clients
        // send are allowed.
        for s in [
            r#""3""#,
            r#"W/"3""#,
            r#""3-0a1b""#,
            "3",
            r#""""3"#,
            "+3",
            "9999999999999999999",
        ] {
            assert!(matches(IF_MATCH_PATTERN, s), "{s}");
            assert!(Version::from_if_match(s).is_some(), "{s}");
        }
        for s in ["*", r#""""#, "W/", "-3", r#""3"x"#, "99999999999999999999"] {
            assert!(!matches(IF_MATCH_PATTERN, s), "{s}");
        }
        let ten = "a,".repeat(9) + "a";
        for s in ["people", "a,b", &format!("a[_id={id}],b"), &ten] {
            assert!(matches(KEYS_PATTERN, s), "{s}");
        }
        let one_more = "a,".repeat(10) + "a";
        for s in ["", "a,", ",a", "a[", "a[_id=1]", "A", &one_more] {
            assert!(!matches(KEYS_PATTERN, s), "{s}");
        }
    }

    #[test]
    fn each_field_type_takes_what_parse_collection_allows() {
        use crate::schema::{parse_collection, FieldSpec, OnDelete};
        let doc = document();
        let branches = doc["components"]["schemas"]["FieldSpec"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(
            branches.len(),
            FIELD_TYPES.len() + 1,
            "a reference is one or many"
        );
        for branch in branches {
            let kind = branch["properties"]["type"]["const"].as_str().unwrap();
            let base = FieldSpec {
                key: "f".into(),
                kind: kind.into(),
                options: (kind == "dropdown").then(|| vec!["a".into()]),
                collection: (kind == "reference").then(|| "team".into()),
                many: (branch["properties"]["many"]["const"] == true).then_some(true),
                ..FieldSpec::default()
            };
            let accepted = |f: FieldSpec| {
                let spec = CollectionSpec {
                    name: "Team".into(),
                    description: None,
                    fields: vec![f],
                };
                let key = crate::ids::CollectionKey::parse("team").unwrap();
                parse_collection(key, spec, String::new(), String::new()).is_ok()
            };
            assert!(accepted(base.clone()), "{kind}");
            for property in TYPED {
                let mut f = base.clone();
                match property {
                    "options" => f.options = Some(vec!["b".into()]),
                    "collection" => f.collection = Some("team".into()),
                    "many" => f.many = Some(base.many.unwrap_or(false)),
                    "on_delete" => f.on_delete = Some(OnDelete::Detach),
                    "min_length" => f.min_length = Some(1),
                    "max_length" => f.max_length = Some(1),
                    "pattern" => f.pattern = Some("a".into()),
                    "min" => f.min = Some(1.0),
                    "max" => f.max = Some(1.0),
                    other => unreachable!("{other}"),
                }
                let takes = branch["properties"][property] != json!({"type": "null"});
                assert_eq!(accepted(f), takes, "{} {property}", branch["title"]);
            }
            let indexable = branch["properties"]["indexed"] != json!({"const": false});
            let f = FieldSpec {
                indexed: true,
                ..base
            };
            assert_eq!(accepted(f), indexable, "{} indexed", branch["title"]);
        }
    }

    #[test]
    fn the_committed_openapi_yaml_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == yaml(),
            "openapi.yaml is out of date: run `make openapi` and commit it"
        );
    }
}
