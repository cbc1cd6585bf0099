"""The OpenAPI description matches the routes the server registers: all of them, nothing else."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from signaling.app import create_app
from signaling.openapi import describe
from tests.conftest import make_settings

METHODS = {"get", "post", "put", "patch", "delete"}
NOT_API = {"/", "/static"}  # the web client


def registered(app: Any) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or any(path == p or path.startswith(p + "/") for p in NOT_API):
            continue
        out.add((route.method.lower(), path))
    return out


def described(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, path) for path, ops in spec["paths"].items() for m in ops if m in METHODS}


def test_every_route_is_described_and_nothing_else(tmp_path: Any) -> None:
    for env in ({}, {"ENGINE_URL": "http://engine.example:8001"}):
        settings = make_settings(tmp_path, **env)
        app = create_app(settings)
        assert registered(app) == described(describe(with_engine=settings.in_process_engine))


def test_the_description_is_well_formed() -> None:
    spec = describe(with_engine=True)
    assert spec["openapi"].startswith("3.1")
    for path, ops in spec["paths"].items():
        names = {p["name"] for p in ops.get("parameters", [])}
        assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method in METHODS & set(ops):
            op = ops[method]
            assert op["summary"] and op["responses"]
            for scheme in op.get("security", []):
                assert set(scheme) <= set(spec["components"]["securitySchemes"])


async def test_served_at_api_openapi_json(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert described(spec) == registered(client.app)
