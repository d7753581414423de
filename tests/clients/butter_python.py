"""The official ButterCMS Python client (PyPI buttercms-python, unmodified)
reading Folio through GET /v2/content/?keys=…, as its users call it.

Run by scripts/contract.sh with FOLIO_API, FOLIO_TOKEN and FOLIO_ADA set
(people Ada, Grace, Linus and one post by Ada, all published).
"""

import os

from butter_cms import ButterCMS
from requests.exceptions import HTTPError

api = os.environ["FOLIO_API"]
token = os.environ["FOLIO_TOKEN"]
ada = os.environ["FOLIO_ADA"]

butter = ButterCMS(token)
# The client's one base-URL setting: its `url` attribute.
butter.content_fields.url = f"{api}/v2/"

# One key: the collection's list, Butter's shape, `meta` included.
one = butter.content_fields.get(["people"])
names = [p["name"] for p in one["data"]["people"]]
assert names == ["Ada", "Grace", "Linus"], one
assert one["meta"]["count"] == 3, one

# The list parameters pass through the client's params.
page = butter.content_fields.get(["people"], {"page_size": 2, "order": "-name"})
assert [p["name"] for p in page["data"]["people"]] == ["Linus", "Grace"], page
assert page["meta"]["next_page"] == 2, page
engineers = butter.content_fields.get(["people"], {"fields.role": "designer"})
assert [p["name"] for p in engineers["data"]["people"]] == ["Grace"], engineers

# Several keys at once; with levels=1 a reference renders as a link that
# the same client call resolves.
both = butter.content_fields.get(["people", "posts"], {"levels": 1, "page_size": 1})
assert [p["name"] for p in both["data"]["people"]] == ["Ada"], both
post = both["data"]["posts"][0]
assert post["title"] == "Hello", post
link = post["author"]
assert link == f"/v2/content/?keys=people[_id={ada}]", link
key = link.split("keys=", 1)[1]
author = butter.content_fields.get([key])
assert author["data"]["people"][0]["name"] == "Ada", author

# Expanded (levels 2, the default): the author inline.
expanded = butter.content_fields.get(["posts"])
assert expanded["data"]["posts"][0]["author"]["name"] == "Ada", expanded

# The client raises on anything but 200.
try:
    butter.content_fields.get(["no_such_collection"])
    raise AssertionError("an unknown collection must not read as 200")
except HTTPError as e:
    assert e.args[0] == 404, e.args

print("buttercms-python: 6 reads as documented")
