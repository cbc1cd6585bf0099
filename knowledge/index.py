"""One knowledge base's passages in memory: BM25, the embedding matrix (SQLite), and their fusion.

Ranking mixes the two signals; whether anything is relevant at all is judged on absolute
signals (the share of the question's weight a passage matches, and cosine similarity), so an
unrelated question finds nothing instead of the least bad passage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.settings import Weights
from knowledge.lexical import BM25
from knowledge.text import cjk_ratio, snippet, tokens
from storage.knowledge_tables import Vectors


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
    embedding: Vectors | None
    """Loaded only where dense search runs in memory; PostgreSQL keeps it in the database."""


@dataclass(frozen=True)
class Lexical:
    """BM25 for one question: each passage's score, the best score, and the share of the
    question's weight each passage matches."""

    scores: list[float]
    top: float
    coverage: list[float]


def dense_share(weights: Weights, query: str) -> float:
    """How much the dense side counts for this question, by its share of Chinese."""
    share = cjk_ratio(query)
    return weights.dense_zh * share + weights.dense_en * (1.0 - share)


def similarity(cosine: Vectors, floor: float) -> Vectors:
    """Cosine similarities read from `floor` (none) to 1 (the same text), as 0 to 1."""
    spread: Vectors = np.clip((cosine - floor) / (1.0 - floor), 0.0, None).astype(np.float32)
    return spread


class KBIndex:
    """Search over one knowledge base. Built and searched off the event loop.

    Where the rows carry their embeddings the cosine similarities are computed here, over the
    whole base; otherwise (PostgreSQL) the retriever asks the database for them and hands them
    to `fuse`. Either way the fusion with BM25 is the same.
    """

    def __init__(
        self, kb_id: int, rows: list[ChunkRow], *, dimensions: int, embedded: bool | None = None
    ) -> None:
        """`embedded` says whether every passage has an embedding stored, for rows loaded
        without them; by default it is read off the rows."""
        self.kb_id = kb_id
        self.rows = rows
        self._bm25 = BM25([tokens(f"{r.location}\n{r.text}") for r in rows])
        self._positions = {r.chunk_id: i for i, r in enumerate(rows)}
        carried = bool(rows) and all(r.embedding is not None for r in rows)
        self.has_vectors = bool(rows) and (carried if embedded is None else embedded)
        self._matrix: Vectors | None = None
        if carried:
            matrix = np.zeros((len(rows), dimensions), dtype=np.float32)
            for i, r in enumerate(rows):
                assert r.embedding is not None
                matrix[i] = r.embedding
            self._matrix = matrix

    def search(
        self, query: str, vector: Vectors | None, *, k: int, weights: Weights
    ) -> list[Passage]:
        """The k best passages for `query`, best first (relevance not yet thresholded)."""
        cosine = None
        if vector is not None and self.has_vectors and dense_share(weights, query):
            cosine = self.cosines(vector)
        return self.fuse(query, self.lexical(query), cosine, k=k, weights=weights)

    def lexical(self, query: str) -> Lexical:
        scores, coverage = self._bm25.scores(tokens(query))
        return Lexical(scores=scores, top=max(scores, default=0.0) or 1.0, coverage=coverage)

    def best_lexical(self, lexical: Lexical, n: int) -> list[int]:
        """The chunk ids of the (at most) n passages BM25 ranks highest, among those it matches."""
        order = sorted(range(len(self.rows)), key=lambda i: lexical.scores[i], reverse=True)
        return [self.rows[i].chunk_id for i in order[:n] if lexical.scores[i] > 0]

    def cosines(self, vector: Vectors) -> Vectors:
        """Cosine similarity of every passage to `vector`, from the embeddings held here."""
        if self._matrix is None:
            raise ValueError("this index was built without the embeddings")
        cosine: Vectors = self._matrix @ vector
        return cosine

    def cosines_of(self, similarity: Mapping[int, float]) -> Vectors:
        """Per passage, the similarity found by chunk id elsewhere (the database); 0 for
        passages not found, which rank below every one that was."""
        cosine = np.zeros(len(self.rows), np.float32)
        for chunk_id, value in similarity.items():
            position = self._positions.get(chunk_id)
            if position is not None:
                cosine[position] = value
        return cosine

    def fuse(
        self, query: str, lexical: Lexical, cosine: Vectors | None, *, k: int, weights: Weights
    ) -> list[Passage]:
        """The k best passages by BM25 fused with cosine similarity (BM25 alone without it)."""
        if not self.rows:
            return []
        w_dense = dense_share(weights, query) if cosine is not None else 0.0
        dense = similarity(cosine, weights.floor) if cosine is not None else None
        scored = []
        for i, row in enumerate(self.rows):
            cos = float(dense[i]) if dense is not None else 0.0
            score = (1 - w_dense) * lexical.scores[i] / lexical.top + w_dense * cos
            relevance = (1 - w_dense) * lexical.coverage[i] + w_dense * cos
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
