"""The knowledge tables: documents as uploaded, their chunks, and the passages each turn used.
Storage owns them like every table; the `knowledge` package fills and reads them.

`knowledge_bases` itself lives in storage.models. Every chunk carries its `kb_id` so that every
retrieval query filters on it directly: passages never cross knowledge bases.

A chunk's embedding is a float32 vector in Python on every database. SQLite stores it as a
little-endian float32 BLOB and searches it in memory; PostgreSQL stores it in a pgvector
`vector(384)` column with an HNSW index and searches it in the database (migration 0003).
Beside it, `embedder` names the model that made it (migration 0005): vectors of two models are
never compared, and passages of another model are embedded again (knowledge.ingest).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Dialect, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from storage.database import SchemaError
from storage.models import Base, utcnow

STATUSES = ("pending", "processing", "ready", "failed")

Vectors = npt.NDArray[np.float32]
DIMENSIONS = 384
"""Width of a passage embedding (multilingual-e5-small and all-MiniLM-L6-v2 alike)."""


def to_blob(vector: Vectors) -> bytes:
    """A vector as stored in the database: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Vectors:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class Embedding(TypeDecorator[Vectors]):
    """A float32 vector: pgvector's `vector(n)` on PostgreSQL, a little-endian BLOB elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, dimensions: int) -> None:
        super().__init__()
        self.dimensions = dimensions

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name != "postgresql":
            return dialect.type_descriptor(LargeBinary())
        try:
            from pgvector.sqlalchemy import Vector
        except ImportError as exc:
            raise SchemaError(
                "PostgreSQL stores embeddings with pgvector: pip install 'virtual-tutor[postgres]'"
            ) from exc
        return dialect.type_descriptor(Vector(self.dimensions))

    def process_bind_param(self, value: Vectors | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if len(value) != self.dimensions:
            raise ValueError(f"an embedding has {len(value)} dimensions, not {self.dimensions}")
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32)
        return to_blob(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Vectors | None:
        if value is None:
            return None
        if dialect.name == "postgresql":  # pgvector hands back a list of floats
            return np.asarray(value, dtype=np.float32)
        return from_blob(value)

    def compare_values(self, x: Any, y: Any) -> bool:
        # numpy's == is elementwise; the ORM wants one answer.
        if x is None or y is None:
            return x is y
        return bool(np.array_equal(x, y))


class KBDocument(Base):
    """One uploaded file. Its bytes are stored here; its name is only ever displayed."""

    __tablename__ = "kb_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kb_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KBChunk(Base):
    """A passage of a document, with its embedding (or NULL when embeddings are off)."""

    __tablename__ = "kb_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kb_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[int] = mapped_column(
        ForeignKey("kb_documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[Vectors | None] = mapped_column(Embedding(DIMENSIONS), nullable=True)
    embedder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The model that made `embedding` (an Embedder's `name`); NULL when there is none."""


class KBTurnSource(Base):
    """A passage put in front of the LLM for one assistant turn, in rank order."""

    __tablename__ = "kb_turn_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[str] = mapped_column(String(64), index=True)
    chunk_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_chunks.id", ondelete="SET NULL"), nullable=True
    )
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_documents.id", ondelete="SET NULL"), nullable=True
    )
    title: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
