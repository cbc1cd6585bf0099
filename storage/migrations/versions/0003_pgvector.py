"""Chunk embeddings in a pgvector column with an HNSW index, on PostgreSQL.

Revision ID: 0003
Revises: 0002

On PostgreSQL the float32 BLOBs of 0002 become a `vector(384)` column (values carried over) with
an HNSW index for cosine distance, so dense search runs in the database. The pgvector extension
is required there (0.5.0 or later, for HNSW). SQLite keeps its BLOBs and searches them in
memory: nothing changes on it.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

from storage.database import SchemaError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DIMENSIONS = 384
HNSW_SINCE = (0, 5, 0)
BATCH = 500
INSTALL = (
    "PostgreSQL needs the pgvector extension for knowledge bases: install it on the database "
    "server (https://github.com/pgvector/pgvector, or the postgresql-NN-pgvector package), "
    "then run `CREATE EXTENSION vector;` in this database as a superuser, or migrate once as one"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    require_pgvector(bind)
    op.execute(f"ALTER TABLE kb_chunks ADD COLUMN embedding_vector vector({DIMENSIONS})")
    _convert(bind, "embedding", "embedding_vector", "CAST(:value AS vector)", _blob_to_text)
    op.drop_column("kb_chunks", "embedding")
    op.alter_column("kb_chunks", "embedding_vector", new_column_name="embedding")
    op.execute(
        "CREATE INDEX ix_kb_chunks_embedding ON kb_chunks USING hnsw (embedding vector_cosine_ops)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.add_column("kb_chunks", sa.Column("embedding_blob", sa.LargeBinary, nullable=True))
    _convert(bind, "embedding::text", "embedding_blob", ":value", _text_to_blob)
    op.drop_column("kb_chunks", "embedding")  # drops its HNSW index too
    op.alter_column("kb_chunks", "embedding_blob", new_column_name="embedding")


def require_pgvector(bind: sa.Connection) -> None:
    """Create the extension, or say exactly why it cannot be."""
    available = bind.scalar(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"))
    if available is None:
        raise SchemaError(f"{INSTALL} (this server does not have pgvector installed)")
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:  # not allowed to: this role is not a superuser
        raise SchemaError(f"{INSTALL} ({exc.orig})") from exc
    version = str(
        bind.scalar(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    )
    if tuple(int(p) for p in version.split(".") if p.isdigit()) < HNSW_SINCE:
        raise SchemaError(
            f"pgvector {version} has no HNSW index: 0.5.0 or later is required "
            "(upgrade the package, then run `ALTER EXTENSION vector UPDATE;`)"
        )


def _convert(
    bind: sa.Connection, source: str, target: str, value: str, convert: Callable[[int, Any], Any]
) -> None:
    """Copy every stored embedding from `source` into the column `target`, in batches."""
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT id, {source} FROM kb_chunks WHERE embedding IS NOT NULL AND id > :after "
                "ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text(f"UPDATE kb_chunks SET {target} = {value} WHERE id = :id"),
            [{"id": chunk_id, "value": convert(chunk_id, stored)} for chunk_id, stored in rows],
        )
        after = rows[-1][0]


def _blob_to_text(chunk_id: int, blob: bytes) -> str:
    if len(blob) != DIMENSIONS * 4:
        raise SchemaError(
            f"chunk {chunk_id} has an embedding of {len(blob)} bytes, not {DIMENSIONS} float32 "
            "values: delete its document and upload it again"
        )
    values = np.frombuffer(blob, dtype="<f4")
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def _text_to_blob(_chunk_id: int, text: str) -> bytes:
    values = [float(v) for v in text.strip("[]").split(",")]
    return np.asarray(values, dtype="<f4").tobytes()
