"""One knowledge base's passages in memory: BM25 plus the embedding matrix, and their fusion.

Ranking mixes the two signals; whether anything is relevant at all is judged on absolute
signals (the share of the question's weight a passage matches, and cosine similarity), so an
unrelated question finds nothing instead of the least bad passage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from knowledge.embeddings import Vectors, from_blob
from knowledge.lexical import BM25
from knowledge.text import cjk_ratio, snippet, tokens


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk and why it was chosen."""

    chunk_id: int
    document_id: int
    kb_id: int
    title: str
    location: str
    text: str
    score: float
    """Fused ranking score."""
    relevance: float
    """Absolute relevance (0..1) compared with the threshold."""

    @property
    def source(self) -> str:
        return f"{self.title}, {self.location}" if self.location else self.title

    def item(self) -> dict[str, Any]:
        """As sent to the client in a `sources` event."""
        return {
            "document": self.document_id,
            "title": self.title,
            "location": self.location,
            "snippet": snippet(self.text),
        }


@dataclass(frozen=True)
class ChunkRow:
    chunk_id: int
    document_id: int
    title: str
    location: str
    text: str
    embedding: bytes | None


@dataclass(frozen=True)
class Weights:
    """How much the dense side counts, by the language of the question."""

    dense_en: float = 0.6
    """all-MiniLM is trained on English: trust it for English questions."""
    dense_zh: float = 0.15
    """...and barely for Chinese, where its vocabulary is single characters."""

    def dense(self, query: str) -> float:
        share = cjk_ratio(query)
        return self.dense_zh * share + self.dense_en * (1.0 - share)


class KBIndex:
    """Search over one knowledge base. Built and searched off the event loop."""

    def __init__(self, kb_id: int, rows: list[ChunkRow], *, dimensions: int) -> None:
        self.kb_id = kb_id
        self.rows = rows
        self._bm25 = BM25([tokens(f"{r.location}\n{r.text}") for r in rows])
        self.has_vectors = bool(rows) and all(r.embedding is not None for r in rows)
        matrix = np.zeros((len(rows), dimensions), dtype=np.float32)
        if self.has_vectors:
            for i, r in enumerate(rows):
                assert r.embedding is not None
                matrix[i] = from_blob(r.embedding)
        self._matrix = matrix

    def search(
        self, query: str, vector: Vectors | None, *, k: int, weights: Weights
    ) -> list[Passage]:
        """The k best passages for `query`, best first (relevance not yet thresholded)."""
        if not self.rows:
            return []
        bm25, coverage = self._bm25.scores(tokens(query))
        top = max(bm25) or 1.0
        w_dense = weights.dense(query) if vector is not None and self.has_vectors else 0.0
        cosine = np.zeros(len(self.rows), np.float32)
        if vector is not None and w_dense:
            cosine = self._matrix @ vector
        scored = []
        for i, row in enumerate(self.rows):
            cos = max(float(cosine[i]), 0.0)
            score = (1 - w_dense) * bm25[i] / top + w_dense * cos
            relevance = (1 - w_dense) * coverage[i] + w_dense * cos
            scored.append((score, relevance, row))
        scored.sort(key=lambda t: t[0], reverse=True)
        return [
            Passage(
                chunk_id=row.chunk_id,
                document_id=row.document_id,
                kb_id=self.kb_id,
                title=row.title,
                location=row.location,
                text=row.text,
                score=round(score, 4),
                relevance=round(relevance, 4),
            )
            for score, relevance, row in scored[:k]
        ]
