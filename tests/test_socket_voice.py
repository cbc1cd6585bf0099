"""A spoken question over the WebSocket transport, answered aloud by the real models: the guide's
client sends base64 PCM chunks in real time and gets the transcription, the reply and WAV audio."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from typing import Any

import numpy as np
import pytest

from tests.calls import eventually, in_use, open_session
from tests.conftest import MakeClient, login
from tests.socket_client import GuideClient
from tests.voice_helpers import espeak, silence

pytestmark = pytest.mark.models

CHUNK_S = 0.1


def pcm16(audio: np.ndarray[Any, Any]) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def read_wav(data: bytes) -> tuple[int, int, np.ndarray[Any, Any]]:
    with wave.open(io.BytesIO(data)) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return rate, channels, samples.astype(np.float32) / 32768


async def speak(guide: GuideClient, audio: np.ndarray[Any, Any]) -> None:
    """Send 16 kHz audio as PCM16 chunks, at about the pace it is spoken."""
    step = int(16_000 * CHUNK_S)
    for start in range(0, len(audio), step):
        await guide.send_audio(pcm16(audio[start : start + step]))
        await asyncio.sleep(CHUNK_S)


async def test_a_spoken_question_is_answered_with_wav_audio(make_client: MakeClient) -> None:
    client = await make_client(LOAD_VOICE_MODELS="true")
    headers = await login(client)
    grant = await open_session(client, headers, tutor_id=1)
    guide, hello = await GuideClient.connect(client, grant["websocket_url"], grant["engine_token"])
    assert hello["voice"] is True

    question = espeak("Can you explain how photosynthesis works in plants?")
    # Speech, a little silence, then nothing: the engine hears the silence out itself.
    await speak(guide, np.concatenate([silence(0.5), question, silence(0.3)]))

    heard = await guide.until("transcription", timeout=120, partial=False)
    assert "photosynthesis" in heard["content"].lower(), heard
    # The reply's text and its first audio, in whichever order they come.
    await guide.until("audio", timeout=240)
    if not any(e["type"] == "text" for e in guide.received):
        await guide.until("text", timeout=120, role="assistant")
    reply = next(e for e in guide.received if e["type"] == "text")
    audio = next(e for e in guide.received if e["type"] == "audio")
    rate, channels, samples = read_wav(base64.b64decode(audio["data"]))
    assert (rate, channels) == (24_000, 1)
    assert float(np.sqrt(np.mean(samples**2))) > 0.01, "the reply's audio is silent"

    # The student cuts the tutor short once some of it was heard: the reply stops and is
    # stored as interrupted (unless it had already been played to the end on a slow machine).
    # Audio comes ahead of its playback, and a reply stopped before any of it was heard
    # leaves nothing to store but the question.
    await asyncio.sleep(0.5)
    await guide.interrupt()
    state = (await guide.until("tts", timeout=60, turn_id=reply["turn_id"]))["state"]
    if state == "start":
        state = (await guide.until("tts", timeout=60, turn_id=reply["turn_id"]))["state"]
    assert state in ("interrupted", "end"), state
    await guide.until("metrics", timeout=30, turn_id=reply["turn_id"])
    kinds = {e["type"] for e in guide.received}
    assert {"vad", "text_delta", "transcription", "audio", "tts", "metrics"} <= kinds, kinds

    async def stored() -> bool:
        url = f"/api/student/sessions/{grant['session_id']}"
        turns = (await (await client.get(url, headers=headers)).json())["turns"]
        return len(turns) == 2

    await eventually(stored)
    url = f"/api/student/sessions/{grant['session_id']}"
    user, tutor = (await (await client.get(url, headers=headers)).json())["turns"]
    assert (user["role"], user["source"]) == ("user", "spoken")
    assert user["turn_id"] == heard["turn_id"] == reply["turn_id"]
    assert tutor["interrupted"] == (state == "interrupted")
    assert reply["content"].startswith(tutor["text"].rstrip(".")[:10]), (reply, tutor)

    await guide.close()

    async def released() -> bool:
        return await in_use(client) == 0

    await eventually(released)
