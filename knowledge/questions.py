"""What students asked, grouped by topic: questions close in meaning form one topic.

The questions are embedded with the knowledge bases' own multilingual model (`encode_query`)
and merged bottom-up, average linkage: two groups join while the mean similarity between their
questions is at least the embedder's threshold. No model is asked per question, and English and
Chinese are grouped alike (a question and its translation often land in one topic). A topic is
named by its most central question, the one most similar to the rest of its group.

Without embeddings (KB_EMBEDDINGS=off) only questions with the same words are grouped.
Everything here is blocking CPU work: run it in an executor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from knowledge.embeddings import Embedder

# The mean cosine similarity at which questions are one topic. e5's similarities sit close
# together (unrelated questions near 0.8, see core.settings.WEIGHTS); on the demo subjects,
# questions about one thing ("What is photosynthesis?", "What does photosynthesis produce?")
# score 0.85-0.96 and questions about neighbouring things ("How is igneous rock formed?",
# "How do plants make food?") 0.80-0.84. MiniLM spreads its scores wider.
THRESHOLDS = {"multilingual-e5-small-q4": 0.85, "all-MiniLM-L6-v2": 0.6}
DEFAULT_THRESHOLD = 0.85
MAX_QUESTIONS = 2000
"""The newest questions grouped at most; the similarity matrix grows with the square."""

_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Asked:
    """One question a student asked."""

    text: str
    asked_at: datetime
    session_id: str
    covered: bool
    """Whether the tutor answered it from the course material (sources were found)."""


@dataclass
class Topic:
    """Questions about one thing; `label` is the most central of them."""

    label: str
    questions: list[Asked] = field(default_factory=list)

    @property
    def uncovered(self) -> int:
        return sum(not q.covered for q in self.questions)

    @property
    def covered(self) -> bool:
        """True when the material covered every question of the topic."""
        return self.uncovered == 0


def threshold_for(embedder: Embedder | None) -> float:
    if embedder is None:
        return DEFAULT_THRESHOLD
    return THRESHOLDS.get(embedder.name, DEFAULT_THRESHOLD)


def group_questions(
    asked: list[Asked], embedder: Embedder | None, *, threshold: float | None = None
) -> list[Topic]:
    """`asked` grouped into topics: the uncovered ones first, then by size, newest first."""
    if not asked:
        return []
    if embedder is None:
        topics = _by_words(asked)
    else:
        vectors = embedder.encode_query([q.text for q in asked])
        limit = threshold_for(embedder) if threshold is None else threshold
        topics = _by_meaning(asked, vectors, limit)
    for topic in topics:
        topic.questions.sort(key=lambda q: q.asked_at, reverse=True)
    topics.sort(key=lambda t: (t.covered, -len(t.questions), -t.questions[0].asked_at.timestamp()))
    return topics


def clusters(similarity: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-linkage clustering of a square similarity matrix: the groups' member indices.

    Each step merges the two groups of the highest mean similarity between their members, until
    none reaches `threshold`. `sums[a, b]` holds the summed similarity between groups a and b.
    """
    n = similarity.shape[0]
    sums = similarity.astype(np.float64)
    sizes = np.ones(n)
    members: list[list[int]] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while alive.sum() > 1:
        mean = sums / np.outer(sizes, sizes)
        mean[~alive, :] = -np.inf
        mean[:, ~alive] = -np.inf
        np.fill_diagonal(mean, -np.inf)
        a, b = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if mean[a, b] < threshold:
            break
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sizes[a] += sizes[b]
        members[a].extend(members[b])
        alive[b] = False
    return [sorted(members[i]) for i in np.flatnonzero(alive)]


def _by_meaning(asked: list[Asked], vectors: np.ndarray, threshold: float) -> list[Topic]:
    similarity = vectors @ vectors.T
    topics = []
    for group in clusters(similarity, threshold):
        inside = similarity[np.ix_(group, group)]
        central = group[int(np.argmax(inside.sum(axis=1)))]
        topics.append(Topic(asked[central].text, [asked[i] for i in group]))
    return topics


def _by_words(asked: list[Asked]) -> list[Topic]:
    topics: dict[str, Topic] = {}
    for question in asked:
        key = _NOT_WORD.sub(" ", question.text.lower()).strip()
        topics.setdefault(key, Topic(question.text)).questions.append(question)
    return list(topics.values())
