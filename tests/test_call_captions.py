"""What the call view is told: each spoken chunk as it starts to sound (`reply_chunk`), what was
heard when a reply is interrupted, and the `stop` message that interrupts it like a barge-in."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from media_engine.audio import OUT_RATE
from media_engine.protocol import Stop, parse
from media_engine.socket_protocol import InterruptIn, parse_socket
from tests.calls import eventually as eventually_async
from tests.calls import next_event, open_call, plain_tutor
from tests.conftest import login
from tests.test_turns import ANSWER, Rig
from tests.voice_helpers import FakeTTS, ScriptedLLM, eventually


async def test_each_chunk_is_told_as_it_starts_to_sound_on_the_audio_clock() -> None:
    rig = Rig(ScriptedLLM(ANSWER, delay=0.001), spoken=True, tts=FakeTTS(seconds_per_char=0.01))
    rig.turns.typed("what do plants need")
    current = rig.turns.current
    assert current is not None and current.speaker is not None
    await current.task
    kinds = [e["type"] for e in rig.sent if e["type"] in ("tts", "reply_chunk")]
    assert kinds == ["tts", "reply_chunk", "reply_chunk", "tts"]
    chunks = rig.events("reply_chunk")
    assert " ".join(c["text"] for c in chunks) == ANSWER
    spoken = current.speaker.chunks
    assert [c["text"] for c in chunks] == [c.text for c in spoken]
    first = spoken[0].start_sample
    assert first is not None
    for event, chunk in zip(chunks, spoken, strict=True):
        assert chunk.start_sample is not None
        assert event["starts_at_ms"] == round((chunk.start_sample - first) * 1000 / OUT_RATE, 1)
    # The second starts no earlier than the first one's audio ends.
    assert chunks[0]["starts_at_ms"] == 0
    assert chunks[1]["starts_at_ms"] >= len(spoken[0].pcm) * 1000 / OUT_RATE - 0.1
    # Each event went out after the reply was sent as text and before its end.
    assert rig.sent.index(chunks[0]) > rig.sent.index(rig.events("text_delta")[0])
    await rig.aclose()


async def test_an_interrupted_reply_tells_what_was_heard_as_it_is_stored() -> None:
    rig = Rig(ScriptedLLM(ANSWER), spoken=True)
    rig.turns.typed("what do plants need")
    assert rig.listener is not None
    await eventually(lambda: rig.listener is not None and rig.listener.voiced() >= 10)
    assert rig.turns.interrupt()
    await eventually(lambda: bool(rig.events("metrics")))
    (interrupted,) = [e for e in rig.events("tts") if e["state"] == "interrupted"]
    (kept,) = rig.store.of("assistant")
    assert kept["interrupted"] and interrupted["heard"] == kept["text"]
    # Its response time is kept for the history (question → first frame).
    assert kept["timings"]["total_ms"] == interrupted_metrics(rig)["total_ms"]
    assert interrupted["heard"] and interrupted["heard"] != ANSWER
    # Only chunks that began to sound were captioned; none after the interruption.
    captions = rig.events("reply_chunk")
    assert captions and ANSWER.startswith(captions[0]["text"])
    assert rig.sent.index(captions[-1]) < rig.sent.index(interrupted)
    await rig.aclose()


def interrupted_metrics(rig: Rig) -> dict[str, Any]:
    (metrics,) = rig.events("metrics")
    return metrics


def test_stop_is_a_message_on_both_transports() -> None:
    assert isinstance(parse('{"type": "stop"}', max_bytes=1000), Stop)
    assert isinstance(parse_socket('{"type": "stop"}', max_text_bytes=1000), InterruptIn)
    assert isinstance(parse_socket('{"type": "interrupt"}', max_text_bytes=1000), InterruptIn)


async def test_the_stop_message_interrupts_the_reply_and_keeps_what_was_shown(
    client: TestClient[Any, Any],
) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    call.send_text("Tell me a long story about a dragon who learns to count.")
    shown = [(await next_event(call, "text_delta", timeout=120))["content"]]
    call.channel.send(json.dumps({"type": "stop"}))
    # The deltas already on their way are all the reply will ever show: no final text.
    stored: list[dict[str, Any]] = []

    async def kept() -> bool:
        resp = await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
        turns = (await resp.json())["turns"]
        stored[:] = [t for t in turns if t["role"] == "assistant"]
        return bool(stored)

    await eventually_async(kept, timeout=30)
    while not call.events.empty():
        message = call.events.get_nowait()
        assert message["type"] != "text", "a stopped reply is not finished"
        if message["type"] == "text_delta":
            shown.append(message["content"])
    (reply,) = stored
    assert reply["interrupted"] is True
    assert reply["text"] == "".join(shown).strip()
    await call.hang_up()
