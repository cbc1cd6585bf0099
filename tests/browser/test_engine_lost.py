"""A call whose engine dies, in the browser: the server ends the session (`engine_lost`), the
page says what happened and offers a new call, which the pool places on an engine still alive.

The server runs with a pool of two real `virtual-tutor engine` processes on one database; the
engine holding the call is killed with SIGKILL, so it says no goodbye.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    REPO,
    STUDENT_EMAIL,
    STUDENT_PASSWORD,
    close_page,
    free_port,
    running_server,
)

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

# Heartbeats every half second; an engine silent for 4 s is taken for dead.
POOL = {"ENGINE_POOL": "true", "ENGINE_HEARTBEAT_SECONDS": "0.5", "ENGINE_STALE_SECONDS": "4"}
# The browser notices a dead peer by its own timers (ICE consent), then the page asks the
# server; on a loaded machine all of it may take a while.
NOTICED_WITHIN_MS = 90_000
TOKEN_KEY = "vt.token"  # web/api.js


def start_engine(var: Path, shared: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A light engine (no voice models, no LLM) in the pool, once it answers /health."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **shared,
        "VAR_DIR": str(var),
        "MODELS_DIR": str(REPO / "var" / "models"),
        "LOAD_VOICE_MODELS": "false",
        "ENABLE_LLM": "false",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": url,
    }
    command = [sys.executable, "-m", "virtual_tutor.cli", "engine"]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, "the engine exited during start-up"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail("the engine did not start")


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[tuple[str, list[tuple[subprocess.Popen[bytes], str]]]]:
    """The server (API and web client, no engine of its own) and two engines."""
    shared = {
        **POOL,
        "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "SECRET_KEY": secrets.token_urlsafe(36)[:48],
    }
    env = {
        **shared,
        "DEMO_STUDENT_EMAIL": STUDENT_EMAIL,
        "DEMO_STUDENT_PASSWORD": STUDENT_PASSWORD,
    }
    with running_server(tmp_path, env, degraded=True) as url:
        # After the server: it creates and seeds the database the engines register in.
        engines = [start_engine(tmp_path, shared) for _ in range(2)]
        try:
            yield url, engines
        finally:
            for process, _ in engines:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=15)


def connected(page: Any, also: Callable[[dict[str, Any]], bool]) -> None:
    """Wait until the page's call is connected (and `also` holds of the page's state). Polled
    from here: the page's policy forbids the eval that page.wait_for_function needs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = page.evaluate("() => __tutor.state")
        if state["connection"] == "connected" and also(state):
            return
        time.sleep(0.25)
    pytest.fail(f"the call did not connect: {state}")


def in_use(engine: str) -> int:
    with urllib.request.urlopen(f"{engine}/health", timeout=5) as response:
        return int(json.load(response)["engine"]["sessions_in_use"])


def test_a_call_whose_engine_dies_says_so_and_offers_a_new_one(
    quiet_browser: Any, pool: tuple[str, list[tuple[subprocess.Popen[bytes], str]]], open_page: Any
) -> None:
    server, engines = pool
    # The page's own security policy applies (it must let the page reach every engine).
    page = open_page(quiet_browser, bypass_csp=False)
    page.goto(server + "/")
    page.get_by_label("Email").fill(STUDENT_EMAIL)
    page.get_by_label("Password").fill(STUDENT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator(".tutor", has_text="English").first.get_by_role("button").click()
    connected(page, lambda state: True)
    first_session = page.evaluate("__tutor.state.sessionId")

    (holder, _), (other, other_url) = engines if in_use(engines[0][1]) else engines[::-1]
    assert in_use(other_url) == 0
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    notice = page.get_by_text("The tutor's server stopped, so this call has ended.")
    expect(notice).to_be_visible(timeout=NOTICED_WITHIN_MS)
    again = page.get_by_role("button", name="Start a new call")
    expect(again).to_be_focused()
    # What the server stored agrees with what the page said.
    token = page.evaluate(f"JSON.parse(localStorage.getItem({json.dumps(TOKEN_KEY)})).token")
    request = urllib.request.Request(
        f"{server}/api/student/sessions/{first_session}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        stored = json.load(response)
    assert stored["status"] == "ended" and stored["end_reason"] == "engine_lost"

    again.click()
    connected(page, lambda state: state["sessionId"] != first_session)
    assert in_use(other_url) == 1
    close_page(page)
