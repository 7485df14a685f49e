"""Issuing Xet tokens: `xet-read-token` and `xet-write-token` as one use case each.

The repo is found for the caller and the action the token stands for (reading: download; writing: write to a
branch, or propose for a pull request, new or existing), a refusal on a private or gated repo audited; then the token
is signed (services/largefiles/xet_tokens.py). Handing a read token for a private or gated repo is audited as
xet.token: it names the commit the revision points at and lets its holder read there. A write token is not a read
(what goes up with it is audited when its shard is registered)."""

from __future__ import annotations

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.largefiles import xet_tokens
from inhouse.services.repo_access import RepoName
from inhouse.services.signing import Signer


def token_action(access: str, revision: str, *, create_pr: bool) -> Action:
    """What a token of `access` asks of its caller: downloading, or writing (proposing, for a pull request)."""
    if access == xet_tokens.READ:
        return Action.DOWNLOAD
    return Action.PROPOSE if create_pr or revision.startswith("refs/pr/") else Action.WRITE


def issue(stores: Stores, signer: Signer, principal: Principal, name: RepoName, access: str, revision: str, *,
          create_pr: bool = False) -> xet_tokens.Issued:
    """A Xet token of `access` (read | write) for the repo `name` names at `revision`, for a caller allowed to use
    it there. Read tokens follow a moved repo (RepoMoved), write tokens act on it under its old name."""
    action = token_action(access, revision, create_pr=create_pr)
    repo = repo_access.load(stores, principal, name, action, follow_moves=access == xet_tokens.READ)
    issued = xet_tokens.issue_for_revision(stores, signer, principal, repo, access, action, revision)
    if access == xet_tokens.READ:
        repo_access.audit_read(stores, principal, repo, "xet.token", revision=revision,
                               details={"access": access})
    return issued
