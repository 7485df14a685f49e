"""The Hugging Face Hub-compatible HTTP API."""

from __future__ import annotations

from inhouse.web.hub import (
    access_requests,
    browse,
    cas,
    collections,
    common,
    discussions,
    git_http,
    leaderboards,
    lfs,
    repo_ops,
    repos,
    resolve,
    safetensors,
    upload,
    users,
    xet,
)
from inhouse.web.routing import Router


def register_all(router: Router) -> None:
    for module in (repos, browse, upload, lfs, discussions, access_requests, resolve, xet, cas, leaderboards,
                   git_http, repo_ops, users, collections, safetensors):
        module.register(router)
    common.register_fallbacks(router)  # paths no route matches: a repo id without a namespace
