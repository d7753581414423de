//! The endpoint table: every HTTP endpoint once, in one row that carries
//! its Lambda function, method, route (path, scope, operation), handler and
//! documentation. Everything else derives from it:
//! - each function's binary (`functions/<name>`) serves the row named by
//!   its package name (`serve`);
//! - local routing (`dispatch`, for the tests and tools that run handlers
//!   in process) and the function list (`functions`);
//! - the OpenAPI document (`openapi.rs`);
//! - tests check that `template.yaml` and the `cargo lambda watch` router
//!   in `Cargo.toml` declare exactly these routes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use lambda_http::{service_fn, Body, Request, Response};

use super::{collections, create, delete, read, schedules, trash, update, versions, webhooks};
use crate::app::App;
use crate::error::Error;
use crate::http::{error_response, path_matches, Route};

mod doc;

pub use doc::Doc;
use doc::{doc, CONFLICT, INVALID, REFUSED, STALE, TOO_LARGE};

/// A handler's response, boxed: whatever the largest handler holds (an
/// outbound HTTP request, an expansion), callers that await many requests
/// in a row (tests, tools) do not grow their own futures by it.
pub type Handled<'a> =
    Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send + 'a>>;
pub type Handler = for<'a> fn(&'a App, Request) -> Handled<'a>;

#[derive(Clone, Copy)]
pub struct Endpoint {
    /// The Lambda function (binary in `functions/`) that serves it.
    pub function: &'static str,
    pub method: &'static str,
    pub route: Route,
    pub handler: Handler,
    pub doc: Doc,
}

/// The query of a listing (`list-items`; `read-content` adds `keys`).
const READ_QUERY: &[&str] = &[
    "page",
    "page_size",
    "cursor",
    "locale",
    "preview",
    "order",
    "levels",
    "updated_after",
];

pub const PUT_COLLECTION: Endpoint = Endpoint {
    function: "put-collection",
    method: "PUT",
    route: collections::PUT,
    handler: |app, req| Box::pin(collections::put(app, req)),
    doc: Doc {
        body: Some("CollectionSpec"),
        created: Some("Collection"),
        errors: &[INVALID, CONFLICT, TOO_LARGE],
        ..doc(
            "Define or replace a collection (201 when new, 200 when replaced)",
            "collections",
            (200, Some("Collection")),
        )
    },
};
pub const GET_COLLECTION: Endpoint = Endpoint {
    function: "get-collection",
    method: "GET",
    route: collections::GET,
    handler: |app, req| Box::pin(collections::get(app, req)),
    doc: doc(
        "Read a collection's schema",
        "collections",
        (200, Some("Collection")),
    ),
};
pub const DELETE_COLLECTION: Endpoint = Endpoint {
    function: "delete-collection",
    method: "DELETE",
    route: collections::DELETE,
    handler: |app, req| Box::pin(collections::delete(app, req)),
    doc: Doc {
        errors: &[REFUSED, CONFLICT],
        ..doc(
            "Delete a collection that has no live items and no referencing schema",
            "collections",
            (204, None),
        )
    },
};
pub const LIST_COLLECTIONS: Endpoint = Endpoint {
    function: "list-collections",
    method: "GET",
    route: collections::LIST,
    handler: |app, req| Box::pin(collections::list(app, req)),
    doc: doc(
        "List the collections",
        "collections",
        (200, Some("CollectionList")),
    ),
};
const CREATE_DOC: Doc = Doc {
    body: Some("CreateBody"),
    headers: &["Idempotency-Key"],
    errors: &[INVALID, CONFLICT, TOO_LARGE, (422, "Error")],
    ..doc(
        "Create 1 to 25 items, all or none",
        "content",
        (202, Some("Created")),
    )
};
pub const CREATE_ITEM: Endpoint = Endpoint {
    function: "create-item",
    method: "POST",
    route: create::CREATE,
    handler: |app, req| Box::pin(create::handle(app, req)),
    doc: CREATE_DOC,
};
pub const CREATE_ITEM_IN: Endpoint = Endpoint {
    route: create::CREATE_IN,
    doc: Doc {
        operation_id: Some("create-item-in-collection"),
        ..CREATE_DOC
    },
    ..CREATE_ITEM
};
pub const READ_CONTENT: Endpoint = Endpoint {
    function: "read-content",
    method: "GET",
    route: read::KEYS,
    handler: |app, req| Box::pin(read::keys(app, req)),
    doc: Doc {
        query: &[
            "keys",
            "page",
            "page_size",
            "cursor",
            "locale",
            "preview",
            "order",
            "levels",
            "updated_after",
        ],
        headers: &["If-None-Match"],
        errors: &[INVALID],
        ..doc(
            "Read one or more collections, or one item (ButterCMS `keys=`)",
            "content",
            (200, Some("KeysRead")),
        )
    },
};
pub const LIST_ITEMS: Endpoint = Endpoint {
    function: "list-items",
    method: "GET",
    route: read::LIST,
    handler: |app, req| Box::pin(read::list(app, req)),
    doc: Doc {
        path: &["collection_keys"],
        query: READ_QUERY,
        headers: &["If-None-Match"],
        errors: &[INVALID],
        ..doc(
            "List a collection's items (published only unless preview=1; filter with \
             `fields.<name>=<value>`, a parameter name OpenAPI cannot declare)",
            "content",
            (200, Some("ListRead")),
        )
    },
};
pub const GET_ITEM: Endpoint = Endpoint {
    function: "get-item",
    method: "GET",
    route: read::GET,
    handler: |app, req| Box::pin(read::get(app, req)),
    doc: Doc {
        query: &["locale", "preview", "levels"],
        headers: &["If-None-Match"],
        errors: &[INVALID],
        ..doc("Read one item", "content", (200, Some("Item")))
    },
};
const WRITE_ERRORS: &[(u16, &str)] = &[INVALID, CONFLICT, STALE, TOO_LARGE];
pub const REPLACE_ITEM: Endpoint = Endpoint {
    function: "replace-item",
    method: "PUT",
    route: update::REPLACE,
    handler: |app, req| Box::pin(update::replace(app, req)),
    doc: Doc {
        body: Some("ReplaceBody"),
        headers: &["If-Match"],
        errors: WRITE_ERRORS,
        ..doc(
            "Replace every field of an item",
            "content",
            (202, Some("Written")),
        )
    },
};
pub const PATCH_ITEM: Endpoint = Endpoint {
    function: "patch-item",
    method: "PATCH",
    route: update::PATCH,
    handler: |app, req| Box::pin(update::patch(app, req)),
    doc: Doc {
        body: Some("PatchBody"),
        headers: &["If-Match"],
        errors: WRITE_ERRORS,
        ..doc(
            "Change some fields or the status of an item",
            "content",
            (202, Some("Written")),
        )
    },
};
pub const UNPUBLISH_ITEM: Endpoint = Endpoint {
    function: "unpublish-item",
    method: "POST",
    route: update::UNPUBLISH,
    handler: |app, req| Box::pin(update::unpublish(app, req)),
    doc: Doc {
        headers: &["If-Match"],
        errors: &[REFUSED, CONFLICT, STALE],
        ..doc(
            "Take an item off the live site; its newest content stays as a draft",
            "content",
            (202, Some("Written")),
        )
    },
};
pub const DELETE_ITEM: Endpoint = Endpoint {
    function: "delete-item",
    method: "DELETE",
    route: delete::DELETE,
    handler: |app, req| Box::pin(delete::handle(app, req)),
    doc: Doc {
        headers: &["If-Match"],
        errors: &[(400, "Referenced"), CONFLICT, STALE],
        ..doc(
            "Soft-delete an item (refused while a restrict reference holds it)",
            "content",
            (204, None),
        )
    },
};
pub const BATCH_DELETE: Endpoint = Endpoint {
    function: "batch-delete",
    method: "POST",
    route: delete::BATCH,
    handler: |app, req| Box::pin(delete::batch(app, req)),
    doc: Doc {
        body: Some("BatchDeleteBody"),
        errors: &[(400, "BatchDeleteErrors")],
        ..doc(
            "Delete up to 100 items by id (Flotiq)",
            "content",
            (200, Some("BatchDeleted")),
        )
    },
};
pub const LIST_DELETED: Endpoint = Endpoint {
    function: "list-deleted",
    method: "GET",
    route: trash::LIST,
    handler: |app, req| Box::pin(trash::list(app, req)),
    doc: Doc {
        query: &["deleted_after", "page", "trash_page_size"],
        errors: &[INVALID],
        ..doc(
            "List deleted items, oldest deletion first",
            "trash",
            (200, Some("DeletedList")),
        )
    },
};
pub const RESTORE_ITEM: Endpoint = Endpoint {
    function: "restore-item",
    method: "POST",
    route: trash::RESTORE,
    handler: |app, req| Box::pin(trash::restore(app, req)),
    doc: Doc {
        headers: &["If-Match"],
        errors: &[REFUSED, CONFLICT, STALE],
        ..doc(
            "Restore a deleted item with its references",
            "trash",
            (200, Some("Restored")),
        )
    },
};
pub const LIST_VERSIONS: Endpoint = Endpoint {
    function: "list-versions",
    method: "GET",
    route: versions::LIST,
    handler: |app, req| Box::pin(versions::list(app, req)),
    doc: Doc {
        query: &["versions_page_size", "versions_cursor"],
        headers: &["If-None-Match"],
        errors: &[INVALID],
        ..doc(
            "An item's versions, newest first",
            "versions",
            (200, Some("VersionList")),
        )
    },
};
pub const GET_VERSION: Endpoint = Endpoint {
    function: "get-version",
    method: "GET",
    route: versions::GET,
    handler: |app, req| Box::pin(versions::get(app, req)),
    doc: Doc {
        query: &["locale"],
        headers: &["If-None-Match"],
        errors: &[INVALID],
        ..doc(
            "One version, as an item read shows it",
            "versions",
            (200, Some("Item")),
        )
    },
};
pub const COMPARE_VERSIONS: Endpoint = Endpoint {
    function: "compare-versions",
    method: "GET",
    route: versions::COMPARE,
    handler: |app, req| Box::pin(versions::compared(app, req)),
    doc: Doc {
        headers: &["If-None-Match"],
        ..doc(
            "What differs from one version of an item to another, field by field",
            "versions",
            (200, Some("VersionComparison")),
        )
    },
};
pub const REVERT_VERSION: Endpoint = Endpoint {
    function: "revert-version",
    method: "POST",
    route: versions::REVERT,
    handler: |app, req| Box::pin(versions::revert(app, req)),
    doc: Doc {
        body: Some("RevertBody"),
        body_optional: true,
        headers: &["If-Match"],
        errors: WRITE_ERRORS,
        ..doc(
            "Make a version's content the item's newest again, as a new version (a draft unless published)",
            "versions",
            (202, Some("Reverted")),
        )
    },
};
pub const CREATE_SCHEDULE: Endpoint = Endpoint {
    function: "create-schedule",
    method: "POST",
    route: schedules::CREATE,
    handler: |app, req| Box::pin(schedules::create(app, req)),
    doc: Doc {
        body: Some("ScheduleRequest"),
        created: Some("Schedule"),
        errors: &[INVALID, CONFLICT],
        ..doc(
            "Schedule the item's publish (of its newest version) or unpublish at a time (201)",
            "schedules",
            (201, Some("Schedule")),
        )
    },
};
pub const LIST_SCHEDULES: Endpoint = Endpoint {
    function: "list-schedules",
    method: "GET",
    route: schedules::LIST,
    handler: |app, req| Box::pin(schedules::list(app, req)),
    doc: Doc {
        headers: &["If-None-Match"],
        ..doc(
            "An item's schedules, newest first (ended ones for 30 days)",
            "schedules",
            (200, Some("ScheduleList")),
        )
    },
};
pub const CANCEL_SCHEDULE: Endpoint = Endpoint {
    function: "cancel-schedule",
    method: "DELETE",
    route: schedules::CANCEL,
    handler: |app, req| Box::pin(schedules::cancel(app, req)),
    doc: Doc {
        errors: &[CONFLICT],
        ..doc("Cancel a pending schedule", "schedules", (204, None))
    },
};
pub const LIST_ORG_SCHEDULES: Endpoint = Endpoint {
    function: "list-org-schedules",
    method: "GET",
    route: schedules::ORG_LIST,
    handler: |app, req| Box::pin(schedules::org_list(app, req)),
    doc: Doc {
        query: &["schedule_state", "schedules_page_size", "schedules_cursor"],
        headers: &["If-None-Match"],
        errors: &[INVALID],
        ..doc(
            "The organization's schedules across collections, by time, paged",
            "schedules",
            (200, Some("ScheduleList")),
        )
    },
};
pub const PUT_WEBHOOK: Endpoint = Endpoint {
    function: "put-webhook",
    method: "PUT",
    route: webhooks::PUT,
    handler: |app, req| Box::pin(webhooks::put(app, req)),
    doc: Doc {
        body: Some("WebhookSpec"),
        created: Some("WebhookCreated"),
        errors: &[INVALID, CONFLICT],
        ..doc(
            "Register (operation `create`) or change (`update`) a webhook endpoint (201 with its secret when new)",
            "webhooks",
            (200, Some("WebhookBody")),
        )
    },
};
pub const GET_WEBHOOK: Endpoint = Endpoint {
    function: "get-webhook",
    method: "GET",
    route: webhooks::GET,
    handler: |app, req| Box::pin(webhooks::get(app, req)),
    doc: doc(
        "Read a webhook endpoint (never its secret)",
        "webhooks",
        (200, Some("WebhookBody")),
    ),
};
pub const LIST_WEBHOOKS: Endpoint = Endpoint {
    function: "list-webhooks",
    method: "GET",
    route: webhooks::LIST,
    handler: |app, req| Box::pin(webhooks::list(app, req)),
    doc: Doc {
        query: &["webhooks_page_size", "webhooks_cursor"],
        errors: &[INVALID],
        ..doc(
            "List webhook endpoints, a page at a time by id",
            "webhooks",
            (200, Some("WebhookPage")),
        )
    },
};
pub const DELETE_WEBHOOK: Endpoint = Endpoint {
    function: "delete-webhook",
    method: "DELETE",
    route: webhooks::DELETE,
    handler: |app, req| Box::pin(webhooks::delete(app, req)),
    doc: Doc {
        errors: &[REFUSED, CONFLICT],
        ..doc("Delete a webhook endpoint", "webhooks", (204, None))
    },
};
pub const ROTATE_WEBHOOK_SECRET: Endpoint = Endpoint {
    function: "rotate-webhook-secret",
    method: "POST",
    route: webhooks::ROTATE,
    handler: |app, req| Box::pin(webhooks::rotate(app, req)),
    doc: Doc {
        errors: &[REFUSED, CONFLICT],
        ..doc(
            "Rotate the signing secret (the old one signs too for 24 h)",
            "webhooks",
            (200, Some("WebhookRotated")),
        )
    },
};
pub const TEST_WEBHOOK: Endpoint = Endpoint {
    function: "test-webhook",
    method: "POST",
    route: webhooks::TEST,
    handler: |app, req| Box::pin(webhooks::test(app, req)),
    doc: Doc {
        errors: &[REFUSED, CONFLICT],
        ..doc(
            "Send a signed webhook.test ping now",
            "webhooks",
            (200, Some("AttemptSent")),
        )
    },
};
pub const LIST_WEBHOOK_DELIVERIES: Endpoint = Endpoint {
    function: "list-webhook-deliveries",
    method: "GET",
    route: webhooks::DELIVERIES,
    handler: |app, req| Box::pin(webhooks::deliveries(app, req)),
    doc: Doc {
        query: &["deliveries_page_size"],
        errors: &[INVALID],
        ..doc(
            "The last delivery attempts, newest first",
            "webhooks",
            (200, Some("AttemptPage")),
        )
    },
};
pub const RETRY_WEBHOOK_DELIVERY: Endpoint = Endpoint {
    function: "retry-webhook-delivery",
    method: "POST",
    route: webhooks::RETRY,
    handler: |app, req| Box::pin(webhooks::retry(app, req)),
    doc: Doc {
        errors: &[REFUSED, CONFLICT],
        ..doc(
            "Re-send one delivery now",
            "webhooks",
            (200, Some("AttemptSent")),
        )
    },
};

pub const ENDPOINTS: [Endpoint; 32] = [
    PUT_COLLECTION,
    GET_COLLECTION,
    DELETE_COLLECTION,
    LIST_COLLECTIONS,
    CREATE_ITEM,
    CREATE_ITEM_IN,
    READ_CONTENT,
    LIST_ITEMS,
    GET_ITEM,
    REPLACE_ITEM,
    PATCH_ITEM,
    UNPUBLISH_ITEM,
    DELETE_ITEM,
    BATCH_DELETE,
    LIST_DELETED,
    RESTORE_ITEM,
    LIST_VERSIONS,
    GET_VERSION,
    COMPARE_VERSIONS,
    REVERT_VERSION,
    CREATE_SCHEDULE,
    LIST_SCHEDULES,
    CANCEL_SCHEDULE,
    LIST_ORG_SCHEDULES,
    PUT_WEBHOOK,
    GET_WEBHOOK,
    LIST_WEBHOOKS,
    DELETE_WEBHOOK,
    ROTATE_WEBHOOK_SECRET,
    TEST_WEBHOOK,
    LIST_WEBHOOK_DELIVERIES,
    RETRY_WEBHOOK_DELIVERY,
];

impl Endpoint {
    /// Its OpenAPI operation id, unique per row.
    pub fn operation_id(&self) -> &'static str {
        self.doc.operation_id.unwrap_or(self.function)
    }
}

/// Functions that consume events rather than serve HTTP.
pub const CONSUMERS: [&str; 3] = ["relay", "worker", "deliver"];

/// Every HTTP function, once, in table order.
pub fn functions() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in &ENDPOINTS {
        if !out.contains(&e.function) {
            out.push(e.function);
        }
    }
    out
}

/// The endpoint a method and path reach, as API Gateway picks it: with or
/// without the trailing slash, literal segments before parameters.
pub fn endpoint(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .filter(|e| e.method == method && path_matches(e.route.pattern, path))
        .min_by_key(|e| e.route.pattern.matches('{').count())
}

/// Runs the handler of `function` (the rows of a function share one).
pub async fn handle(app: &App, function: &str, req: Request) -> Result<Response<Body>, Infallible> {
    match ENDPOINTS.iter().find(|e| e.function == function) {
        Some(e) => (e.handler)(app, req).await,
        None => Ok(error_response(&Error::NotFound, "")),
    }
}

/// A function's `main`: serves the row of the table whose function is
/// `function` (the binary's package name) on the Lambda runtime.
pub async fn serve(function: &str) -> Result<(), lambda_http::Error> {
    crate::init_tracing();
    let Some(e) = ENDPOINTS.iter().find(|e| e.function == function) else {
        return Err(format!("{function} is not a function of the endpoint table").into());
    };
    let app = App::from_env().await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| (e.handler)(app, req))).await
}

/// Serves a request in process as API Gateway and the functions would.
pub async fn dispatch(app: &App, req: Request) -> Response<Body> {
    let found = endpoint(req.method().as_str(), req.uri().path());
    let response = match found {
        Some(e) => handle(app, e.function, req).await,
        None => Ok(error_response(&Error::NotFound, "")),
    };
    match response {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests;
