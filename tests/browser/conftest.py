"""Fixtures for the browser tests: Chromium with a fake microphone, the web client served
statically (with a mocked API), and the real server started as a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    CHROMIUM,
    QUESTION,
    STUDENT_EMAIL,
    STUDENT_PASSWORD,
    WEB,
    new_page,
    running_server,
)

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The question, spoken by espeak-ng, as the 48 kHz mono WAV the fake microphone plays."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to make the test speech: apt-get install -y {tool}")
    folder = tmp_path_factory.mktemp("speech")
    raw, wav = folder / "q.wav", folder / "q48.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), QUESTION], check=True)
    # Chromium plays the file in a loop. Half a second of silence before the question and eight
    # after it: the end of speech is detected, and the student is quiet long enough to be
    # answered before asking again.
    subprocess.run(
        ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav), "pad", "0.5", "8"],
        check=True,
    )
    return wav


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    # Per module, not per run: Playwright's sync API keeps an event loop running in this thread
    # while it is open, and the asyncio tests of the other modules need the thread to themselves.
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is needed: apt-get update && apt-get install -y chromium")
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Any, question_wav: Path) -> Iterator[Any]:
    """Chromium whose microphone plays the question and grants every permission prompt."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={question_wav}",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def quiet_browser(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium with a granted microphone that hears only silence, for typed-chat tests."""
    silence = tmp_path_factory.mktemp("silence") / "silence.wav"
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(silence), "trim", "0", "5"],
        check=True,
    )
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={silence}",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser_no_mic_prompt(playwright: Any) -> Iterator[Any]:
    """Chromium without the auto-accepting permission prompt: the microphone can be denied."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class _WebHandler(SimpleHTTPRequestHandler):
    """Serves web/ the way the server does: index.html at /, every file under /static/."""

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith("/static/"):
            return super().translate_path("/" + path[len("/static/") :])
        return str(WEB / "index.html")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def static_site() -> Iterator[str]:
    """The web client on a plain static server; tests mock the API with page.route()."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_WebHandler, directory=str(WEB)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def open_page() -> Iterator[Any]:
    """new_page(), with every page's context closed after the test, passed or not, so a failed
    test does not leave a call running on the server."""
    pages: list[Any] = []

    def opener(browser: Any, **options: Any) -> Any:
        page = new_page(browser, **options)
        pages.append(page)
        return page

    yield opener
    for page in pages:
        if not page.is_closed():
            page.context.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server (API, engine, web client) with the demo student, on a free port."""
    var = tmp_path_factory.mktemp("var")
    env = {"DEMO_STUDENT_EMAIL": STUDENT_EMAIL, "DEMO_STUDENT_PASSWORD": STUDENT_PASSWORD}
    with running_server(var, env) as url:
        yield url
