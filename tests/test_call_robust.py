"""A call survives what a client sends and ends cleanly on what it cannot survive; every user
message is stored, in order, however fast they come. Real calls over loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient

from auth import TokenIssuer
from core.jsontext import JsonTooDeep, depth, loads
from core.settings import Settings
from media_engine.call import Call
from media_engine.protocol import event
from media_engine.runtime import EngineRuntime
from media_engine.store import TurnStore
from media_engine.tutor import TutorProfile
from storage import Database
from tests.calls import eventually, in_use, next_event, open_call, plain_tutor, wait_reply
from tests.conftest import login
from tests.voice_helpers import FakeChannel, FakeStore, ScriptedLLM


def test_loads_refuses_deep_nesting_without_recursing() -> None:
    with pytest.raises(JsonTooDeep):
        loads("[" * 5000)
    with pytest.raises(JsonTooDeep):
        loads('{"a":' * 100 + "1" + "}" * 100)
    # Brackets inside strings are text, not nesting.
    assert loads(json.dumps({"a": "[" * 5000})) == {"a": "[" * 5000}
    assert depth('[[1], {"x": "]]]]"}]') == 2
    assert loads(b'{"a": [[1]]}') == {"a": [[1]]}


def test_every_error_event_says_whether_to_retry() -> None:
    assert json.loads(event("error", code="x", content="y"))["retryable"] is False
    assert json.loads(event("error", code="x", content="y", retryable=True))["retryable"] is True
    assert "retryable" not in json.loads(event("text", content="hi"))


async def session_turns(
    client: TestClient[Any, Any], headers: dict[str, str], sid: str
) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/student/sessions/{sid}", headers=headers)
    turns: list[dict[str, Any]] = (await resp.json())["turns"]
    return turns


async def test_deeply_nested_message_gets_an_error_and_the_call_goes_on(
    client: TestClient[Any, Any],
) -> None:
    headers = await login(client)
    _, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    for raw in ["[" * 5000, '{"type":' * 1500, "[" * 5000 + "]" * 5000]:
        call.channel.send(raw)
        err = await next_event(call, "error", timeout=20)
        assert err["code"] == "bad_message" and err["retryable"] is False
    call.send_text("Say hi.")
    reply = await wait_reply(call, timeout=120, on_event=lambda m: None)
    assert reply["content"]
    await call.hang_up()
    assert await in_use(client) == 0


async def test_unexpected_error_ends_the_call_said_stored_and_released(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client))

    def broken(raw: str | bytes, *, max_bytes: int) -> Any:
        raise RuntimeError("a bug in the message parser")

    monkeypatch.setattr("media_engine.call.parse", broken)
    call.send_text("hello")
    err = await next_event(call, "error", timeout=20)
    assert err["code"] == "internal_error" and err["retryable"] is False
    assert "bug" not in err["content"]  # the client is told the call ended, not the internals

    async def released() -> bool:
        return await in_use(client) == 0

    await eventually(released, timeout=20)
    resp = await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
    detail = await resp.json()
    assert detail["status"] == "ended" and detail["end_reason"] == "internal_error"
    await call.pc.close()


async def test_messages_sent_back_to_back_are_all_stored_in_order(
    client: TestClient[Any, Any],
) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    sent = ["First message.", "Second message.", "Third: say ok."]
    for text in sent:
        call.send_text(text)
    # Only the last one is answered in full; the others' replies were interrupted.
    while True:
        reply = await wait_reply(call, timeout=180, on_event=lambda m: None)
        turns = await session_turns(client, headers, grant["session_id"])
        last = [t["turn_id"] for t in turns if t["role"] == "user" and t["text"] == sent[-1]]
        if last and reply["turn_id"] == last[0]:
            break
    user = [t["text"] for t in turns if t["role"] == "user"]
    assert user == sent
    await call.hang_up()


class SlowStore(FakeStore):
    """Stores slowly, so that the next message arrives while a turn is being stored."""

    async def add_turn(self, **turn: Any) -> None:
        await asyncio.sleep(0.05)
        await super().add_turn(**turn)


async def _closed(call: Call, reason: str) -> None:
    return None


async def test_turns_are_stored_in_order_whatever_interrupts_them() -> None:
    """One piece, with scripted parts: a burst of messages, each interrupting the last reply."""
    store = SlowStore()
    runtime = EngineRuntime(
        settings=Settings(database_url="sqlite://", secret_key="k" * 40),
        db=cast(Database, None),
        store=cast(TurnStore, store),
        issuer=cast(TokenIssuer, None),
        llm=ScriptedLLM("one two three four", delay=0.02),
    )
    call = Call(
        session_id="s1",
        tutor=TutorProfile(id=1, name="Ada", subject="biology"),
        runtime=runtime,
        on_closed=_closed,
    )
    channel = FakeChannel()
    call._channel = channel  # type: ignore[assignment]
    sent = [f"message {i}" for i in range(6)]
    ids = [call.turns.typed(text) for text in sent]
    final = await channel.wait_for("text", role="assistant")
    assert final["turn_id"] == ids[-1]
    assert [t["text"] for t in store.of("user")] == sent
    # The last message is stored even when the call closes right after it arrives.
    call.turns.typed("goodbye")
    await call.close("hangup")
    assert store.of("user")[-1]["text"] == "goodbye"
