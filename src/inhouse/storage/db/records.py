"""Plain records the stores return, so that services never handle database rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from inhouse.vocabulary import RepoType, Scope, TokenRole


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    fullname: str
    email: str | None
    kind: str
    is_admin: bool
    created_at: float


@dataclass(frozen=True)
class TokenRecord:
    id: int
    user_id: int
    name: str
    role: TokenRole
    hint: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    scopes: tuple[Scope, ...] = ()  # fine-grained tokens only


@dataclass(frozen=True)
class RepoRecord:
    id: int
    type: RepoType
    namespace: str
    name: str
    owner_id: int
    private: bool
    gated: str | None
    created_at: float
    last_modified: float
    head_sha: str | None
    card_data: dict[str, Any] | None
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None
    license: str | None = None
    downloads: int = 0
    likes: int = 0
    resource_group_id: int | None = None
    created_by: int | None = None
    recent_downloads: int | None = None  # downloads of the last 30 days, where the query counted them
    stage: str | None = None  # the lifecycle stage (a vocabulary.Stage value); None: draft
    quarantined: int = 0  # files a policy holds back in the repo

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def plural(self) -> str:
        return self.type.plural

    @property
    def url_path(self) -> str:
        """The web path of the repo: 'ns/name' for models, 'datasets/ns/name' for datasets."""
        return f"{self.type.url_prefix}{self.repo_id}"

    @classmethod
    def from_row(cls, row: Any) -> "RepoRecord":
        m = row._mapping
        return cls(
            id=m["id"], type=RepoType(m["type"]), namespace=m["namespace"], name=m["name"], owner_id=m["owner_id"],
            private=bool(m["private"]), gated=m["gated"], created_at=m["created_at"],
            last_modified=m["last_modified"], head_sha=m["head_sha"],
            card_data=json.loads(m["card_data"]) if m["card_data"] else None,
            tags=json.loads(m["tags"] or "[]"), pipeline_tag=m["pipeline_tag"], library_name=m["library_name"],
            license=m["license"], downloads=m["downloads"], likes=m["likes"],
            resource_group_id=m.get("resource_group_id"), created_by=m.get("created_by"),
            recent_downloads=m.get("recent_downloads"), stage=m.get("stage"), quarantined=m.get("quarantined") or 0,
        )
