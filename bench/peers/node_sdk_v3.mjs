// A peer for Folio's cold start: the delete of an item written as a Node.js
// Lambda function with the AWS SDK v3 (`@aws-sdk/client-dynamodb`, the
// runtime of Webiny's functions), with the Runtime API loop Lambda's own
// Node.js runtime runs. Per request it does what Folio's delete does at its
// core: one conditional write to the same table, the item's soft delete.
// `scripts/bench.sh` installs the SDK, pinned; `bench/src/main.rs` starts it.

import { DynamoDBClient, UpdateItemCommand, ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";

const TABLE = process.env.FOLIO_TABLE;
const ORG = process.env.FOLIO_PEER_ORG;
const API = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/`;
const ddb = new DynamoDBClient({}); // made at init, reused by every request

async function handle(event) {
  const p = event.pathParameters ?? {};
  try {
    await ddb.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: `ITEM#${ORG}#${p.collection_key}#${p.item_id}` }, sk: { S: "ITEM" } },
      UpdateExpression: "SET deleted_at = :now",
      ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(deleted_at)",
      ExpressionAttributeValues: { ":now": { S: new Date().toISOString() } },
    }));
    return { statusCode: 204, body: "" };
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException) {
      return { statusCode: 404, body: JSON.stringify({ detail: "Not found." }) };
    }
    throw e;
  }
}

for (;;) {
  const next = await fetch(API + "next");
  const id = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  const result = await handle(event);
  await fetch(API + id + "/response", { method: "POST", body: JSON.stringify(result) });
}
