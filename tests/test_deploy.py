"""deploy/compose.yaml: the multi-machine layout. Its settings are checked against the ones the
program reads; `docker compose config` validates it where Docker Compose is installed. (The
same layout, a server and a pool of engines on one database, runs as plain processes in
tests/test_engine_pool.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import typing
from dataclasses import fields, is_dataclass
from typing import Any

import pytest
import yaml

from core.settings import Settings
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"


def setting_names(cls: type = Settings) -> set[str]:
    names: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in fields(cls):  # type: ignore[arg-type]
        if "env" in f.metadata:
            names.add(f.metadata["env"])
        elif is_dataclass(hints[f.name]):
            names |= setting_names(hints[f.name])
    return names


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_the_layout_has_its_parts_and_only_real_settings() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "coturn", "server", "engine-1", "engine-2"}
    known = setting_names()
    for name in ("server", "engine-1", "engine-2"):
        environment = services[name]["environment"]
        unknown = set(environment) - known
        assert not unknown, f"{name} sets what the program does not read: {unknown}"
        assert environment["ENGINE_POOL"] == "true"
        assert environment["DATABASE_URL"].startswith("postgresql://")
    engines = [services[n]["environment"]["PUBLIC_URL"] for n in ("engine-1", "engine-2")]
    assert len(set(engines)) == 2, "each engine needs a URL of its own"


def test_the_example_env_sets_every_variable_the_layout_uses() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "compose.yaml").read_text()))
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "example.env").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used == example


def test_docker_compose_accepts_it() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("Docker Compose is not installed here")
    result = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "--env-file"]
        + [str(DEPLOY / "example.env"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
