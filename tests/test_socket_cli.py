"""The headless client over the WebSocket transport (`virtual-tutor call --transport ws`)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from media_engine.llm.base import LLM
from signaling.app import create_app
from tests.conftest import STUDENT, make_settings
from tests.test_cli import run_cli
from tests.voice_helpers import espeak, silence


def call_args(url: str, *turns: str) -> list[str]:
    login = ["--email", STUDENT[0], "--password", STUDENT[1], "--tutor", "1"]
    return ["call", "--server", url, *login, "--transport", "ws", "--json", *turns]


async def test_text_call_over_the_websocket(tmp_path: Path, real_llm: LLM) -> None:
    server = TestServer(create_app(make_settings(tmp_path), llm=real_llm))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        code, out, err = await run_cli(*call_args(url, "--text", "Say hello in three words."))
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        kinds = [e["event"] for e in events]
        assert kinds[:3] == ["logged_in", "session", "connected"] and kinds[-1] == "ended"
        assert events[2]["transport"] == "ws"
        (reply,) = [e for e in events if e["event"] == "reply"]
        assert reply["content"] and reply["first_delta_ms"] > 0
        assert any(e["event"] == "text_delta" for e in events)
    finally:
        await server.close()


@pytest.mark.models
async def test_spoken_call_over_the_websocket(tmp_path: Path, real_llm: LLM) -> None:
    question = np.concatenate(
        [silence(0.5), espeak("Can you explain how photosynthesis works in plants?"), silence(1.5)]
    )
    path = tmp_path / "question.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes((question * 32767).astype("<i2").tobytes())
    settings = make_settings(tmp_path, LOAD_VOICE_MODELS="true")
    server = TestServer(create_app(settings, llm=real_llm))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        code, out, err = await run_cli(
            *call_args(url, "--wav", str(path), "--timeout", "400"), timeout=600
        )
        assert code == 0, (err, out[-4000:])
        events = [json.loads(line) for line in out.splitlines()]
        (turn,) = [e for e in events if e["event"] == "turn"]
        assert "photosynthesis" in turn["transcript"].lower(), turn
        assert turn["content"] and turn["latency_ms"] > 0, turn
    finally:
        await server.close()
