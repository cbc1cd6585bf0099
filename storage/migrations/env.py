"""Alembic environment: migrations run on the connection handed in by storage.database."""

from alembic import context

from storage import Base  # the package registers every table, the knowledge ones too

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
