"""A pool of engines: each registers itself and its load in `engines` (storage.engines).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "engines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(255), nullable=False, unique=True),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("in_use", sa.Integer, nullable=False, server_default="0"),
        sa.Column("languages", sa.String(64), nullable=False, server_default="en,zh"),
        sa.Column("models", sa.String(255), nullable=False, server_default=""),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=False),
    )
    op.create_index("ix_engines_heartbeat_at", "engines", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_engines_heartbeat_at", table_name="engines")
    op.drop_table("engines")
