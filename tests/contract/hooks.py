"""Schemathesis hooks for scripts/contract.sh.

`cargo lambda watch` (the local stand-in for API Gateway) answers 500
itself, before any function runs, to a body that is not UTF-8 and to a
header value that is not ASCII; API Gateway instead hands such bodies to
the function base64-encoded. Those inputs are kept out of the emulator run
here and sent to every handler directly by tests/tests/suite/fuzz_handlers.rs.

positive_data_acceptance holds the server to accept what openapi.yaml
allows; `filter_failure` excuses, one by one, the refusals OpenAPI cannot
state (REFUSALS below, each with its reason).
"""

import json
import os
import re

import schemathesis


def _utf8(value) -> bool:
    try:
        if isinstance(value, (bytes, bytearray)):
            bytes(value).decode("utf-8")
        elif isinstance(value, str):
            value.encode("utf-8")
        elif isinstance(value, dict):
            return all(_utf8(k) and _utf8(v) for k, v in value.items())
        elif isinstance(value, list):
            return all(_utf8(v) for v in value)
    except UnicodeError:
        return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    return _utf8(body)


@schemathesis.hook
def filter_headers(ctx, headers):
    if not headers:
        return True
    return all(str(v).isascii() and str(k).isascii() for k, v in headers.items())


# A reference field's collection must exist: the keys the generator
# invents there become the run's seeded collections (a valid key stays a
# valid key, so a case stays as positive or negative as it was). The
# coverage phase's cases do not pass through this hook.
SEEDED = os.environ.get("FOLIO_CONTRACT_COLLECTIONS", "people").split(",")
KEY = r"[a-z][a-z0-9_]{0,63}"


@schemathesis.hook
def map_body(ctx, body):
    if _operation_id(ctx.operation) != "put-collection" or not isinstance(body, dict):
        return body
    fields = body.get("fields")
    if not isinstance(fields, list):
        return body
    body = dict(body, fields=[dict(f) if isinstance(f, dict) else f for f in fields])
    for f in body["fields"]:
        target = isinstance(f, dict) and f.get("type") == "reference" and f.get("collection")
        if isinstance(target, str) and re.fullmatch(KEY, target):
            f["collection"] = SEEDED[len(target) % len(SEEDED)]
    return body


def _operation_id(operation):
    return operation.definition.raw.get("operationId") if operation else None


# Refusals that schema-valid data may rightly meet, each a rule OpenAPI
# cannot state or one over the run's own data: (operations, error key,
# message), and why. A failure of positive_data_acceptance is dropped only
# when every error its 400 names is one of these; any other is kept.
READS = {"read-content", "list-items", "get-item", "get-version"}
LISTS = {"read-content", "list-items"}
FIELD = r"fields\[\d+\]"
REFUSALS = [
    # The contract's organization has no locales, so a well-formed locale
    # is still none of its own (localized reads: tests/tests/suite/items.rs).
    (READS, r"locale", r"Unknown locale for this organization\."),
    # A cursor is opaque: only a meta.next_cursor as issued, for the same
    # order and filter, one collection, without page.
    (LISTS | {"list-webhooks", "list-versions", "list-org-schedules"}, r"cursor", r".*"),
    # A schedule's time is relative to now: a minute to five years ahead.
    ({"create-schedule"}, r"at", r"Must be (\d+ s or more ahead|within the next 5 years)"),
    # Which fields a collection has is run-time data.
    (LISTS, r"order", r"Order by a field of the collection"),
    # Each collection once: a uniqueness among the list's parts.
    (LISTS, r"keys", r"Name each collection once\."),
    # A schema's cross-field rules: at most 5 indexed fields, min <= max.
    ({"put-collection"}, r"fields", r"At most 5 fields of a collection may be indexed\."),
    # Field keys distinct: a uniqueness of one property across the list.
    ({"put-collection"}, FIELD + r"\.key", r"Duplicate field key "),
    ({"put-collection"}, FIELD + r"\.min_length", r"min_length is greater than max_length\."),
    ({"put-collection"}, FIELD + r"\.min", r"min must be a finite number no greater than max\."),
    # Whether a pattern compiles is Rust regex-lite's syntax, not JSON Schema's.
    ({"put-collection"}, FIELD + r"\.pattern", r"Not a valid regular expression"),
    # A referenced collection must exist (map_body above supplies seeded
    # ones, but the coverage phase's values do not pass through it).
    ({"put-collection"}, FIELD + r"\.collection", r"Unknown collection "),
]
# Batch delete names each id it could not delete: unknown ids, and items a
# restrict reference holds, are run-time data.
BATCH_REFUSAL = r'Content object: ".*" (doesn\'t exist|is used in another content object\.)'


def _excused(case, response) -> bool:
    op = _operation_id(case.operation)
    status = response.status_code
    # If-Match names a version the item may have moved past.
    if status == 412 and op in {"delete-item", "restore-item", "unpublish-item", "revert-version"}:
        return True
    # A revert meets today's references: a restrict target the run has
    # deleted since that version refuses it (the detail names the target).
    if status == 409 and op == "revert-version":
        try:
            detail = json.loads(response.content).get("detail", "")
        except (ValueError, AttributeError):
            return False
        return bool(re.fullmatch(r"Version \d+ references .*, which no longer exists; .*", detail))
    # One pending schedule per action and item, and only a pending one can
    # be cancelled: the run's own data.
    if status == 409 and op in {"create-schedule", "cancel-schedule"}:
        try:
            detail = json.loads(response.content).get("detail", "")
        except (ValueError, AttributeError):
            return False
        return bool(re.match(r"This (item has a pending|schedule has ended)", detail))
    # A whole collection definition past 64 KB (each part within its bound).
    if status == 413 and op == "put-collection":
        return True
    if status != 400:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    # JSON Schema counts 3.0 as an integer; serde reads a length rule (u64)
    # only from an integer literal.
    if op == "put-collection" and re.fullmatch(
        r"Invalid request body: invalid type: floating point `[-+.e0-9]+`, expected u64 .*",
        body.get("detail", ""),
    ):
        return True
    # An item a restrict reference holds.
    if op == "delete-item" and "referenced_by" in body:
        return True
    # A revert checks a version's stored values against today's schema,
    # which the run changes (put-collection): any field may no longer
    # validate. Its only 400s with per-field errors are these.
    if op == "revert-version" and isinstance(body.get("errors"), dict) and body["errors"]:
        return True
    if op == "batch-delete":
        errors = body.get("errors") or []
        return bool(errors) and all(re.fullmatch(BATCH_REFUSAL, e) for e in errors)
    errors = body.get("errors")
    if not isinstance(errors, dict) or not errors:
        return False
    if body.get("errors_total") != sum(len(m) for m in errors.values()):
        return False  # some errors are not shown: they cannot be judged
    return all(
        any(
            op in ops and re.fullmatch(key, k) and re.match(message, m)
            for ops, key, message in REFUSALS
        )
        for k, messages in errors.items()
        for m in messages
    )


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Keeps every failure but a positive-data refusal listed above; those
    are logged to $FOLIO_CONTRACT_EXCUSED (one JSON line each), if set."""
    if getattr(failure, "code", None) != "ST202" or not _excused(case, response):
        return True
    log = os.environ.get("FOLIO_CONTRACT_EXCUSED")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            line = {
                "operation": _operation_id(case.operation),
                "status": response.status_code,
                "body": response.content.decode("utf-8", "replace")[:2000],
            }
            f.write(json.dumps(line) + "\n")
    return False
