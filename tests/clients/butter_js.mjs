// The official ButterCMS JavaScript client (npm buttercms, unmodified)
// reading Folio through GET /v2/content/?keys=…, as its users call it. The
// client has no base-URL setting, so its requests to api.buttercms.com are
// sent to Folio by wrapping fetch.
//
// Run by scripts/contract.sh with FOLIO_API, FOLIO_TOKEN, FOLIO_ADA and
// FOLIO_NODE_MODULES set (people Ada, Grace, Linus and one post by Ada).
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const { FOLIO_API: api, FOLIO_TOKEN: token, FOLIO_ADA: ada } = process.env;
const require = createRequire(`${process.env.FOLIO_NODE_MODULES}/`);
// The package's CommonJS build exports the factory as `default`.
const Butter = require("buttercms").default;

const realFetch = globalThis.fetch;
const requested = [];
globalThis.fetch = (url, init) => {
  const rewritten = String(url).replace("https://api.buttercms.com/v2", `${api}/v2`);
  assert.notEqual(rewritten, String(url), "the client called another host");
  requested.push(rewritten);
  return realFetch(rewritten, init);
};

const butter = Butter(token);

const one = await butter.content.retrieve(["people"]);
assert.deepEqual(one.data.data.people.map((p) => p.name), ["Ada", "Grace", "Linus"]);
assert.equal(one.data.meta.count, 3);

const page = await butter.content.retrieve(["people"], { page_size: 2, order: "-name" });
assert.deepEqual(page.data.data.people.map((p) => p.name), ["Linus", "Grace"]);
assert.equal(page.data.meta.next_page, 2);

const both = await butter.content.retrieve(["people", "posts"], { levels: 1, page_size: 1 });
const post = both.data.data.posts[0];
assert.equal(post.title, "Hello");
assert.equal(post.author, `/v2/content/?keys=people[_id=${ada}]`);
const author = await butter.content.retrieve([post.author.split("keys=")[1]]);
assert.equal(author.data.data.people[0].name, "Ada");

const expanded = await butter.content.retrieve(["posts"]);
assert.equal(expanded.data.data.posts[0].author.name, "Ada");

await assert.rejects(butter.content.retrieve(["no_such_collection"]), (e) => {
  assert.equal(e.cause?.status, 404, String(e));
  return true;
});

// The client puts the keys in the path (`/v2/content/people,posts/`),
// which Folio reads as `?keys=`. Never print the token the URLs carry.
const shown = requested.map((u) => u.replace(/auth_token=[^&]*/, "auth_token=…"));
assert.ok(requested.every((u) => u.startsWith(`${api}/v2/content/`)), shown.join("\n"));
assert.ok(shown.some((u) => u.includes("/v2/content/people,posts/")), shown.join("\n"));
console.log(`buttercms (npm): ${requested.length} reads as documented`);
