"""Alembic environment: migrations run on the connection handed in by storage.database."""

from alembic import context

import knowledge.models  # noqa: F401  (registers the knowledge tables on Base.metadata)
from storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
