"""Accounts that can be disabled, classes, and who owns each tutor and knowledge base.

Revision ID: 0006
Revises: 0005

Users gain `disabled`, `token_version` (raised on a password change, ending older tokens),
`created_by` (a teacher's students) and `deleted_at` (an account deleted with its sessions
kept). Tutors and knowledge bases gain an `owner_id`; the existing ones get none, so admins
manage them, and existing tutors are marked `everyone`, so every student still sees them.
New tables: `classes`, `class_members` and `tutor_classes`. Users, tutors and sessions are kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
# (table, column) pairs that reference users.id and become NULL when that user goes.
USER_REFERENCES = [("users", "created_by"), ("tutors", "owner_id"), ("knowledge_bases", "owner_id")]


def _add_user_reference(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its REFERENCES clause in place. Batch mode would copy the
        # table instead, and with foreign keys on, dropping the old `tutors` clears every
        # session's tutor_id (ON DELETE SET NULL).
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
            "REFERENCES users (id) ON DELETE SET NULL"
        )
    else:
        op.add_column(table, sa.Column(column, sa.Integer, nullable=True))
        op.create_foreign_key(
            f"fk_{table}_{column}", table, "users", [column], ["id"], ondelete="SET NULL"
        )


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "users", sa.Column("token_version", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column("users", sa.Column("deleted_at", TS, nullable=True))
    op.add_column(
        "tutors", sa.Column("everyone", sa.Boolean, nullable=False, server_default=sa.true())
    )
    for table, column in USER_REFERENCES:
        _add_user_reference(table, column)
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column(
            "teacher_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_classes_teacher_id", "classes", ["teacher_id"])
    op.create_table(
        "class_members",
        sa.Column(
            "class_id",
            sa.Integer,
            sa.ForeignKey("classes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_index("ix_class_members_user_id", "class_members", ["user_id"])
    op.create_table(
        "tutor_classes",
        sa.Column(
            "tutor_id", sa.Integer, sa.ForeignKey("tutors.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "class_id",
            sa.Integer,
            sa.ForeignKey("classes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_tutor_classes_class_id", "tutor_classes", ["class_id"])


def downgrade() -> None:
    op.drop_table("tutor_classes")
    op.drop_table("class_members")
    op.drop_table("classes")
    # Plain DROP COLUMNs (SQLite 3.35 and later too), for the reason given in _add_user_reference;
    # PostgreSQL drops each column's foreign key with it.
    for table, column in reversed(USER_REFERENCES):
        op.drop_column(table, column)
    op.drop_column("tutors", "everyone")
    op.drop_column("users", "deleted_at")
    op.drop_column("users", "token_version")
    op.drop_column("users", "disabled")
