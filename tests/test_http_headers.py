"""Security headers on every response, a web client that keeps to its own strict CSP, and no
version banner."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from aiohttp.test_utils import TestClient

from signaling.app import WEB_DIR
from tests.conftest import login


class _Inline(HTMLParser):
    """Finds what a CSP without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self._in_script = True
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        self.found += [f"{tag} style=" for name in names if name == "style"]
        self.found += [
            f"{tag} javascript: url"
            for _, value in attrs
            if value and value.strip().lower().startswith("javascript:")
        ]

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def test_the_web_client_has_nothing_inline() -> None:
    for page in WEB_DIR.rglob("*.html"):
        parser = _Inline()
        parser.feed(page.read_text())
        assert parser.found == [], (page, parser.found)
    for script in WEB_DIR.rglob("*.js"):
        text = script.read_text()
        # What 'unsafe-eval' or 'unsafe-inline' would be needed for.
        for pattern in (r"\beval\(", r"new Function\(", r"\.innerHTML\s*=", r"\.style\.", "style:"):
            assert re.search(pattern, text) is None, (script, pattern)


def check_headers(resp: Any) -> None:
    headers = resp.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert not re.search(r"\d", headers.get("Server", "")), headers.get("Server")
    assert "aiohttp" not in headers.get("Server", "").lower()


async def test_every_response_carries_the_security_headers(client: TestClient[Any, Any]) -> None:
    headers = await login(client)
    for method, path, auth, status in [
        ("GET", "/", {}, 200),
        ("GET", "/static/app.js", {}, 200),
        ("GET", "/static/style.css", {}, 200),
        ("GET", "/static/nope.js", {}, 404),
        ("GET", "/health", {}, 200),
        ("GET", "/api/tutors", {}, 401),
        ("GET", "/api/tutors", headers, 200),
        ("DELETE", "/api/auth/me", headers, 405),
        ("GET", "/nowhere", {}, 404),
        ("POST", "/v1/calls/abc", {}, 401),
        ("OPTIONS", "/api/tutors", {"Origin": "http://evil.example"}, 405),
    ]:
        resp = await client.request(method, path, headers=auth)
        assert resp.status == status, (method, path, resp.status)
        check_headers(resp)
    page = await client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
