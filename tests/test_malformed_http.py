"""Requests aiohttp's HTTP parser rejects, sent over raw sockets to a server run the way the CLI
runs it (core.server's runner): a JSON 400 with the security headers, nothing of the request
repeated, and the server goes on serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from core.server import AppRunner
from signaling.app import create_app
from tests.conftest import make_settings

MARK = "zq9secretx"
"""Put into every bad request: it must not come back."""


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    app = create_app(make_settings(tmp_path, ENABLE_LLM="false"))
    runner = AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    yield int(runner.addresses[0][1])
    await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw`, read until the server closes (it must: the connection is broken after a
    parser error): (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


BAD = {
    "long url": f"GET /{MARK}{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "huge header": f"GET / HTTP/1.1\r\nHost: x\r\nX-{MARK}: {'b' * 9000}\r\n\r\n".encode(),
    "too many headers": (
        "GET / HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-{MARK}{i}: v\r\n" for i in range(200))
    ).encode()
    + b"\r\n",
    "broken request line": f"GET{MARK} / HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode(),
    "not http": f"\x16\x03\x01{MARK}\r\n\r\n".encode(),
    "bad version": f"GET / HTTP/{MARK}\r\nHost: x\r\n\r\n".encode(),
    "bad chunked body": (
        f"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{MARK}\r\n"
    ).encode(),
}


@pytest.mark.parametrize("what", list(BAD))
async def test_a_request_the_parser_rejects_is_json_without_echo(what: str, port: int) -> None:
    status, headers, body = await exchange(port, BAD[what])
    assert status == 400, (what, body[:200])
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error == {"code": "bad_request", "message": "malformed HTTP request"}
    assert MARK.encode() not in body and MARK.encode() not in str(headers).encode()
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["server"] == "virtual-tutor"
    # The server goes on serving.
    status, _, body = await exchange(
        port, b"GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and json.loads(body)["openapi"]


async def test_errors_inside_the_app_keep_their_own_json(port: int) -> None:
    status, headers, body = await exchange(
        port, f"GET /{MARK} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert headers["content-type"].startswith("application/json")
