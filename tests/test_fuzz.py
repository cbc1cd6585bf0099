"""Fuzzing in CI: a fixed seed and a small budget (bench/fuzz.py runs a larger one). Hostile
data-channel messages on a live call, mutated SDP offers, and requests drawn from the OpenAPI
description: no 5xx, errors as JSON, no dead calls, no leaked slots."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from signaling.keys import ISSUER
from tests.calls import in_use, open_call, open_session, plain_tutor
from tests.conftest import ADMIN, login
from tests.fuzzing import (
    Request,
    channel_messages,
    fuzz_channel,
    fuzz_offers,
    fuzz_rest,
    mutate,
    offer_mutations,
    rest_requests,
)
from virtual_tutor.client import CallConnection


def test_inputs_are_the_same_every_run() -> None:
    assert channel_messages(20) == channel_messages(20)
    assert rest_requests(20) == rest_requests(20)


# Drawn before the server starts (drawing blocks: the loop guard would see it as a stall).
@pytest.fixture
def messages() -> list[str | bytes]:
    return channel_messages(60)


@pytest.fixture
def mutations() -> list[tuple[int, int]]:
    return offer_mutations(40)


@pytest.fixture
def requests() -> list[Request]:
    return rest_requests(150)


async def reply_to(call: CallConnection) -> dict[str, Any]:
    """The reply to the last text, past the error events the fuzzed messages earned."""
    while True:
        event = await next_event_any(call)
        assert event["type"] != "bye", event
        assert not (event["type"] == "error" and event["code"] == "internal_error"), event
        if event["type"] == "text" and event.get("role") == "assistant":
            return event


async def next_event_any(call: CallConnection) -> dict[str, Any]:
    return await asyncio.wait_for(call.events.get(), 180)


async def test_fuzzed_channel_messages_never_kill_the_call(
    messages: list[str | bytes], client: TestClient[Any, Any]
) -> None:
    headers = await login(client)
    grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    await fuzz_channel(call, messages)
    call.send_text("Say ok.")
    reply = await reply_to(call)
    assert reply["content"]
    assert await in_use(client) == 1
    await call.hang_up()
    assert await in_use(client) == 0


async def test_mutated_offers_get_4xx_json_and_leak_nothing(
    mutations: list[tuple[int, int]], client: TestClient[Any, Any]
) -> None:
    headers = await login(client)
    probe = CallConnection(client.session, "", "")
    await probe.pc.setLocalDescription(await probe.pc.createOffer())
    offer = probe.pc.localDescription.sdp
    await probe.pc.close()

    async def end(sid: str) -> None:
        await client.post(f"/api/student/sessions/{sid}/end", headers=headers)

    tally = await fuzz_offers(
        client.session,
        [mutate(offer, m) for m in mutations],
        lambda: open_session(client, headers),
        end,
    )
    assert tally.server_errors == [] and tally.not_json == [], tally
    assert await in_use(client) == 0


async def test_requests_from_the_openapi_description_never_5xx(
    requests: list[Request], client: TestClient[Any, Any]
) -> None:
    tokens = {
        "admin": (await login(client, ADMIN))["Authorization"].split()[1],
        "student": (await login(client))["Authorization"].split()[1],
        "service": client.app[ISSUER].service_token(),
    }
    tally = await fuzz_rest(client.session, client.make_url("/"), requests, tokens)
    assert tally.server_errors == [] and tally.not_json == [], tally
    assert len(tally.by_status) > 3, tally.by_status  # the inputs reach past the first check
    for who in ("admin", "student"):
        auth = {"Authorization": f"Bearer {tokens[who]}"}
        for s in await (await client.get("/api/student/sessions", headers=auth)).json():
            await client.post(f"/api/student/sessions/{s['session_id']}/end", headers=auth)
    assert await in_use(client) == 0
