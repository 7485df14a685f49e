"""Collections through the real huggingface_hub client against a live server: curated, ordered lists of repos with
notes (create, get, list, update, delete, items added, moved, annotated and removed), what each caller may see of
them (private collections, private repos inside public ones), who may change them, bad input, and the audit log."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from huggingface_hub import Collection
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, RepositoryNotFoundError

from inhouse.services import orgs
from inhouse.storage.db import audit as audit_store
from inhouse.vocabulary import Role


def _new_user(server):  # type: ignore[no-untyped-def]
    name = server.make_user()
    return name, server.make_token(name, "write")


def _repos(api, owner, n, *, private=False, repo_type="model"):  # type: ignore[no-untyped-def]
    ids = [f"{owner}/m{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    for rid in ids:
        api.create_repo(rid, private=private, repo_type=repo_type)
    return ids


def _ids(c: Collection) -> list[str]:
    return [i.item_id for i in c.items]


def test_a_curated_ordered_list_with_notes(server, api, user):
    owner = user[0]
    models = _repos(api, owner, 3)
    (dataset,) = _repos(api, owner, 1, repo_type="dataset")
    c = api.create_collection("Approved models", description="What the team may ship")
    assert re.fullmatch(rf"{owner}/approved-models-[0-9a-f]{{24}}", c.slug)
    assert (c.title, c.description, c.private, c.items, c.upvotes) == ("Approved models", "What the team may ship",
                                                                      False, [], 0)
    assert c.owner["name"] == owner and c.owner["type"] == "user"
    assert c.url == f"{server.url}/collections/{c.slug}" and c.theme
    for rid, note in zip(models, ["baseline", None, "fine-tuned\non support tickets"]):
        c = api.add_collection_item(c.slug, rid, "model", note=note)
    c = api.add_collection_item(c.slug, dataset, "dataset", note="the eval set")
    assert _ids(c) == [*models, dataset]
    got = api.get_collection(c.slug)
    assert [(i.item_id, i.item_type, i.position, i.note) for i in got.items] == [
        (models[0], "model", 0, "baseline"), (models[1], "model", 1, None),
        (models[2], "model", 2, "fine-tuned\non support tickets"), (dataset, "dataset", 3, "the eval set")]
    assert len({i.item_object_id for i in got.items}) == 4
    first_updated = got.last_updated

    # move the dataset first, annotate the second model, then move the first model last
    ds_item = got.items[3].item_object_id
    api.update_collection_item(c.slug, ds_item, position=0)
    api.update_collection_item(c.slug, got.items[1].item_object_id, note="approved 2026-12-01")
    api.update_collection_item(c.slug, got.items[0].item_object_id, position=99)  # past the end: last
    got = api.get_collection(c.slug)
    assert [(i.item_id, i.position) for i in got.items] == [(dataset, 0), (models[1], 1), (models[2], 2),
                                                            (models[0], 3)]
    assert [i.note for i in got.items] == ["the eval set", "approved 2026-12-01", "fine-tuned\non support tickets",
                                           "baseline"]
    assert got.last_updated >= first_updated

    # remove one: those after it move up
    api.delete_collection_item(c.slug, got.items[1].item_object_id)
    got = api.get_collection(c.slug)
    assert [(i.item_id, i.position) for i in got.items] == [(dataset, 0), (models[2], 1), (models[0], 2)]
    api.delete_collection_item(c.slug, got.items[0].item_object_id[::-1], missing_ok=True)  # no such item: fine
    with pytest.raises(HfHubHTTPError) as exc:
        api.delete_collection_item(c.slug, "0" * 24)
    assert exc.value.response.status_code == 404

    # the title changes the slug's words, never its id: the old slug still finds it
    updated = api.update_collection_metadata(c.slug, title="Approved for production", description="v2",
                                             theme="green", private=True)
    hex_id = c.slug.rsplit("-", 1)[1]
    assert updated.slug == f"{owner}/approved-for-production-{hex_id}"
    assert (updated.title, updated.description, updated.theme, updated.private) == (
        "Approved for production", "v2", "green", True)
    assert api.get_collection(c.slug).slug == updated.slug
    assert _ids(api.get_collection(updated.slug)) == [dataset, models[2], models[0]]

    api.delete_collection(updated.slug)
    with pytest.raises(HfHubHTTPError) as exc:
        api.get_collection(updated.slug)
    assert exc.value.response.status_code == 404
    api.delete_collection(updated.slug, missing_ok=True)

    with server.stores.db.read() as conn:
        entries = [e for e in audit_store.scan(conn, actor=owner) if e["action"].startswith("collection.")]
    assert [e["action"] for e in entries] == (
        ["collection.create"] + ["collection.item.add"] * 4 + ["collection.item.update"] * 3
        + ["collection.item.delete", "collection.update", "collection.delete"])
    add = json.loads(entries[1]["details"])
    assert add["collection"] == c.slug and add["id"] == models[0] and add["note"] == "baseline"


def test_exists_ok_and_conflicts(server, api, user):
    (model,) = _repos(api, user[0], 1)
    c = api.create_collection("Shortlist")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_collection("shortlist!")  # the same slug words
    assert exc.value.response.status_code == 409 and exc.value.response.json()["slug"] == c.slug
    assert api.create_collection("Shortlist", exists_ok=True).slug == c.slug
    api.add_collection_item(c.slug, model, "model")
    with pytest.raises(HfHubHTTPError) as exc:
        api.add_collection_item(c.slug, model.upper(), "model")  # the same repo, named in another case
    assert exc.value.response.status_code == 409
    again = api.add_collection_item(c.slug, model, "model", exists_ok=True, note="ignored")
    assert _ids(again) == [model] and again.items[0].note is None


def test_items_follow_their_repo(server, api, user):
    kept, moved, deleted = _repos(api, user[0], 3)
    c = api.create_collection("Follows")
    for rid in (kept, moved, deleted):
        api.add_collection_item(c.slug, rid, "model")
    api.move_repo(moved, f"{moved}-renamed")
    api.delete_repo(deleted)
    assert _ids(api.get_collection(c.slug)) == [kept, f"{moved}-renamed"]
    assert [x.slug for x in api.list_collections(item=f"models/{moved}-renamed")] == [c.slug]


def test_collections_of_a_namespace_in_their_order_and_listing_filters(server, api, user):
    owner = user[0]
    (model,) = _repos(api, owner, 1)
    slugs = [api.create_collection(f"List {i}").slug for i in range(3)]
    listed = list(api.list_collections(owner=owner))
    assert [x.slug for x in listed] == slugs and [x.position for x in listed] == [0, 1, 2]
    api.update_collection_metadata(slugs[2], position=0)
    assert [x.slug for x in api.list_collections(owner=owner)] == [slugs[2], slugs[0], slugs[1]]
    assert [x.slug for x in api.list_collections(owner=owner, limit=2)] == [slugs[2], slugs[0]]
    # pages follow the Link header
    r = httpx.get(f"{server.url}/api/collections", params={"owner": owner, "limit": 2})
    assert len(r.json()) == 2 and "cursor=2" in r.links["next"]["url"]
    assert [x["slug"] for x in httpx.get(r.links["next"]["url"]).json()] == [slugs[1]]
    # items: a listing shows at most four of each collection; get_collection shows them all
    models = _repos(api, owner, 5)
    for m in models:
        api.add_collection_item(slugs[0], m, "model")
    api.add_collection_item(slugs[1], model, "model")
    by_slug = {x.slug: x for x in api.list_collections(owner=owner)}
    assert _ids(by_slug[slugs[0]]) == models[:4] and len(api.get_collection(slugs[0]).items) == 5
    assert [x.slug for x in api.list_collections(item=f"models/{model}")] == [slugs[1]]
    assert [x.slug for x in api.list_collections(item=f"models/{models[4]}", owner=owner)] == [slugs[0]]
    assert list(api.list_collections(item=f"datasets/{model}")) == []
    assert list(api.list_collections(owner=f"nobody-{uuid.uuid4().hex[:6]}")) == []
    recent = [x.slug for x in api.list_collections(owner=owner, sort="lastModified")]
    assert recent[0] == slugs[1]  # changed last
    r = httpx.get(f"{server.url}/api/collections", params={"sort": "newest"})
    assert r.status_code == 400 and "lastModified" in r.json()["error"]


def test_private_collections_and_private_items_never_leak(server, api, user):
    owner = user[0]
    outsider_name, outsider_token = _new_user(server)
    outsider, anonymous = server.api(outsider_token), server.api()
    (public_model,) = _repos(api, owner, 1)
    (private_model,) = _repos(api, owner, 1, private=True)
    secret = api.create_collection("Internal shortlist", private=True)
    api.add_collection_item(secret.slug, public_model, "model")
    shown = api.create_collection("Published")
    api.add_collection_item(shown.slug, private_model, "model", note="not yet public")
    api.add_collection_item(shown.slug, public_model, "model")
    api.add_collection_item(shown.slug, secret.slug, "collection")

    # the owner sees everything
    assert _ids(api.get_collection(shown.slug)) == [private_model, public_model, secret.slug]
    assert {x.slug for x in api.list_collections(owner=owner)} == {secret.slug, shown.slug}
    # others: the private collection does not exist, neither does the private repo inside the public one
    for other in (outsider, anonymous):
        for slug in (secret.slug, secret.slug.replace("internal-shortlist", "anything")):
            with pytest.raises(HfHubHTTPError) as exc:
                other.get_collection(slug)
            assert exc.value.response.status_code == 404
        got = other.get_collection(shown.slug)
        assert _ids(got) == [public_model] and got.items[0].position == 1
        assert [x.slug for x in other.list_collections(owner=owner)] == [shown.slug]
        assert _ids(next(iter(other.list_collections(owner=owner)))) == [public_model]
        assert list(other.list_collections(item=f"models/{private_model}")) == []
        assert list(other.list_collections(item=f"collections/{secret.slug}")) == []
    assert [x.slug for x in api.list_collections(item=f"models/{private_model}")] == [shown.slug]
    # a private repo cannot be added by someone who cannot see it (the same answer as a missing repo)
    mine = outsider.create_collection("Mine")
    with pytest.raises(RepositoryNotFoundError):
        outsider.add_collection_item(mine.slug, private_model, "model")
    with pytest.raises(RepositoryNotFoundError):
        outsider.add_collection_item(mine.slug, f"{owner}/never-created", "model")
    with pytest.raises(HfHubHTTPError) as exc:
        outsider.add_collection_item(mine.slug, secret.slug, "collection")
    assert exc.value.response.status_code == 404
    hidden_item = api.get_collection(shown.slug).items[0].item_object_id
    with pytest.raises(HfHubHTTPError) as exc:  # and someone else's collection is not theirs to change
        outsider.update_collection_item(shown.slug, hidden_item, note="x")
    assert exc.value.response.status_code == 403
    # making the collection public shows it; making it private again hides it
    api.update_collection_metadata(secret.slug, private=False)
    assert _ids(outsider.get_collection(secret.slug)) == [public_model]
    assert _ids(outsider.get_collection(shown.slug)) == [public_model, secret.slug]
    api.update_collection_metadata(secret.slug, private=True)
    assert _ids(outsider.get_collection(shown.slug)) == [public_model]
    # deleting a collection removes it from those that held it
    api.delete_collection(secret.slug)
    assert [(i.item_id, i.position) for i in api.get_collection(shown.slug).items] == [(private_model, 0),
                                                                                      (public_model, 1)]


def test_who_may_change_a_collection(server, api, user):
    owner = user[0]
    (model,) = _repos(api, owner, 1)
    c = api.create_collection("Team picks")
    other_name, other_token = _new_user(server)
    other = server.api(other_token)
    read_api = server.api(server.make_token(owner, "read"))
    for who, status in ((other, 403), (read_api, 403), (server.api(), 401)):
        with pytest.raises(HfHubHTTPError) as exc:
            who.add_collection_item(c.slug, model, "model")
        assert exc.value.response.status_code == status
        with pytest.raises(HfHubHTTPError) as exc:
            who.update_collection_metadata(c.slug, title="hijacked")
        assert exc.value.response.status_code == status
        with pytest.raises(HfHubHTTPError) as exc:
            who.delete_collection(c.slug)
        assert exc.value.response.status_code == status
    with pytest.raises(HfHubHTTPError) as exc:
        other.create_collection("Not mine", namespace=owner)
    assert exc.value.response.status_code == 403
    assert api.get_collection(c.slug).title == "Team picks" and api.get_collection(c.slug).items == []

    # an organisation: writers curate its collections, readers see its private ones but cannot change them
    org = f"org{uuid.uuid4().hex[:8]}"
    orgs.create_org(server.stores, org, admin=owner)
    orgs.set_member(server.stores, org, other_name, Role.READ)
    oc = api.create_collection("Org approved", namespace=org, private=True)
    assert oc.owner["name"] == org and oc.owner["type"] == "org"
    assert other.get_collection(oc.slug).title == "Org approved"
    with pytest.raises(HfHubHTTPError) as exc:
        other.add_collection_item(oc.slug, model, "model")
    assert exc.value.response.status_code == 403
    orgs.set_member(server.stores, org, other_name, Role.WRITE)
    assert _ids(server.api(other_token).add_collection_item(oc.slug, model, "model")) == [model]
    # a writer of the collection who cannot see a repo in it neither sees nor changes that item
    (private_model,) = _repos(api, owner, 1, private=True)
    api.add_collection_item(oc.slug, private_model, "model", note="owner's eyes only")
    hidden = api.get_collection(oc.slug).items[1]
    assert hidden.item_id == private_model
    other = server.api(other_token)
    assert _ids(other.get_collection(oc.slug)) == [model]
    for change in (lambda: other.update_collection_item(oc.slug, hidden.item_object_id, note="x"),
                   lambda: other.delete_collection_item(oc.slug, hidden.item_object_id)):
        with pytest.raises(HfHubHTTPError) as exc:
            change()
        assert exc.value.response.status_code == 404
    assert api.get_collection(oc.slug).items[1].note == "owner's eyes only"
    outsider = server.api(_new_user(server)[1])
    with pytest.raises(HfHubHTTPError) as exc:
        outsider.get_collection(oc.slug)
    assert exc.value.response.status_code == 404


def test_bad_input_is_refused_with_what_to_do(server, api, user):
    (model,) = _repos(api, user[0], 1)
    c = api.create_collection("Checks")
    cases = [
        lambda: api.create_collection("x" * 101),
        lambda: api.create_collection("   "),
        lambda: api.create_collection("Long description", description="d" * 151),
        lambda: api.create_collection("Bidi \u202e title"),
        lambda: api.add_collection_item(c.slug, "2311.12983", "paper"),
        lambda: api.add_collection_item(c.slug, model, "kernel"),  # type: ignore[arg-type]
        lambda: api.add_collection_item(c.slug, model, "model", note="n" * 501),
        lambda: api.update_collection_metadata(c.slug, theme="rainbow"),
        lambda: api.update_collection_metadata(c.slug, position=-1),
        lambda: api.update_collection_item(c.slug, "0" * 24, position=-3),
    ]
    for call in cases:
        with pytest.raises(BadRequestError):
            call()
    for bad in ("no-slug", f"{user[0]}/checks", f"{user[0]}/checks-{'g' * 24}", f"{user[0]}/a/b-{'0' * 24}"):
        r = httpx.get(f"{server.url}/api/collections/{bad}")
        assert r.status_code == 404, bad
    # a slug whose namespace is not the owner's finds nothing
    hex_id = c.slug.rsplit("-", 1)[1]
    with pytest.raises(HfHubHTTPError) as exc:
        api.get_collection(f"someone-else/checks-{hex_id}")
    assert exc.value.response.status_code == 404
    for body in ({}, {"item": "x"}, {"item": {"id": 5, "type": "model"}}):
        r = httpx.post(f"{server.url}/api/collections/{c.slug}/items", json=body,
                       headers={"Authorization": f"Bearer {user[1]}"})
        assert r.status_code == 400, body
    r = httpx.patch(f"{server.url}/api/collections/{c.slug}", json={"private": "yes"},
                    headers={"Authorization": f"Bearer {user[1]}"})
    assert r.status_code == 400 and "true or false" in r.json()["error"]
    r = httpx.get(f"{server.url}/api/collections", params=[("owner", "x")] * 51)
    assert r.status_code == 400
    assert api.get_collection(c.slug).items == [] and api.get_collection(c.slug).title == "Checks"


def test_the_same_on_postgresql(pg_server):
    """Order, positions (rewritten under row locks there), filters and visibility on PostgreSQL too."""
    for test in (test_a_curated_ordered_list_with_notes,
                 test_collections_of_a_namespace_in_their_order_and_listing_filters,
                 test_private_collections_and_private_items_never_leak):
        name = pg_server.make_user()
        token = pg_server.make_token(name, "write")
        test(pg_server, pg_server.api(token), (name, token))
