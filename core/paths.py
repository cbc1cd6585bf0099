"""Where each assembled model lives under the models directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings

LLM_MODELS: dict[str, str] = {
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m",
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m",
}
"""`LLM_MODEL` keys and the manifest entry (directory) that holds each one's GGUF."""


def llm_model_name(key: str) -> str:
    """The manifest name of the LLM an `LLM_MODEL` key stands for."""
    try:
        return LLM_MODELS[key]
    except KeyError:
        raise ValueError(f"unknown LLM {key!r}: one of {', '.join(LLM_MODELS)}") from None


def _default_llm_model() -> str:
    # The default is written once, on the setting; read it from there.
    from core.settings import Settings

    default = Settings.__dataclass_fields__["llm_model"].default
    assert isinstance(default, str)
    return default


@dataclass(frozen=True)
class ModelPaths:
    """Where each assembled model lives under the models directory."""

    root: Path
    llm_model: str | None = None
    """The `LLM_MODEL` key whose GGUF `llm` names; None: the setting's default."""

    @classmethod
    def for_settings(cls, settings: Settings) -> ModelPaths:
        """The paths under `settings.models_dir`, `llm` being the model `LLM_MODEL` chose."""
        return cls(settings.models_dir, settings.llm_model)

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
    def smart_turn(self) -> Path:
        """The Smart Turn v3.2 end-of-turn classifier (ONNX, CPU)."""
        return self.root / "smart-turn-v3.2" / "smart-turn-v3.2-cpu.onnx"

    @property
    def piper_voice(self) -> Path:
        """The Piper voice en_US-joe-medium (ONNX)."""
        return self.root / "piper-joe-us" / "voice.onnx"

    @property
    def piper_config(self) -> Path:
        """The Piper voice's config (phonemes, sample rate), read beside `piper_voice`."""
        return self.root / "piper-joe-us" / "voice.onnx.json"

    def llm_for(self, key: str) -> Path:
        """The GGUF of the LLM an `LLM_MODEL` key stands for."""
        return self.root / llm_model_name(key) / "model.gguf"

    @property
    def llm(self) -> Path:
        """The GGUF of the chosen LLM (`llm_model`, else the setting's default)."""
        return self.llm_for(self.llm_model or _default_llm_model())
