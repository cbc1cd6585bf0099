"""A tutor's answer policy: course_first (default) or course_only.

Revision ID: 0004
Revises: 0003

`course_first` answers from the course material when it covers the question and otherwise,
briefly and saying so, from the tutor's subject and general school knowledge; `course_only`
keeps to the material alone. Existing tutors get the default.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tutors") as batch:
        batch.add_column(
            sa.Column("answer_policy", sa.String(16), nullable=False, server_default="course_first")
        )


def downgrade() -> None:
    with op.batch_alter_table("tutors") as batch:
        batch.drop_column("answer_policy")
