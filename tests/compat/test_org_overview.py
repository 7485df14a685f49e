"""get_organization_overview through the real client: the organisation's repo counts by type, counting a private
repo only for callers who may see it, as get_user_overview counts a user's."""

from __future__ import annotations

import uuid

from inhouse.services import orgs


def test_org_overview_counts_the_repos_the_caller_may_see(server, api, user):
    org = f"org{uuid.uuid4().hex[:8]}"
    orgs.create_org(server.stores, org, admin=user[0])
    api.create_repo(f"{org}/model-a")
    api.create_repo(f"{org}/model-b", private=True)
    api.create_repo(f"{org}/data", repo_type="dataset")
    mine = api.get_organization_overview(org)
    assert (mine.name, mine.num_users, mine.num_models, mine.num_datasets, mine.num_spaces) == (org, 1, 2, 1, 0)
    outsider = server.make_user()
    theirs = server.api(server.make_token(outsider, "read")).get_organization_overview(org.upper())
    assert (theirs.name, theirs.num_models, theirs.num_datasets) == (org, 1, 1)
    anonymous = server.api().get_organization_overview(org)
    assert (anonymous.num_models, anonymous.num_datasets, anonymous.num_followers) == (1, 1, 0)
