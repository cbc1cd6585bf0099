"""Each chunk names the model that embedded it.

Revision ID: 0005
Revises: 0004

Embeddings of two models live in different spaces and must not be compared. Every embedding
stored before this revision was made by all-MiniLM-L6-v2, the only model there was, so those
chunks are marked with its name; chunks without an embedding keep NULL. Embeddings are kept:
the ingestion worker embeds again, in place, the chunks another model embedded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MINILM = "all-MiniLM-L6-v2"


def upgrade() -> None:
    op.add_column("kb_chunks", sa.Column("embedder", sa.String(64), nullable=True))
    op.execute(
        sa.text("UPDATE kb_chunks SET embedder = :name WHERE embedding IS NOT NULL").bindparams(
            name=MINILM
        )
    )


def downgrade() -> None:
    # Before this revision every embedding is taken for MiniLM's: others are dropped (their
    # passages are found by BM25 alone) rather than compared with MiniLM's questions.
    op.execute(
        sa.text(
            "UPDATE kb_chunks SET embedding = NULL WHERE embedder IS NULL OR embedder != :name"
        ).bindparams(name=MINILM)
    )
    # A plain DROP COLUMN (SQLite 3.35 and later too): copying the table, as batch mode would,
    # drops the old one, and with foreign keys on that empties the passages' turn references.
    op.drop_column("kb_chunks", "embedder")
