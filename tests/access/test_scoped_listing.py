"""A fine-grained token scoped to one private repo of a large org still gets full listing pages."""

from __future__ import annotations

import uuid

from inhouse.access.identity import authenticate
from inhouse.services import orgs, repos, users
from inhouse.vocabulary import RepoType, Scope, TokenRole


def test_scoped_token_lists_the_repo_it_may_see_even_behind_many_hidden_ones(server):
    stores = server.stores
    admin = server.make_user()
    admin_p = authenticate(stores.db, server.make_token(admin))
    org = f"o{uuid.uuid4().hex[:8]}"
    orgs.create_org(stores, org, by=admin_p)
    admin_p = authenticate(stores.db, server.make_token(admin))  # now an org admin
    names = [f"m{i:02d}" for i in range(12)]
    for n in names:
        repos.create(stores, admin_p, repo_type=RepoType.MODEL, namespace=org, name=n, private=True)
    target = f"{org}/{names[0]}"  # the oldest: last in the default newest-first order
    _, secret = users.create_token(stores, admin, role=TokenRole.FINE_GRAINED, scopes=[
        Scope.parse({"type": "repo", "name": target, "permissions": ["repo.content.read"]})])
    api = server.api(secret)
    assert [m.id for m in api.list_models(author=org, limit=1)] == [target]
    assert [m.id for m in api.list_models(author=org)] == [target]
    # the write token of the same admin sees them all
    assert len(list(server.api(server.make_token(admin)).list_models(author=org))) == len(names)
