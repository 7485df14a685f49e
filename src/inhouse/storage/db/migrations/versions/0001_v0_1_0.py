"""The schema exactly as inhouse 0.1.0 created it (with `metadata.create_all`, recording no revision).

Written out here, not imported from schema.py, so that later schema changes never rewrite history. A database made
by 0.1.0 is stamped with this revision by `inhouse db upgrade` before the later revisions run.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(96), nullable=False, unique=True),
        sa.Column("fullname", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.Column("scopes", sa.Text, nullable=True),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "repos",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("namespace", sa.String(96), nullable=False),
        sa.Column("name", sa.String(96), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("private", sa.Boolean, nullable=False),
        sa.Column("gated", sa.String(8), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
        sa.Column("head_sha", sa.String(40), nullable=True),
        sa.Column("card_data", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("pipeline_tag", sa.Text, nullable=True),
        sa.Column("library_name", sa.Text, nullable=True),
        sa.Column("license", sa.Text, nullable=True),
        sa.Column("downloads", sa.Integer, nullable=False),
        sa.Column("likes", sa.Integer, nullable=False),
        sa.Column("next_discussion", sa.Integer, nullable=False),
        sa.UniqueConstraint("type", "namespace", "name", name="uq_repo_id"),
    )
    op.create_index("ix_repos_last_modified", "repos", ["last_modified"])
    op.create_index("ix_repos_type_modified", "repos", ["type", "last_modified"])
    op.create_index("ix_repos_lower_name", "repos", ["type", "name"])
    op.create_table(
        "repo_aliases",
        sa.Column("type", sa.String(8), primary_key=True),
        sa.Column("namespace", sa.String(96), primary_key=True),
        sa.Column("name", sa.String(96), primary_key=True),
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_table(
        "refs",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "git_objects",
        sa.Column("sha", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "lfs_objects",
        sa.Column("oid", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "repo_lfs_objects",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("oid", sa.String(64), sa.ForeignKey("lfs_objects.oid"), primary_key=True),
    )
    op.create_table(
        "discussions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("num", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("is_pr", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("base_ref", sa.String(255), nullable=True),
        sa.Column("merge_commit", sa.String(40), nullable=True),
        sa.UniqueConstraint("repo_id", "num", name="uq_discussion_num"),
    )
    op.create_table(
        "discussion_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("discussion_id", sa.Integer, sa.ForeignKey("discussions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_discussion_events_discussion_id", "discussion_events", ["discussion_id"])
    op.create_table(
        "repo_commits",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sha", sa.String(40), primary_key=True),
    )
    op.create_table(
        "org_members",
        sa.Column("org_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "resource_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(96), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("org_id", "name", name="uq_resource_group_name"),
    )
    op.create_table(
        "resource_group_members",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("resource_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_table(
        "resource_group_repos",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("resource_groups.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_resource_group_repos_group_id", "resource_group_repos", ["group_id"])
    op.create_table(
        "access_requests",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("actor", sa.String(96), nullable=True),
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("repo", sa.String(220), nullable=True),
        sa.Column("revision", sa.String(255), nullable=True),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_repo", "audit_log", ["repo"])
    op.create_index("ix_audit_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_ts", "audit_log", ["ts"])
    op.create_table(
        "xet_xorbs",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("num_chunks", sa.Integer, nullable=False),
        sa.Column("unpacked_bytes", sa.BigInteger, nullable=False),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("used_at", sa.Float, nullable=False),
    )
    op.create_table(
        "xet_files",
        sa.Column("file_hash", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("segments", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_xet_files_sha256", "xet_files", ["sha256"])
    op.create_table(
        "xet_dedup",
        sa.Column("chunk_hash", sa.String(64), primary_key=True),
        sa.Column("xorb_hash", sa.String(64), primary_key=True),
    )
    op.create_table(
        "repo_xorbs",
        sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("xorb_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_repo_xorbs_xorb_hash", "repo_xorbs", ["xorb_hash"])


def downgrade() -> None:
    raise NotImplementedError("inhouse never downgrades a database: restore the backup taken before upgrading.")
