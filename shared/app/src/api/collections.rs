//! `PUT /v2/collections/{collection_key}/`, `GET /v2/collections/{collection_key}/`,
//! `DELETE /v2/collections/{collection_key}/` and `GET /v2/collections/`:
//! collection schemas.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};

use super::bodies::{CollectionBody, CollectionList, Count};
use crate::app::App;
use crate::auth::{Operation, Scope};
use crate::error::{Error, FieldErrors};
use crate::http::{json_response, no_content, serve, Call, Route};
use crate::schema::{parse_collection, Collection, CollectionSpec, FieldType};

pub const PUT: Route = Route {
    pattern: "/v2/collections/{collection_key}/",
    scope: Scope::Admin,
    operation: None,
    query_token: false,
};
pub const GET: Route = Route {
    pattern: "/v2/collections/{collection_key}/",
    scope: Scope::Read,
    operation: None,
    query_token: true,
};
pub const DELETE: Route = Route {
    pattern: "/v2/collections/{collection_key}/",
    scope: Scope::Admin,
    operation: Some(Operation::Delete),
    query_token: false,
};
pub const LIST: Route = Route {
    pattern: "/v2/collections/",
    scope: Scope::Read,
    operation: None,
    query_token: true,
};

pub async fn put(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, PUT, |call| put_collection(app, call)).await
}

async fn put_collection(app: &App, call: Call) -> Result<Response<Body>, Error> {
    let key = call.collection_key()?;
    let spec: CollectionSpec = call.json()?;
    let now = crate::clock::now();
    let collection = parse_collection(key, spec, now.clone(), now)?;
    let org = &call.principal.org;
    // Operation limits bind here too: defining a collection is a create,
    // changing one an update.
    // Strongly consistent: `building` and the no-op check below are
    // computed from it (the write is conditioned on its `updated_at`).
    let old = app
        .store
        .get_collection_strong(org, &collection.key)
        .await?;
    let exists = old.is_some();
    let op = if exists {
        Operation::Update
    } else {
        Operation::Create
    };
    call.principal
        .require_on(PUT.scope, Some(op), Some(&collection.key), PUT.subject())?;
    // Reference fields must point at collections that exist (or this one).
    let mut errors = FieldErrors::new();
    for (i, field) in collection.fields.iter().enumerate() {
        if let FieldType::Reference {
            collection: target, ..
        } = &field.kind
        {
            if *target != collection.key && app.store.get_collection(org, target).await?.is_none() {
                errors.insert(
                    format!("fields[{i}].collection"),
                    vec![format!("Unknown collection \"{target}\".")],
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    // The definition as stored (a deploy tool sending its schemas again):
    // nothing is written, so `updated_at` stays and a build in progress
    // goes on rather than starting over.
    if let Some(old) = old.as_ref().filter(|c| {
        c.name == collection.name
            && c.description == collection.description
            && c.specs() == collection.specs()
    }) {
        return Ok(json_response(200, &CollectionBody::from(old)));
    }
    // A new collection's indexes serve at once: it has no items, and no
    // instance holds an older schema of it. Fields indexed on an existing
    // collection are built by the worker, from this record's stream change
    // (events::worker, `index_build`), or by `folio-admin index build`.
    let collection = match &old {
        None => Collection {
            index_locale: app.org(org).await?.default_locale.clone(),
            ..collection
        },
        Some(old) => Collection {
            building: collection.to_build(old),
            index_locale: old.index_locale.clone(),
            ..collection
        },
    };
    let (created, created_at) = app
        .store
        .put_collection(org, &collection, old.as_ref())
        .await?;
    app.forget_collection(org, &collection.key);
    let stored = Collection {
        created_at,
        ..collection
    };
    Ok(json_response(
        if created { 201 } else { 200 },
        &CollectionBody::from(&stored),
    ))
}

pub async fn get(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, GET, |call| async move {
        let key = call.collection_key()?;
        let c = app
            .store
            .get_collection(&call.principal.org, &key)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(json_response(200, &CollectionBody::from(&c)))
    })
    .await
}

pub async fn list(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, LIST, |call| async move {
        let all = app.store.list_collections(&call.principal.org).await?;
        // A token limited to some collections sees only those.
        let data: Vec<CollectionBody> = all
            .iter()
            .filter(|c| call.allow(&c.key).is_ok())
            .map(CollectionBody::from)
            .collect();
        let meta = Count { count: data.len() };
        Ok(json_response(200, &CollectionList { meta, data }))
    })
    .await
}

pub async fn delete(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    serve(app, req, DELETE, |call| delete_collection(app, call)).await
}

/// A collection goes only when nothing needs it: no live item (delete or
/// batch-delete them first; deleted ones stay in the trash until purged,
/// restorable once a collection with this key is defined again) and no
/// other collection's reference field pointing at it.
async fn delete_collection(app: &App, call: Call) -> Result<Response<Body>, Error> {
    call.no_body()?;
    let key = call.collection_key()?;
    let org = &call.principal.org;
    let all = app.store.list_collections(org).await?;
    if !all.iter().any(|c| c.key == key) {
        return Err(Error::NotFound);
    }
    let referrer = all.iter().filter(|c| c.key != key).find_map(|c| {
        c.fields.iter().find_map(|f| match &f.kind {
            FieldType::Reference { collection, .. } if *collection == key => {
                Some((c.key.clone(), f.key.clone()))
            }
            _ => None,
        })
    });
    if let Some((collection, field)) = referrer {
        return Err(Error::Conflict(format!(
            "The field \"{field}\" of collection \"{collection}\" references this collection; change or remove it first."
        )));
    }
    // The count shards, read strongly consistent, hold an item the moment
    // its create commits; the `live` index may not show it yet.
    if app.store.count_items(org, &key, true).await? > 0 {
        return Err(Error::Conflict(
            "This collection still has items; delete them first.".into(),
        ));
    }
    if !app.store.delete_collection(org, &key).await? {
        return Err(Error::NotFound);
    }
    app.forget_collection(org, &key);
    Ok(no_content())
}
