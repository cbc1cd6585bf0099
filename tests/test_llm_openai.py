"""The OpenAI-compatible backend against a real server: llama-cpp-python's own OpenAI server,
started on loopback with the shipped GGUF."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.paths import ModelPaths
from media_engine.llm.base import ChatMessage, GenerationOptions, LLMError
from media_engine.llm.openai_backend import OpenAICompatibleLLM
from signaling.app import create_app
from tests.calls import open_call, plain_tutor, wait_reply
from tests.conftest import MODELS_DIR, MakeClient, login, make_settings
from tests.engine_procs import free_port

KEY = "test-key-for-the-model-server"
ASK: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful science tutor. Answer in one sentence."},
    {"role": "user", "content": "What do plants need to make food?"},
]


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    """`python -m llama_cpp.server` with the model `make test` assembles (the default one),
    its API behind a key."""
    port = free_port()
    gguf = ModelPaths(MODELS_DIR).llm
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
        + ["--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--api_key", KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "the model server exited during start-up"
            request = urllib.request.Request(
                f"{url}/models", headers={"Authorization": f"Bearer {KEY}"}
            )
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(request, timeout=2) as resp:
                    if resp.status == 200:
                        break
            assert time.monotonic() < deadline, "the model server did not start in 180 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def backend(url: str, key: str | None = KEY) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(base_url=url, model="tutor", api_key=key)


async def test_a_reply_streams_in_pieces(model_server: str) -> None:
    llm = backend(model_server)
    try:
        pieces = [p async for p in llm.stream(ASK, GenerationOptions(max_tokens=40))]
    finally:
        await llm.aclose()
    assert len(pieces) > 3
    reply = "".join(pieces).lower()
    assert any(w in reply for w in ("light", "sun", "water", "carbon")), reply


async def test_a_reply_cancelled_mid_way_stops_and_the_next_one_comes(model_server: str) -> None:
    llm = backend(model_server)
    try:
        stream = llm.stream(ASK, GenerationOptions(max_tokens=200))
        got = [await anext(stream), await anext(stream)]
        await stream.aclose()  # barge-in: the connection closes, the server stops
        assert all(got)
        again = [p async for p in llm.stream(ASK, GenerationOptions(max_tokens=12))]
        assert "".join(again).strip()
    finally:
        await llm.aclose()


async def test_a_started_reply_is_continued(model_server: str) -> None:
    """The engine says a reply's opening itself and the model goes on from it."""
    llm = backend(model_server)
    started: list[ChatMessage] = [*ASK, {"role": "assistant", "content": "Plants need sunlight"}]
    try:
        rest = "".join([p async for p in llm.stream(started, GenerationOptions(max_tokens=30))])
    finally:
        await llm.aclose()
    assert rest.strip()


async def test_a_wrong_key_is_a_clear_error_not_worth_retrying(model_server: str) -> None:
    llm = backend(model_server, key="wrong")
    try:
        with pytest.raises(LLMError) as caught:
            _ = [p async for p in llm.stream(ASK, GenerationOptions(max_tokens=8))]
    finally:
        await llm.aclose()
    assert "401" in str(caught.value)
    assert caught.value.retryable is False


async def test_no_server_is_a_retryable_error() -> None:
    llm = backend(f"http://127.0.0.1:{free_port()}/v1")
    try:
        with pytest.raises(LLMError) as caught:
            _ = [p async for p in llm.stream(ASK, GenerationOptions(max_tokens=8))]
    finally:
        await llm.aclose()
    assert caught.value.retryable is True


async def test_a_call_answers_through_the_model_server(
    model_server: str, make_client: MakeClient, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, LLM_BASE_URL=model_server, LLM_API_KEY=KEY, LLM_MODEL="tutor"
    )
    client: TestClient[Any, Any] = await make_client(create_app(settings))
    headers = await login(client)
    tutor = await plain_tutor(client)
    _, call = await open_call(client, headers, tutor)
    try:
        call.send_text("What is gravity?")
        reply = await wait_reply(call, timeout=300, on_event=lambda _: None)
    finally:
        await call.hang_up()
    assert reply["content"].strip()
