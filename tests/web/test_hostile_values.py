"""Every route, every hostile value: no request gets a 500 or a dropped connection (issue 7, finding 14).

A table names each route the server has (a test checks that the table is complete, so a new route must join it).
Each route is called, as a site admin so that the handlers get past authorization to their parsing, with:
- each path parameter replaced by a hostile value (NUL, invalid UTF-8, a lone surrogate, huge or negative numbers,
  bidi controls, traversal);
- `?p=`, `?cursor=`, `?limit=` huge, negative, non-numeric, NUL or invalid UTF-8;
- bodies that are deeply nested, hold NaN / Infinity / 1e400, a NUL or a lone surrogate, or put a huge number,
  a huge float, a boolean or the wrong type under every key the JSON API reads.
Every answer must be below 500 and, when it is an error, carry X-Error-Code and X-Error-Message. Requests go over
http.client, which sends the request target byte for byte. A small hypothesis run then fuzzes a few routes.
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inhouse.web import api as web_api
from inhouse.web import hub as web_hub
from inhouse.web.routing import Router
from inhouse.vocabulary import TokenRole
from tests.support.live import LiveServer

OID = "a" * 64
ROUTES: list[tuple[str, str]] = [
    ("GET", "/api/whoami-v2"),
    ("POST", "/api/repos/create"),
    ("DELETE", "/api/repos/delete"),
    ("POST", "/api/repos/move"),
    ("GET", "/api/models"),
    ("GET", "/api/models/{ns}/{name}"),
    ("GET", "/api/models/{ns}/{name}/revision/{rev}"),
    ("PUT", "/api/models/{ns}/{name}/settings"),
    ("GET", "/api/models/{ns}/{name}/tree/{rev}/{path}"),
    ("POST", "/api/models/{ns}/{name}/paths-info/{rev}"),
    ("GET", "/api/models/{ns}/{name}/refs"),
    ("GET", "/api/models/{ns}/{name}/commits/{rev}"),
    ("POST", "/api/models/{ns}/{name}/branch/{branch}"),
    ("DELETE", "/api/models/{ns}/{name}/branch/{branch}"),
    ("POST", "/api/models/{ns}/{name}/tag/{rev}"),
    ("DELETE", "/api/models/{ns}/{name}/tag/{tag}"),
    ("GET", "/api/models/{ns}/{name}/lifecycle"),
    ("POST", "/api/models/{ns}/{name}/promotions"),
    ("GET", "/api/models/{ns}/{name}/approvals"),
    ("GET", "/api/models/{ns}/{name}/approvals/{num}"),
    ("POST", "/api/models/{ns}/{name}/approvals/{num}/approve"),
    ("POST", "/api/models/{ns}/{name}/approvals/{num}/reject"),
    ("POST", "/api/models/{ns}/{name}/approvals/{num}/cancel"),
    ("GET", "/api/models/{ns}/{name}/governance"),
    ("GET", "/api/models/{ns}/{name}/factsheet"),
    ("POST", "/api/models/{ns}/{name}/quarantine/{num}/release"),
    ("POST", "/api/orgs/{org}/policy/recheck"),
    ("POST", "/api/models/{ns}/{name}/preupload/{rev}"),
    ("POST", "/api/models/{ns}/{name}/commit/{rev}"),
    ("POST", "/api/models/{ns}/{name}/super-squash/{branch}"),
    ("GET", "/api/models/{ns}/{name}/lfs-files"),
    ("POST", "/api/models/{ns}/{name}/lfs-files/batch"),
    ("POST", "/api/models/{ns}/{name}/lfs-files/duplicate"),
    ("POST", "/api/models/{ns}/{name}/duplicate"),
    ("POST", "/api/validate-yaml"),
    ("POST", "/{ns}/{name}.git/info/lfs/objects/batch"),
    ("GET", "/{ns}/{name}.git/info/refs"),
    ("POST", "/{ns}/{name}.git/git-upload-pack"),
    ("POST", "/{ns}/{name}.git/git-receive-pack"),
    ("PUT", "/api/lfs-transfer/{pk}/{oid}/{size}"),
    ("PUT", "/api/lfs-transfer/{pk}/{oid}/{size}/part/{n}"),
    ("POST", "/api/lfs-transfer/{pk}/{oid}/{size}/complete"),
    ("POST", "/api/lfs-transfer/{pk}/{oid}/{size}/verify"),
    ("GET", "/api/lfs-transfer/{pk}/{oid}/{size}/get"),
    ("POST", "/api/models/{ns}/{name}/discussions"),
    ("GET", "/api/models/{ns}/{name}/discussions"),
    ("GET", "/api/models/{ns}/{name}/discussions/{num}"),
    ("POST", "/api/models/{ns}/{name}/discussions/{num}/comment"),
    ("POST", "/api/models/{ns}/{name}/discussions/{num}/comment/{cid}/edit"),
    ("POST", "/api/models/{ns}/{name}/discussions/{num}/comment/{cid}/hide"),
    ("POST", "/api/models/{ns}/{name}/discussions/{num}/title"),
    ("POST", "/api/models/{ns}/{name}/discussions/{num}/status"),
    ("POST", "/api/models/{ns}/{name}/discussions/{num}/merge"),
    ("POST", "/uploads"),
    ("GET", "/uploads/{file}"),
    ("POST", "/api/models/{ns}/{name}/user-access-request"),
    ("POST", "/api/models/{ns}/{name}/user-access-request/handle"),
    ("POST", "/api/models/{ns}/{name}/user-access-request/grant"),
    ("GET", "/api/models/{ns}/{name}/user-access-request/{status}"),
    ("POST", "/{ns}/{name}/ask-access"),
    ("GET", "/{ns}/{name}/resolve/{rev}/{path}"),
    ("HEAD", "/{ns}/{name}/resolve/{rev}/{path}"),
    ("GET", "/api/models/{ns}/{name}/xet-read-token/{rev}"),
    ("GET", "/api/models/{ns}/{name}/xet-write-token/{rev}"),
    ("POST", "/cas/v1/xorbs/default/{hash}"),
    ("POST", "/cas/v1/shards"),
    ("GET", "/cas/v1/chunks/default/{hash}"),
    ("GET", "/cas/v1/reconstructions/{hash}"),
    ("GET", "/cas/v2/reconstructions/{hash}"),
    ("GET", "/cas/xorb-data/{hash}"),
    ("POST", "/cas/v1/xorb-grants/{hash}"),
    ("POST", "/cas/v2/shards"),
    ("POST", "/cas/v1/telemetry"),
    ("POST", "/cas/u/{cache}/v1/shards"),  # the per-user CAS URL of write tokens
    ("GET", "/cas/u/{cache}/v1/chunks/default/{hash}"),
    ("POST", "/api/organizations"),
    ("GET", "/api/organizations/{org}/overview"),
    ("GET", "/api/organizations/{org}/members"),
    ("PUT", "/api/organizations/{org}/members/{user}"),
    ("DELETE", "/api/organizations/{org}/members/{user}"),
    ("GET", "/api/organizations/{org}/resource-groups"),
    ("POST", "/api/organizations/{org}/resource-groups"),
    ("GET", "/api/organizations/{org}/resource-groups/{group}"),
    ("DELETE", "/api/organizations/{org}/resource-groups/{group}"),
    ("PUT", "/api/organizations/{org}/resource-groups/{group}/members/{user}"),
    ("DELETE", "/api/organizations/{org}/resource-groups/{group}/members/{user}"),
    ("PUT", "/api/organizations/{org}/resource-groups/{group}/repos"),
    ("DELETE", "/api/organizations/{org}/resource-groups/{group}/repos"),
    ("GET", "/api/users/{user}/overview"),
    ("GET", "/api/users/{user}/likes"),
    ("POST", "/api/models/{ns}/{name}/like"),
    ("DELETE", "/api/models/{ns}/{name}/like"),
    ("GET", "/api/models/{ns}/{name}/likers"),
    ("GET", "/api/models/{ns}/{name}/auth-check"),
    ("GET", "/api/models/{ns}/{name}/auth-check/write"),
    ("GET", "/api/settings/repositories"),
    ("GET", "/api/organizations/{org}/settings/repositories"),
    ("GET", "/api/models-tags-by-type"),
    ("GET", "/api/datasets-tags-by-type"),
    ("GET", "/api/organizations/{org}/settings"),
    ("PUT", "/api/organizations/{org}/settings"),
    ("GET", "/api/collections"),
    ("POST", "/api/collections"),
    ("GET", "/api/collections/{cns}/{cslug}"),
    ("PATCH", "/api/collections/{cns}/{cslug}"),
    ("DELETE", "/api/collections/{cns}/{cslug}"),
    ("POST", "/api/collections/{cns}/{cslug}/items"),
    ("PATCH", "/api/collections/{cns}/{cslug}/items/{item}"),
    ("DELETE", "/api/collections/{cns}/{cslug}/items/{item}"),
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens"),
    ("DELETE", "/api/tokens/{id}"),
    ("GET", "/api/audit"),
    ("GET", "/api/settings/webhooks"),
    ("POST", "/api/settings/webhooks"),
    ("GET", "/api/settings/webhooks/{hook}"),
    ("POST", "/api/settings/webhooks/{hook}"),
    ("DELETE", "/api/settings/webhooks/{hook}"),
    ("POST", "/api/settings/webhooks/{hook}/enable"),
    ("POST", "/api/settings/webhooks/{hook}/disable"),
    ("GET", "/api/settings/webhooks/{hook}/deliveries"),
    ("POST", "/api/settings/webhooks/{hook}/deliveries/{n}/resend"),
    ("GET", "/api/orgs/{org}/policy"),
    ("PUT", "/api/orgs/{org}/policy"),
    ("GET", "/api/orgs/{org}/policy/versions"),
    ("GET", "/api/orgs/{org}/policy/versions/{n}"),
    ("POST", "/api/orgs/{org}/policy/validate"),
    ("GET", "/api/orgs/{org}/use-cases"),
    ("POST", "/api/orgs/{org}/use-cases"),
    ("GET", "/api/orgs/{org}/use-cases/{slug}"),
    ("PATCH", "/api/orgs/{org}/use-cases/{slug}"),
    ("DELETE", "/api/orgs/{org}/use-cases/{slug}"),
    ("POST", "/api/orgs/{org}/use-cases/{slug}/models"),
    ("DELETE", "/api/orgs/{org}/use-cases/{slug}/models"),
    ("GET", "/api/datasets/{ns}/{name}/leaderboard"),
    ("GET", "/api/models/{ns}/{name}/safetensors-metadata/{path}"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("GET", "/api/jobs/{id}/logs"),
    ("POST", "/api/jobs/{id}/cancel"),
    ("GET", "/api/evaluations"),
    ("POST", "/api/evaluations"),
    ("GET", "/api/evaluations/{id}"),
    ("POST", "/api/evaluations/{id}/cancel"),
    ("GET", "/api/evaluations/{id}/pareto.svg"),
    ("POST", "/api/evaluations/{id}/save-variant"),
    ("GET", "/api/leaderboards/{task}/datasets/{ns}/{name}"),
    ("GET", "/api/leaderboards/{task}/datasets/{ns}/{name}.png"),
]

BAD_SEGMENTS = [
    "%00", "%ED%A0%80", "%FF%FE", "99999999999999999999999", "-5", "%E2%80%AE", "%0A", "..", "%2e%2e%2f",
    "x" * 2000, "%F0%9F%98%80", "1e308", "3000000000", "9223372036854775808",
]
BAD_NUMBERS = ["99999999999999999999999", "3000000000", "9223372036854775807", "-5", "x", "%00", "%ED%A0%80", "1e3",
               "%EF%BC%91", "0x10", ""]
PAGING = ["p", "cursor", "limit"]
# every key the JSON API reads, so that each handler finds its keys holding a hostile value
KEYS = [
    "item", "theme", "position", "namespace", "resourceGroupId",  # collections
    "name", "type", "organization", "private", "visibility", "gated", "fromRepo", "toRepo", "fullname",
    "description", "role", "user", "title", "pullRequest", "paths", "expand", "files", "gitIgnore", "tag",
    "message", "startingPoint", "status", "requestId", "rejectionReason", "fields", "expiresInDays", "scopes",
    "operation", "transfers", "objects", "hash_algo", "ref", "oid", "size", "parts", "content", "key", "value",
    "task", "dataset", "candidates", "variants", "maxExamples", "tolerance", "pricePerHour", "resamples", "seed",
    "writeResults", "note", "maxNewTokens", "model", "variant", "target", "comment", "defaultPrivate",
    "document", "parentVersion",  # org policies
    "stage", "revision", "reason", "replacement",  # lifecycle
    "riskTier", "purpose", "owner", "slug", "repo",  # use cases
]
HOSTILE = [99999999999999999999999, -5, 1e308, -1e308, True, None, [], {}, "\u202e", "x" * 5000, [[[[[]]]]],
           {"oid": OID, "size": 10**30, "partNumber": 10**30}, [{"oid": OID, "size": -1}]]
RAW_BODIES = [
    b"[" * 100_000, b'{"a":' * 50_000, b'{"name": NaN}', b'{"name": Infinity}', b'{"name": 1e400}',
    b'{"name": "\\u0000"}', b'{"name": "\\ud800"}', b'"just a string"', b"\xff\xfe", b"{", b"[1e999999999]",
    b"1" * 5000,
]


@dataclass
class World:
    server: LiveServer
    token: str
    values: dict[str, str]  # what each placeholder is filled with when it is not the one made hostile
    doomed: dict[str, str]  # the same for DELETE routes: things that may go (not the group or branch others use)


@pytest.fixture(scope="module", params=["server", "pg_server"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """The same routes on SQLite and on PostgreSQL (which refuses a NUL in text, where SQLite stores it)."""
    from inhouse.services import users

    server: LiveServer = request.getfixturevalue(request.param)
    admin = server.make_user(admin=True)
    token = server.make_token(admin, "write")
    api = server.api(token)
    name = f"r{uuid.uuid4().hex[:8]}"
    repo_id = f"{admin}/{name}"
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="sub/a.txt", repo_id=repo_id)
    for n in ("1", "2"):
        api.create_branch(repo_id, branch=f"b{n}")
        api.create_tag(repo_id, tag=f"t{n}")
    cid = api.create_discussion(repo_id, title="a discussion", description="first").events[0].id
    api.create_pull_request(repo_id, title="a pull request")
    org = f"o{uuid.uuid4().hex[:8]}"
    members = [server.make_user(), server.make_user()]
    _request(server, "POST", "/api/organizations", token, json.dumps({"name": org}).encode())
    for m in members:
        _request(server, "PUT", f"/api/organizations/{org}/members/{m}", token, json.dumps({"role": "read"}).encode())
    for g in ("g1", "g2"):
        _request(server, "POST", f"/api/organizations/{org}/resource-groups", token, json.dumps({"name": g}).encode())
    for slug in ("uc", "uc2"):
        _request(server, "POST", f"/api/orgs/{org}/use-cases", token,
                 json.dumps({"title": "A use case", "slug": slug, "riskTier": "limited"}).encode())
    spare, _ = users.create_token(server.stores, admin, role=TokenRole.READ, name="spare")
    kept, doomed = (api.create_collection(f"hostile {n}") for n in ("kept", "doomed"))
    kept_item, doomed_item = (api.add_collection_item(c.slug, repo_id, "model").items[0].item_object_id
                              for c in (kept, doomed))
    assert _request(server, "GET", f"/api/models/{repo_id}/tree/main/sub", token).status == 200
    assert _request(server, "GET", f"/api/organizations/{org}/resource-groups/g1", token).status == 200
    values = {"ns": admin, "name": name, "rev": "main", "path": "sub/a.txt", "branch": "b1", "tag": "t1",
              "num": "1", "status": "pending", "org": org, "user": members[0], "group": "g1", "id": str(spare.id),
              "slug": "uc",
              "pk": "1", "oid": OID, "size": "5", "n": "1", "hash": OID, "cache": "0123456789abcdef",
              "task": "text-classification", "cid": cid, "file": f"{OID}.png", "hook": api.create_webhook(
                  url="http://127.0.0.1:9/hook", watched=[{"type": "model", "name": repo_id}],
                  domains=["discussion"]).id}
    values.update(zip(("cns", "cslug"), kept.slug.split("/")), item=kept_item)
    yield World(server, token, values, {**values, "branch": "b2", "tag": "t2", "user": members[1], "group": "g2",
                                        "slug": "uc2",
                                        **dict(zip(("cns", "cslug"), doomed.slug.split("/"))), "item": doomed_item})


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _request(server: LiveServer, method: str, target: str, token: str | None, body: bytes | None = None,
             content_type: str = "application/json") -> Answer:
    """One request with the target sent byte for byte; a dropped connection fails the test with the target."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        if token:
            conn.putheader("Authorization", f"Bearer {token}")
        if body is not None:
            conn.putheader("Content-Type", content_type)
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    except (http.client.HTTPException, OSError) as e:
        raise AssertionError(f"{method} {target[:200]}: no answer ({e!r})") from None
    finally:
        conn.close()


def _check(answer: Answer, what: str) -> None:
    assert answer.status < 500, (what[:300], answer.status, answer.headers.get("x-error-message"))
    if answer.status == 400 and what.startswith("POST /api/validate-yaml") and b'"errors"' in answer.body:
        assert json.loads(answer.body)["errors"], what  # the Hub's answer: 400 with the card's errors listed
    elif answer.status >= 400:
        assert answer.headers.get("x-error-code"), (what[:300], answer.status, answer.headers)
        assert answer.headers.get("x-error-message"), (what[:300], answer.status, answer.headers)


def _fill(template: str, values: dict[str, str], **override: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: override.get(m.group(1), values[m.group(1)]), template)


def test_the_table_names_every_route() -> None:
    router = Router()
    web_hub.register_all(router)
    web_api.register_all(router)
    values = {"ns": "ns", "name": "name", "rev": "main", "path": "a.txt", "branch": "b", "tag": "t", "num": "1",
              "status": "pending", "org": "o", "user": "u", "group": "g", "id": "1", "pk": "1", "oid": OID,
              "size": "5", "n": "1", "hash": OID, "cache": "0123456789abcdef", "task": "retrieval",
              "hook": "0123456789abcdef01234567", "cid": "1", "file": f"{OID}.png", "cns": "u",
              "cslug": "c-" + "0" * 24, "item": "0" * 24, "slug": "uc"}
    covered = set()
    for method, template in ROUTES:
        path = _fill(template, values)
        found = [r for r in router.routes if r.pattern.match(path)
                 and (method in r.methods or (method == "HEAD" and "GET" in r.methods))]
        assert found, f"{method} {template} matches no route"
        covered.add(found[0].pattern.pattern)
    missing = [r.pattern.pattern for r in router.routes if r.pattern.pattern not in covered]
    assert not missing, f"routes missing from ROUTES: {missing}"


@pytest.mark.parametrize("method,template", ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
def test_hostile_values_never_get_a_500(world: World, method: str, template: str) -> None:
    server, token = world.server, world.token
    values = world.doomed if method == "DELETE" else world.values
    body = b"{}" if method in ("POST", "PUT", "DELETE") else None
    for name in re.findall(r"\{(\w+)\}", template):
        for bad in BAD_SEGMENTS:
            target = _fill(template, values, **{name: bad})
            _check(_request(server, method, target, token, body), f"{method} {target}")
    target = _fill(template, values)
    for param in PAGING:
        for bad in BAD_NUMBERS:
            _check(_request(server, method, f"{target}?{param}={bad}", token, body), f"{method} {target}?{param}={bad}")
    _check(_request(server, method, f"{target}?create_pr=1&expand=%00x", token, body), f"{method} {target} expand")
    if method in ("GET", "HEAD"):
        return
    for raw in RAW_BODIES:
        _check(_request(server, method, target, token, raw), f"{method} {target} body {raw[:40]!r}")
        _check(_request(server, method, target, token, raw, "application/x-ndjson"), f"{method} {target} ndjson")
    for value in HOSTILE:
        doc = {k: value for k in KEYS}
        raw = json.dumps(doc).encode()
        _check(_request(server, method, target, token, raw), f"{method} {target} all keys = {str(value)[:40]}")
        line = json.dumps({"key": "header", "value": doc}).encode() + b"\n" + json.dumps(
            {"key": "file", "value": doc}).encode()
        _check(_request(server, method, target, token, line, "application/x-ndjson"),
               f"{method} {target} ndjson keys = {str(value)[:40]}")


# a little fuzzing ------------------------------------------------------------------------------------------------

FUZZED = [("GET", "/api/models/{ns}/{name}/tree/{rev}/{path}"), ("GET", "/{ns}/{name}/resolve/{rev}/{path}"),
          ("GET", "/api/models/{ns}/{name}/commits/{rev}"), ("GET", "/api/models/{ns}/{name}/discussions/{num}"),
          ("DELETE", "/api/tokens/{id}"), ("GET", "/api/organizations/{org}/resource-groups/{group}")]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(FUZZED), segment=st.text(min_size=1, max_size=30),
       number=st.one_of(st.integers(), st.text(max_size=12)), param=st.sampled_from(PAGING))
def test_fuzzed_segments_and_numbers(world: World, route: tuple[str, str], segment: str, number: object,
                                     param: str) -> None:
    method, template = route
    encoded = quote(segment.encode("utf-8", "surrogatepass"), safe="")
    names = re.findall(r"\{(\w+)\}", template)
    target = _fill(template, world.values, **{names[len(segment) % len(names)]: encoded})
    target += f"?{param}={quote(str(number).encode('utf-8', 'surrogatepass'), safe='')}"
    _check(_request(world.server, method, target, world.token), f"{method} {target}")


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from([(m, t) for m, t in ROUTES if m in ("POST", "PUT")]), doc=json_values)
def test_fuzzed_json_bodies(world: World, route: tuple[str, str], doc: object) -> None:
    method, template = route
    if template.endswith(("/move", "/create", "/settings")) or "/members/" in template:
        return  # a valid body would change the fixture's world for the other examples
    target = _fill(template, world.values)
    raw = json.dumps(doc).encode()
    _check(_request(world.server, method, target, world.token, raw), f"{method} {target} {raw[:80]!r}")


# one field at a time ---------------------------------------------------------------------------------------------

LEAF_VALUES: list[object] = ["x" * 5000, "y" * 256, "\u202eevil", "a\u0000b", "\ud800", "", 10**30, -1, 1e308, True,
                             None, [], {}]


def _valid_bodies(v: dict[str, str]) -> list[tuple[str, str, object]]:
    """Bodies each endpoint accepts, so that a single hostile field reaches the code that reads that field."""
    repo = f"{v['ns']}/{v['name']}"
    lfs = {"operation": "download", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
           "objects": [{"oid": OID, "size": 5}], "ref": {"name": "main"}}
    return [
        ("POST", "/api/repos/create", {"name": "n-new", "type": "model", "organization": v["ns"], "private": True}),
        ("POST", "/api/repos/move", {"fromRepo": f"{repo}-gone", "toRepo": f"{v['ns']}/x", "type": "model"}),
        ("DELETE", "/api/repos/delete", {"name": f"{v['name']}-gone", "type": "model", "organization": v["ns"]}),
        ("PUT", "/api/models/{ns}/{name}/settings", {"private": True, "gated": False, "visibility": "private"}),
        ("POST", "/api/models/{ns}/{name}/paths-info/main", {"paths": ["sub/a.txt"], "expand": True}),
        ("POST", "/api/models/{ns}/{name}/branch/b9", {"startingPoint": "main"}),
        ("POST", "/api/models/{ns}/{name}/tag/main", {"tag": "t9", "message": "m"}),
        ("POST", "/api/models/{ns}/{name}/promotions", {"stage": "deprecated", "revision": "main", "reason": "r"}),
        ("POST", "/api/models/{ns}/{name}/approvals/1/reject", {"reason": "r"}),
        ("POST", "/api/models/{ns}/{name}/preupload/main",
         {"files": [{"path": "a.txt", "size": 1, "sample": ""}], "gitIgnore": "*.x"}),
        ("POST", "/api/models/{ns}/{name}/discussions", {"title": "hello", "description": "d", "pullRequest": False}),
        ("POST", "/api/models/{ns}/{name}/discussions/1/comment", {"comment": "a comment"}),
        ("POST", "/api/models/{ns}/{name}/discussions/1/comment/{cid}/edit", {"content": "edited"}),
        ("POST", "/api/models/{ns}/{name}/discussions/1/title", {"title": "a new title"}),
        ("POST", "/api/models/{ns}/{name}/discussions/2/status", {"status": "open", "comment": "published"}),
        ("POST", "/api/models/{ns}/{name}/discussions/2/merge", {"comment": "merging"}),
        ("POST", "/api/models/{ns}/{name}/user-access-request", {"fields": {"a": "b"}}),
        ("POST", "/api/models/{ns}/{name}/user-access-request/handle",
         {"status": "rejected", "user": v["user"], "rejectionReason": "r"}),
        ("POST", "/api/models/{ns}/{name}/user-access-request/grant", {"user": v["user"]}),
        ("POST", "/{ns}/{name}/ask-access", {"fields": {"a": "b"}}),
        ("POST", "/{ns}/{name}.git/info/lfs/objects/batch", lfs),
        ("POST", "/api/validate-yaml", {"content": "---\nlicense: mit\n---\n", "repoType": "model"}),
        ("POST", "/api/organizations", {"name": "o-new", "fullname": "F"}),
        ("PUT", "/api/organizations/{org}/members/{user}", {"role": "read"}),
        ("POST", "/api/organizations/{org}/resource-groups", {"name": "g-new", "description": "d"}),
        ("PUT", "/api/organizations/{org}/resource-groups/{group}/members/{user}", {"role": "read"}),
        ("PUT", "/api/organizations/{org}/resource-groups/{group}/repos", {"name": repo, "type": "model"}),
        ("POST", "/api/tokens", {"role": "read", "name": "n", "expiresInDays": 1, "user": v["ns"]}),
        ("PUT", "/api/organizations/{org}/settings", {"defaultPrivate": True}),
        ("PUT", "/api/orgs/{org}/policy", {"document": "pickles: {outcome: allow}\n", "message": "m"}),
        ("POST", "/api/orgs/{org}/policy/validate", {"document": "secrets: {outcome: deny}\n"}),
        ("POST", "/api/orgs/{org}/use-cases", {"title": "Use case", "slug": "uc-new", "riskTier": "minimal",
                                               "purpose": "p", "owner": v["ns"], "status": "active"}),
        ("PATCH", "/api/orgs/{org}/use-cases/{slug}", {"title": "t", "purpose": "p", "riskTier": "high",
                                                       "status": "active", "owner": v["ns"]}),
        ("POST", "/api/orgs/{org}/use-cases/{slug}/models", {"repo": repo}),
        ("DELETE", "/api/orgs/{org}/use-cases/{slug}/models", {"repo": repo}),
        ("POST", "/api/models/{ns}/{name}/super-squash/b1", {"message": "squashed"}),
        ("POST", "/api/models/{ns}/{name}/lfs-files/batch", {"deletions": {"sha": [OID], "rewriteHistory": True}}),
        ("POST", "/api/models/{ns}/{name}/lfs-files/duplicate", {"target": {"type": "model", "name": repo},
                                                                 "files": [{"sha256": OID, "xetHash": OID,
                                                                            "filename": "w.bin"}]}),
        ("POST", "/api/models/{ns}/{name}/duplicate", {"repository": f"{v['ns']}/dup-new", "visibility": "private"}),
        ("POST", "/api/settings/webhooks", {"url": "http://127.0.0.1:9/hook", "watched": [
            {"type": "model", "name": repo}], "domains": ["discussion"], "secret": "s"}),
        ("POST", "/api/settings/webhooks/{hook}", {"url": "http://127.0.0.1:9/hook", "watched": [
            {"type": "user", "name": v["ns"]}], "domains": ["repo"], "secret": "s"}),
        ("POST", "/api/evaluations", {"task": "text-classification", "dataset": {
            "repo": f"{v['ns']}/no-data", "split": "test", "columns": {"text": "t"}}, "candidates": [repo],
            "variants": ["int8"], "maxExamples": 10, "tolerance": 0.1, "pricePerHour": 1, "resamples": 10,
            "seed": 1, "writeResults": False, "note": "n"}),
        ("POST", "/api/evaluations/1/save-variant", {"model": repo, "variant": "onnx", "target": f"{v['ns']}/x"}),
        # NDJSON commits (a list: one line per item): one that commits, one naming a large file never uploaded
        ("POST", "/api/models/{ns}/{name}/commit/b1", [
            {"key": "header", "value": {"summary": "s", "description": "d"}},
            {"key": "file", "value": {"path": "n.txt", "content": "eA==", "encoding": "base64"}},
            {"key": "deletedFile", "value": {"path": "gone.txt"}},
            {"key": "deletedFolder", "value": {"path": "gone/"}}]),
        ("POST", "/api/models/{ns}/{name}/commit/b1?create_pr=1", [
            {"key": "header", "value": {"summary": "a pull request", "description": "d"}},
            {"key": "file", "value": {"path": "pr.txt", "content": "eA==", "encoding": "base64"}}]),
        ("POST", "/api/models/{ns}/{name}/commit/b1", [
            {"key": "header", "value": {"summary": "s", "parentCommit": "abcdef1"}},
            {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": OID, "size": 5}}]),
    ]


def _leaves(doc: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    if isinstance(doc, dict):
        for k, item in doc.items():
            yield path + (k,)
            yield from _leaves(item, path + (k,))
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield path + (i,)
            yield from _leaves(item, path + (i,))


def _replaced(doc: object, path: tuple[object, ...], value: object) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: _replaced(item, rest, value) if k == head else item for k, item in doc.items()}
    assert isinstance(doc, list)
    return [_replaced(item, rest, value) if i == head else item for i, item in enumerate(doc)]


def test_each_field_of_a_valid_body_made_hostile(world: World) -> None:
    """A valid body with one field (at any depth) holding an overlong or bidi string, a huge or non-finite number,
    a boolean, null or the wrong container: never a 500, even on PostgreSQL's length-checked columns."""
    for method, template, body in _valid_bodies(world.values):
        target = _fill(template, world.values)
        for leaf in _leaves(body):
            for value in LEAF_VALUES:
                doc = _replaced(body, leaf, value)
                ndjson = "/commit/" in template
                if ndjson:
                    lines = doc if isinstance(doc, list) else [doc]
                    raw = b"\n".join(json.dumps(line).encode() for line in lines)
                else:
                    raw = json.dumps(doc).encode()
                _check(_request(world.server, method, target, world.token, raw,
                                "application/x-ndjson" if ndjson else "application/json"),
                       f"{method} {target} {'.'.join(map(str, leaf))}={str(value)[:30]}")


def test_request_ids_naming_impossible_users_are_404(world: World) -> None:
    """An access request id is the repo's and the user's ids in hex: one naming a user id beyond any row (or a
    signed or spaced one) is a request that does not exist, not a database error."""
    server, v = world.server, world.values
    token = world.token
    ok = _request(server, "PUT", _fill("/api/models/{ns}/{name}/settings", v), token, b'{"gated": "manual"}')
    assert ok.status == 200, ok.body
    info = _request(server, "GET", _fill("/api/models/{ns}/{name}", v), token)
    repo_hex = f"{int(json.loads(info.body)['_id']):012x}"
    for tail in ["ffffffffffff", "0000ffffffff", "0000000-0001", "+00000000001", " 0000000001 ", "00000000_001"]:
        body = json.dumps({"status": "rejected", "requestId": repo_hex + tail}).encode()
        answer = _request(server, "POST", _fill("/api/models/{ns}/{name}/user-access-request/handle", v), token, body)
        _check(answer, f"requestId tail {tail!r}")
        assert answer.status == 404, (tail, answer.status, answer.body)
