"""Reaching students behind NAT: a real coturn on loopback, credentials made the TURN REST way,
and a call whose client may only use the relay."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import aioice
import numpy as np
import pytest

from core.ice import ice_servers, turn_credentials
from media_engine.audio import ASR_RATE, to_output_pcm
from tests.calls import next_event, open_session
from tests.conftest import MakeClient, login
from tests.engine_procs import free_port
from tests.voice_helpers import espeak, silence
from virtual_tutor.client import CallConnection
from virtual_tutor.voice_client import Listener, Microphone

SECRET = "coturn-shared-secret-for-tests"


@pytest.fixture(scope="module")
def coturn() -> Iterator[int]:
    """coturn on 127.0.0.1 with the TURN REST API's shared secret; its port."""
    exe = shutil.which("turnserver")
    if exe is None:
        pytest.fail("coturn is needed: apt-get install coturn (make test installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"]
        + [f"--listening-port={port}", "--use-auth-secret", f"--static-auth-secret={SECRET}"]
        + ["--realm=tutor.test", "--fingerprint", "--allow-loopback-peers", "--no-cli"]
        + ["--no-tls", "--no-dtls", "--log-file=stdout", "--simple-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # it listens on TCP beside UDP: up once a TCP connect succeeds
            assert proc.poll() is None, "turnserver exited during start-up"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "turnserver did not start in 30 s"
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_credentials_are_made_the_turn_rest_way() -> None:
    username, password = turn_credentials("s3cret", "42", ttl_s=600, now=1_000_000)
    assert username == "1000600:42"
    expected = hmac.new(b"s3cret", b"1000600:42", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected
    servers = ice_servers(
        ("stun:stun.example:3478", "turn:turn.example:3478?transport=udp"),
        secret="s3cret",
        user="42",
        ttl_s=600,
    )
    assert [s.as_json()["urls"] for s in servers] == [
        ["stun:stun.example:3478"],
        ["turn:turn.example:3478?transport=udp"],
    ]
    assert servers[1].username and servers[1].username.endswith(":42")
    # Without the shared secret a TURN server cannot be used: it is left out.
    assert ice_servers(("turn:t:3478",), secret=None, user="42", ttl_s=600) == []


async def _relay_candidates(port: int, username: str, password: str) -> list[Any]:
    connection = aioice.Connection(
        ice_controlling=True,
        turn_server=("127.0.0.1", port),
        turn_username=username,
        turn_password=password,
        transport_policy=aioice.TransportPolicy.RELAY,
    )
    try:
        await connection.gather_candidates()
        return [c for c in connection.local_candidates if c.type == "relay"]
    finally:
        await connection.close()


async def test_coturn_takes_fresh_credentials_and_refuses_expired_ones(coturn: int) -> None:
    fresh = turn_credentials(SECRET, "7", ttl_s=600)
    assert await _relay_candidates(coturn, *fresh), "coturn refused fresh credentials"
    expired = turn_credentials(SECRET, "7", ttl_s=-60)
    assert await _relay_candidates(coturn, *expired) == []
    wrong = turn_credentials("another secret", "7", ttl_s=600)
    assert await _relay_candidates(coturn, *wrong) == []


@pytest.mark.models
async def test_a_call_forced_through_the_relay_connects_and_carries_audio(
    make_client: MakeClient, coturn: int
) -> None:
    client = await make_client(
        LOAD_VOICE_MODELS="true",
        ICE_SERVERS=f"turn:127.0.0.1:{coturn}?transport=udp",
        TURN_SECRET=SECRET,
        ICE_TRANSPORT_POLICY="relay",
    )
    headers = await login(client)
    grant = await open_session(client, headers)
    assert grant["ice_transport_policy"] == "relay"
    [turn] = grant["ice_servers"]
    assert turn["urls"] == [f"turn:127.0.0.1:{coturn}?transport=udp"]
    expiry, _, user = turn["username"].partition(":")
    assert int(expiry) > time.time() and user and turn["credential"]
    mic, listener = Microphone(), Listener()
    call = CallConnection(
        client.session,
        grant["engine_url"],
        grant["engine_token"],
        microphone=mic.track,
        on_track=listener.start,
        ice_servers=grant["ice_servers"],
        ice_transport_policy="relay",
    )
    try:
        await call.connect(timeout=60)
        ice = call.pc.getTransceivers()[0].receiver.transport.transport
        local = ice.iceGatherer.getLocalCandidates()
        assert local and {c.type for c in local} == {"relay"}, "the client used more than TURN"
        # The engine hears the student through the relay ...
        speech = np.concatenate([espeak("Hello, can you hear me?"), silence(1.0)])
        await mic.speak(to_output_pcm(speech, ASR_RATE))
        vad = await next_event(call, "vad", timeout=60)
        assert vad["state"] == "speech_start"
        # ... and the student receives the engine's audio track through it (a silent tutor
        # sends a packet every 0.4 s, as DTX does).
        for _ in range(100):
            if len(listener.frames) >= 5:
                break
            await asyncio.sleep(0.2)
        assert len(listener.frames) >= 5, "no audio came back through the relay"
    finally:
        await call.hang_up()
        await listener.aclose()
