"""The records services hand to their callers: repos, users, tokens, organisation members and groups, access requests,
discussions and their events, as the stores return them.

Callers above services (web, app, cli) name these types from here and never import storage (an import-linter
contract in pyproject.toml keeps web to it): storage keeps how they are read and written, services decide which a
caller gets. They stay defined next to the queries that build them (RepoRecord.from_row reads a database row), so
this module names them rather than moving them.
"""

from __future__ import annotations

from inhouse.storage.db.approvals import ApprovalRequestRecord, ReviewRecord
from inhouse.storage.db.discussions import DiscussionRecord, EventRecord
from inhouse.storage.db.lifecycle import StageRecord
from inhouse.storage.db.orgs import AccessRequest, GroupRecord, Member
from inhouse.storage.db.records import RepoRecord, TokenRecord, UserRecord

__all__ = [
    "AccessRequest",
    "ApprovalRequestRecord",
    "DiscussionRecord",
    "EventRecord",
    "GroupRecord",
    "Member",
    "RepoRecord",
    "ReviewRecord",
    "StageRecord",
    "TokenRecord",
    "UserRecord",
]
