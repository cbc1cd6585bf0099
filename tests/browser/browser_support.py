"""Paths, credentials and page helpers shared by the browser tests."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

# The same allowance for assertions as for page actions (set_default_timeout below): on a
# loaded 2-core machine a view waiting on the server (the questions view, say) took over
# expect's own default of 5 s.
expect.set_options(timeout=15_000)

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
STUDENT_EMAIL = "student@example.com"
STUDENT_PASSWORD = "student-pass-" + secrets.token_hex(4)
QUESTION = "What is photosynthesis?"


def new_page(browser: Any, *, locale: str = "en-US", phone: bool = False, **options: Any) -> Any:
    viewport = {"width": 390, "height": 780} if phone else {"width": 1100, "height": 820}
    # Playwright's wait_for_function evaluates its predicate as a string, which the server's
    # strict CSP (no eval) forbids; the page's own scripts need nothing the CSP refuses
    # (tests/test_http_headers.py checks web/ for inline scripts and handlers).
    options.setdefault("bypass_csp", True)
    context = browser.new_context(locale=locale, viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.page_errors = errors
    return page


def close_page(page: Any) -> None:
    """Close the page's context, failing the test if the page threw an uncaught error."""
    errors = list(page.page_errors)
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def save_screenshot(page: Any, name: str, *, for_readme: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    # A focus ring left by autofocus says nothing in a picture.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(path), full_page=False)
    if for_readme:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float, degraded: bool
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            if degraded and error.code == 503:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"the server was not healthy within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


@contextmanager
def running_server(
    var: Path, env: dict[str, str], *, timeout: float = 180, degraded: bool = False
) -> Iterator[str]:
    """The real server (API, engine, web client) on a free port, its database and files in
    `var`; `env` adds to or overrides the settings. Its log is kept in the artifacts. With
    `degraded`, a server that answers but reports trouble (503: a pool with no engine yet) is
    up."""
    port = free_port()
    full = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{var}/t.db",
        "VAR_DIR": str(var),
        "MODELS_DIR": str(REPO / "var" / "models"),
        "SECRET_KEY": secrets.token_urlsafe(36)[:48],
        "ADMIN_PASSWORD": "admin-pass-" + secrets.token_hex(4),
        # Reading the tutors' prompts at start would only load the shared cores under tests.
        "LLM_WARM_TUTORS": "0",
        # Likewise speaking the course material ahead.
        "SPEECH_WARM_TUTORS": "0",
        **env,
    }
    log = var / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "virtual_tutor.cli", "serve"],
            cwd=REPO,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, timeout, degraded)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / f"server-{var.name}.log")
