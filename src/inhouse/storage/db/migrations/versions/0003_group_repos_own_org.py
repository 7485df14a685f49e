"""A resource group holds only its own organisation's repos: rows left by repos moved to another owner before
0.2 (the move kept the old organisation's group, whose members kept their role on the repo in its new home) are
removed. Data only: the schema is unchanged.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM resource_group_repos WHERE NOT EXISTS ("
        " SELECT 1 FROM resource_groups g JOIN repos r ON r.owner_id = g.org_id"
        " WHERE g.id = resource_group_repos.group_id AND r.id = resource_group_repos.repo_id)"
    )


def downgrade() -> None:
    raise NotImplementedError("inhouse never downgrades a database: restore the backup taken before upgrading.")
