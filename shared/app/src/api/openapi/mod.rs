//! The published contract, `openapi.yaml` (OpenAPI 3.1), built from the
//! endpoint table: one operation per endpoint, its security from the
//! route's `query_token`, request bodies from the types the handlers parse
//! (`utoipa::ToSchema`), responses as the handlers shape them. A test keeps
//! the committed file equal to `yaml()`; `folio-admin openapi` writes it.

use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

mod constraints;

use constraints::{
    event_names, field_rules, DELIVERY_ID_PATTERN, IF_MATCH_PATTERN, ITEM_ID_PATTERN, KEYS_PATTERN,
    KEY_PATTERN, LOCALE_PATTERN, ORDER_PATTERN, WEBHOOK_ID_PATTERN,
};

use super::routes::{
    Endpoint, CREATE_ITEM, CREATE_ITEM_IN, DELETE_ITEM, ENDPOINTS, GET_ITEM, GET_VERSION,
    GET_WEBHOOK, LIST_VERSIONS, LIST_WEBHOOKS, PATCH_ITEM, REPLACE_ITEM, RESTORE_ITEM,
    REVERT_VERSION,
};
use super::{bodies, create, schedules, update, versions, webhooks};
use crate::http::refusals;
use crate::schema::{CollectionSpec, FIELD_TYPES};
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
            {"name": "versions", "description": "An item's history: every write's version, \
                listed, read, compared and reverted to."},
            {"name": "schedules", "description": "Publishing and unpublishing at a set time, \
                once, cancellable."},
            {"name": "webhooks", "description": "Signed event deliveries (admin)."},
        ],
        "paths": paths,
        "components": components(),
    })
}

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
            "required": !doc.body_optional,
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
    } else if id == LIST_VERSIONS.function {
        let version = |target: &Endpoint| {
            let mut link = to(
                target,
                "$request.path.collection_key",
                "$request.path.item_id",
            );
            link["parameters"]["version"] = json!("$response.body#/data/0/version");
            link
        };
        Some(json!({
            "GetVersion": version(&GET_VERSION),
            "RevertVersion": version(&REVERT_VERSION),
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
    with_refs::<versions::RevertBody>(&mut schemas);
    with_refs::<bodies::VersionList>(&mut schemas);
    with_refs::<bodies::VersionComparison>(&mut schemas);
    with_refs::<bodies::Reverted>(&mut schemas);
    with_refs::<schedules::ScheduleRequestBody>(&mut schemas);
    with_refs::<schedules::ScheduleBody>(&mut schemas);
    with_refs::<schedules::ScheduleList>(&mut schemas);
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
        "version": path("version", "A version of the item (1 is its create; `GET …/versions/` lists them).",
            json!({"type": "integer", "minimum": 1})),
        "other": path("other", "The version to compare with.", json!({"type": "integer", "minimum": 1})),
        "versions_page_size": {"name": "page_size", "in": "query", "required": false,
            "description": "Versions per page, newest first.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        "versions_cursor": query("cursor", "Continue after the last page: `meta.next_cursor` as it came.",
            json!({"type": "string", "maxLength": 1000})),
        "schedule_state": query("state", "Only schedules in this state.",
            json!({"type": "string", "enum": ["pending", "done", "failed", "cancelled"]})),
        "schedules_page_size": {"name": "page_size", "in": "query", "required": false,
            "description": "Schedules per page, by time.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        "schedules_cursor": query("cursor", "Continue after the last page: `meta.next_cursor` as it came.",
            json!({"type": "string", "maxLength": 200})),
        "schedule_id": path("schedule_id", "A schedule's id (26 characters, as created).",
            json!({"type": "string", "pattern": ITEM_ID_PATTERN})),
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
mod tests;
