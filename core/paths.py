"""Where each assembled model lives under the models directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelPaths:
    """Where each assembled model lives under the models directory."""

    root: Path

    @property
    def whisper_tiny_en(self) -> Path:
        return self.root / "whisper-tiny.en"

    @property
    def whisper_base(self) -> Path:
        return self.root / "whisper-base"

    @property
    def kokoro_model(self) -> Path:
        return self.root / "kokoro-82m-int8" / "kokoro.onnx"

    @property
    def kokoro_voices_dir(self) -> Path:
        return self.root / "kokoro-voices" / "voices"

    @property
    def llm(self) -> Path:
        return self.root / "qwen2.5-coder-0.5b-instruct-q4_k_m" / "model.gguf"
