"""Shared fixtures: settings on a temporary database, the real embedded LLM (loaded once), a
real server, and a guard that fails any test whose event loop stalls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.paths import ModelPaths
from core.settings import Settings
from knowledge.embeddings import Embedder
from media_engine.llm.base import LLM
from signaling.app import create_app
from signaling.keys import EMBEDDER

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "var" / "models"
SECRET = "test-secret-key-" + "x" * 40
ADMIN = ("admin@example.com", "admin-password-1")
STUDENT = ("student@example.com", "student-password-1")
# A stall this long means something blocked the loop (a model call, a sync DB query).
MAX_LOOP_STALL_S = 1.0


def make_settings(tmp_path: Path, **env: str) -> Settings:
    base = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/test.db",
        "SECRET_KEY": SECRET,
        "VAR_DIR": str(tmp_path),
        "MODELS_DIR": str(MODELS_DIR),
        "ADMIN_PASSWORD": ADMIN[1],
        "DEMO_STUDENT_PASSWORD": STUDENT[1],
        "LOAD_VOICE_MODELS": "false",
        "LLM_MAX_TOKENS": "48",
        # Reading the tutors' prompts at start would only load the shared cores under tests.
        "LLM_WARM_TUTORS": "0",
        # Likewise speaking the course material ahead.
        "SPEECH_WARM_TUTORS": "0",
        "PORT": "0",
    }
    base.update(env)
    return Settings.from_env(base, env_file=None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def real_llm() -> Iterator[LLM]:
    """The embedded llama.cpp model, loaded once for the whole run."""
    from media_engine.llm.llama_backend import LlamaCppLLM

    path = ModelPaths.for_settings(make_settings(ROOT / "var")).llm
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `virtual-tutor models` (make test does)")
    llm = LlamaCppLLM(model_path=path, n_ctx=2048, n_threads=2)
    yield llm
    asyncio.run(llm.aclose())


class LoopGuard:
    """Measures how late the loop wakes a 20 ms sleeper, from `start()` to the test's end.

    A thread wakes every 20 ms beside it. When the whole process stalls (a loaded machine
    not scheduling it, a garbage collection, a C call holding the GIL), the thread wakes late
    too; when code on the event loop blocks it, the thread still wakes on time (Python hands
    the GIL over every few milliseconds, and blocking C calls release it). So a stall counts
    only by how much it exceeds the thread's lateness over the same span.
    """

    def __init__(self) -> None:
        self.stalls: list[float] = [0.0]
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # The thread's wakes: (when it woke, how late).
        self._wakes: deque[tuple[float, float]] = deque(maxlen=100_000)

    def start(self) -> None:
        if self._task is None:
            self._thread = threading.Thread(target=self._witness, name="loop-guard", daemon=True)
            self._thread.start()
            self._task = asyncio.create_task(self._watch())

    def _witness(self) -> None:
        while not self._stopping.is_set():
            before = time.perf_counter()
            time.sleep(0.02)
            woke = time.perf_counter()
            self._wakes.append((woke, woke - before - 0.02))

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.02)
            woke = time.perf_counter()
            late = woke - before - 0.02
            if late > 0.2:
                # The thread's wake that ends the same stall may come a moment after ours.
                for _ in range(200):  # up to 2 s on a loaded machine
                    if self._woke_after(woke):
                        break
                    await asyncio.sleep(0.01)
                # A stall can come in pieces (a C call, a moment's release, another call): the
                # thread may get the GIL between them and the loop not, so it is the sum of the
                # thread's lateness over the same span that the whole process was held up.
                process = 0.0
                for t, w in list(self._wakes):
                    if t >= before:
                        process += w
                    if t > woke:  # the wake that ends our stall: later ones are not ours
                        break
                late -= min(process, late)
            self.stalls.append(late)

    def _woke_after(self, moment: float) -> bool:
        return bool(self._wakes) and self._wakes[-1][0] > moment

    def process_stall(self) -> float:
        """The thread's longest lateness: how long the whole process was held up at once."""
        return max((late for _, late in list(self._wakes)), default=0.0)

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        return max(self.stalls)


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The knowledge bases' embedding model (KB_EMBEDDER, e5 by default), loaded once for the
    whole run and shared with the knowledge tests."""
    from tests.test_knowledge_api import shared_embedder

    return shared_embedder()


@pytest.fixture
async def loop_guard() -> AsyncIterator[LoopGuard]:
    """Fails a test whose event loop stalls once its servers are up (start-up may block: the
    models load and the schema migrates before the first request is served)."""
    guard = LoopGuard()
    yield guard
    worst = await guard.stop()
    assert worst < MAX_LOOP_STALL_S, f"the event loop stalled for {worst:.2f} s"


MakeClient = Callable[..., Any]


@pytest.fixture
async def make_client(
    aiohttp_client: Any,
    tmp_path: Path,
    real_llm: LLM,
    real_embedder: Embedder,
    loop_guard: LoopGuard,
) -> MakeClient:
    """Builds a real server (create_app) on a fresh database, sharing the loaded models."""

    async def make(app: web.Application | None = None, **env: str) -> TestClient[Any, Any]:
        if app is None:
            app = create_app(make_settings(tmp_path, **env), llm=real_llm)
        app[EMBEDDER] = real_embedder
        client: TestClient[Any, Any] = await aiohttp_client(app)
        loop_guard.start()
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    c: TestClient[Any, Any] = await make_client()
    return c


async def login(client: TestClient[Any, Any], who: tuple[str, str] = STUDENT) -> dict[str, str]:
    resp = await client.post("/api/auth/login", json={"email": who[0], "password": who[1]})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return {"Authorization": f"Bearer {body['access_token']}"}
