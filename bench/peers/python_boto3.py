"""A peer for Folio's cold start: the delete of an item written as a Python
Lambda function with boto3 would be, with the AWS Lambda Runtime API loop
Lambda's own Python runtime runs (its `awslambdaric` does the same three
calls). What it does per request is what Folio's delete does at its core:
one conditional write to the same table (`FOLIO_TABLE`), the item's soft
delete. `bench/src/main.rs` starts it beside Folio's functions.
"""

import json
import os
import time
import urllib.request

import boto3  # imported at init, as a Python function would

TABLE = os.environ["FOLIO_TABLE"]
ORG = os.environ["FOLIO_PEER_ORG"]
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
ddb = boto3.client("dynamodb")  # made at init, reused by every request


def handle(event):
    params = event.get("pathParameters") or {}
    key = {
        "pk": {"S": f"ITEM#{ORG}#{params.get('collection_key')}#{params.get('item_id')}"},
        "sk": {"S": "ITEM"},
    }
    try:
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET deleted_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(deleted_at)",
            ExpressionAttributeValues={":now": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ")}},
        )
        return {"statusCode": 204, "body": ""}
    except ddb.exceptions.ConditionalCheckFailedException:
        return {"statusCode": 404, "body": json.dumps({"detail": "Not found."})}


while True:
    with urllib.request.urlopen(API + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = json.dumps(handle(event)).encode()
    urllib.request.urlopen(urllib.request.Request(API + request_id + "/response", data=body, method="POST")).read()
