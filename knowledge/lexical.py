"""Okapi BM25 over one knowledge base's chunks, held in memory.

A knowledge base of a course is small (hundreds to a few thousand passages), so an in-memory
inverted index built from the database is fast and works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

K1 = 1.2
B = 0.75


class BM25:
    """Scores documents (token lists) against a query; `coverage` says how much of the query
    the best document matched, as a share of the query's IDF weight (0..1)."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.n = len(docs)
        self._tf = [Counter(d) for d in docs]
        self._len = [len(d) for d in docs]
        self._avg = (sum(self._len) / self.n) if self.n else 0.0
        df: Counter[str] = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        self._postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self._tf):
            for term in tf:
                self._postings.setdefault(term, []).append(i)
        self._df = df

    def idf(self, term: str) -> float:
        df = self._df.get(term, 0)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query: Sequence[str]) -> tuple[list[float], list[float]]:
        """BM25 score of every document, and the share of query IDF each document matched."""
        scores = [0.0] * self.n
        matched = [0.0] * self.n
        terms = Counter(query)
        total = sum(self.idf(t) * c for t, c in terms.items()) or 1.0
        for term, count in terms.items():
            idf = self.idf(term)
            for i in self._postings.get(term, ()):
                tf = self._tf[i][term]
                norm = K1 * (1 - B + B * self._len[i] / (self._avg or 1.0))
                scores[i] += count * idf * tf * (K1 + 1) / (tf + norm)
                matched[i] += count * idf
        return scores, [m / total for m in matched]
