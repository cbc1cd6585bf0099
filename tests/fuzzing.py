"""Fuzzing against a real server: hypothesis draws data-channel messages, mutated SDP offers and
REST requests (from the OpenAPI description); the runners send them and count what came back.

Inputs are drawn up front by a seeded hypothesis run (the same seed: the same inputs every
time), then replayed over loopback: the server, not hypothesis, is what is under test. Used by
tests/test_fuzz.py (a small budget, in CI) and bench/fuzz.py (a larger one).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import hypothesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from yarl import URL

from auth import hash_password
from core.http import DB_ID_MAX
from media_engine.protocol import TextIn, parse
from signaling.keys import DB, ENGINE, ISSUER, SETTINGS
from signaling.openapi import describe
from signaling.seed import seed
from storage import SessionRecord, User
from tests.calls import open_call, open_session
from tests.conftest import ADMIN, STUDENT, login
from virtual_tutor.client import CallConnection

T = TypeVar("T")


def draw(strategy: st.SearchStrategy[T], n: int, *, seed: int = 0) -> list[T]:
    """`n` examples of `strategy`, the same ones for the same seed (another seed: others)."""
    out: list[T] = []

    @hypothesis.seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        out.append(value)

    collect()
    rng = random.Random(seed)
    rng.shuffle(out)
    return out[:n]


@dataclass
class Tally:
    """What a fuzz run sent and what came back."""

    inputs: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    not_json: list[str] = field(default_factory=list)
    unavailable: int = 0
    """503s the API documents for this server: voice samples where no voice models are
    loaded (the fuzzed servers load none)."""

    def count(self, status: int, what: str, *, json_body: bool) -> None:
        self.inputs += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status == 503 and " /api/voices" in what and json_body:
            self.unavailable += 1
        elif status >= 500:
            self.server_errors.append(f"{status} {what}"[:300])
        elif status >= 400 and not json_body:
            self.not_json.append(f"{status} {what}"[:300])


# --- data-channel messages ---------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KINDS = st.sampled_from(["text", "ping", "dance", "", "TEXT", "bye", None, 1, ["text"]])


def _message() -> st.SearchStrategy[str | bytes]:
    shaped = st.builds(
        lambda kind, content, extra: json.dumps({"type": kind, "content": content, **extra}),
        KINDS,
        JSON,
        st.dictionaries(st.text(max_size=5), JSON, max_size=2),
    )
    deep = st.builds(
        lambda n, open_, close: open_ * n + close * n,
        st.integers(30, 6000),
        st.sampled_from(["[", '{"a":', "[{}"]),
        st.sampled_from(["", "]", "}"]),
    )
    return st.one_of(
        shaped,
        JSON.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=200),
        deep,
        st.integers(16_000, 20_000).map(lambda n: json.dumps({"type": "text", "content": "x" * n})),
    )


def channel_messages(n: int, seed: int = 0) -> list[str | bytes]:
    """Hostile messages; valid typed messages are left out (each would start a reply)."""

    def harmless(raw: str | bytes) -> bool:
        try:
            return not isinstance(parse(raw, max_bytes=16_384), TextIn)
        except Exception:
            return True

    return [m for m in draw(_message(), n * 2, seed=seed) if harmless(m)][:n]


async def fuzz_channel(call: CallConnection, messages: list[str | bytes]) -> Tally:
    """Send every message on a live call; each must be answered or ignored, never fatal."""
    tally = Tally()
    for raw in messages:
        call.channel.send(raw)
        tally.count(0, repr(raw)[:80], json_body=True)  # no status: the call's fate counts
        await asyncio.sleep(0.005)
    return tally


async def call_survives(
    client: TestClient[Any, Any], messages: list[str | bytes], tutor_id: int = 1
) -> bool:
    """Open a call, send it every message, then a real question: whether the reply came
    (the call neither ended nor failed). The call is hung up either way."""
    _, call = await open_call(client, await login(client), tutor_id=tutor_id)
    try:
        await fuzz_channel(call, messages)
        call.send_text("Say ok.")
        while True:
            try:
                event = await asyncio.wait_for(call.events.get(), 300)
            except TimeoutError:
                return False
            if event["type"] == "bye" or event.get("code") == "internal_error":
                return False
            if event["type"] == "text" and event.get("role") == "assistant":
                return bool(event["content"])
    finally:
        await call.hang_up()


# --- SDP offers --------------------------------------------------------------------------------


def _mutate(offer: str, rnd: random.Random, steps: int) -> str:
    lines = offer.split("\r\n")
    junk = ["m=foo", "a=candidate:garbage", "m=audio notaport", "a=rtpmap:x", "c=IN", "a=", "="]
    for _ in range(steps):
        i = rnd.randrange(len(lines))
        op = rnd.randrange(6)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rnd.randrange(len(lines))])
        elif op == 2:
            lines[i] = rnd.choice(junk)
        elif op == 3 and lines[i]:
            j = rnd.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + chr(rnd.randrange(32, 127)) + lines[i][j + 1 :]
        elif op == 4:
            lines[i] = lines[i][: rnd.randrange(len(lines[i]) + 1)]
        elif op == 5:
            lines[i] = " ".join(str(rnd.randrange(-5, 70000)) for _ in range(rnd.randrange(4)))
        if not lines:
            lines = ["v=0"]
    return "\r\n".join(lines)


def offer_mutations(n: int, seed: int = 0) -> list[tuple[int, int]]:
    """(seed, steps) of `n` mutations, drawn up front; `mutate` applies one to an offer."""
    return draw(st.tuples(st.integers(0, 2**32), st.integers(1, 6)), n, seed=seed)


def mutate(offer: str, mutation: tuple[int, int]) -> str:
    seed, steps = mutation
    return _mutate(offer, random.Random(seed), steps)


async def fuzz_offers(
    http: aiohttp.ClientSession,
    offers: list[str],
    new_session: Callable[[], Any],
    end_session: Callable[[str], Any],
) -> Tally:
    """Post each offer; one that is accepted uses up its session, so a fresh one is opened."""
    tally = Tally()
    grant = await new_session()
    for sdp in offers:
        async with http.post(
            grant["engine_url"],
            data=sdp,
            headers={
                "Authorization": f"Bearer {grant['engine_token']}",
                "Content-Type": "application/sdp",
            },
        ) as resp:
            body = await resp.text()
            tally.count(resp.status, sdp[:200], json_body=_is_json(body))
        if resp.status == 201:
            await end_session(grant["session_id"])
            grant = await new_session()
    await end_session(grant["session_id"])
    return tally


async def fuzz_offers_on(client: TestClient[Any, Any], mutations: list[tuple[int, int]]) -> Tally:
    """`fuzz_offers` against a test server: the student's sessions, one real offer mutated."""
    headers = await login(client)
    probe = CallConnection(client.session, "", "")
    await probe.pc.setLocalDescription(await probe.pc.createOffer())
    offer = probe.pc.localDescription.sdp
    await probe.pc.close()

    async def end(sid: str) -> None:
        await client.post(f"/api/student/sessions/{sid}/end", headers=headers)

    sdps = [mutate(offer, m) for m in mutations]
    return await fuzz_offers(client.session, sdps, lambda: open_session(client, headers), end)


# --- REST --------------------------------------------------------------------------------------

ODD_IDS = st.sampled_from([0, -1, DB_ID_MAX, DB_ID_MAX + 1, 2**64, 10**30, 1, 2, 3])


def _path_value(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("type") == "integer":
        return ODD_IDS.map(str) | st.text(max_size=8).map(lambda s: s.replace("/", "") or "x")
    return st.text(min_size=1, max_size=40).map(lambda s: s.replace("/", "") or "x")


def _value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if schema.get("type") == "integer":
        return ODD_IDS | st.integers() | JSON
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | JSON
    if "oneOf" in schema:
        return st.one_of(*[_value(s) for s in schema["oneOf"]])
    if schema.get("type") == "array":
        return st.lists(_value(schema["items"]), max_size=5) | JSON
    if schema.get("type") == "string":
        return st.text(max_size=50) | JSON
    return JSON


def _body(schema: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    if schema is None or schema.get("type") != "object":
        return JSON.map(json.dumps)
    fields = {name: _value(s) for name, s in schema["properties"].items()}
    shaped = st.fixed_dictionaries({}, optional=fields).map(json.dumps)
    deep = st.integers(30, 3000).map(lambda n: "[" * n)
    return st.one_of(shaped, shaped, JSON.map(json.dumps), deep, st.text(max_size=50))


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str | None
    as_user: str


def _operation(path: str, method: str, op: dict[str, Any], params: list[Any]) -> Any:
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    values = {p["name"]: _path_value(p["schema"]) for p in params}
    return st.builds(
        lambda filled, body, who: Request(method.upper(), path.format(**filled), body, who),
        st.fixed_dictionaries(values),
        _body(schema) if "application/json" in content else st.none(),
        st.sampled_from(["admin", "student", "nobody", "service"]),
    )


def rest_requests(n: int, seed: int = 0) -> list[Request]:
    """Requests for every operation of the API (not /v1/calls: the SDP fuzz covers it)."""
    spec = describe(with_engine=True)
    ops = [
        _operation(path, method, op, ops.get("parameters", []))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method != "parameters" and not path.startswith("/v1/calls")
    ]
    return draw(st.one_of(*ops), n, seed=seed)


async def fuzz_rest(
    http: aiohttp.ClientSession, base: URL, requests: list[Request], tokens: dict[str, str]
) -> Tally:
    tally = Tally()
    for req in requests:
        headers = {"Content-Type": "application/json"}
        if req.as_user in tokens:
            headers["Authorization"] = f"Bearer {tokens[req.as_user]}"
        url = base.with_path(req.path, encoded=False)
        async with http.request(req.method, url, data=req.body, headers=headers) as resp:
            body = await resp.text()
            tally.count(
                resp.status, f"{req.method} {req.path} {req.body!r:.120}", json_body=_is_json(body)
            )
    return tally


async def restore_accounts(client: TestClient[Any, Any]) -> None:
    """Put the admin and the student back as they were seeded: an earlier batch of fuzzed
    requests (as the admin) may have reset their passwords, disabled, demoted or deleted them."""
    db = client.app[DB]
    async with db.session() as s, s.begin():
        for (email, password), role in ((ADMIN, "admin"), (STUDENT, "student")):
            user = await s.scalar(select(User).where(User.email == email))
            if user is None:
                continue  # deleted: seeding makes it again, below
            user.password_hash = await asyncio.to_thread(hash_password, password)
            user.role, user.disabled, user.deleted_at = role, False, None
    await seed(db, client.app[SETTINGS])


async def fuzz_rest_on(client: TestClient[Any, Any], requests: list[Request]) -> Tally:
    """`fuzz_rest` against a test server as admin, student, engine service and nobody; the
    sessions the requests opened are ended afterwards."""
    await restore_accounts(client)
    tokens = {
        "admin": (await login(client, ADMIN))["Authorization"].split()[1],
        "student": (await login(client))["Authorization"].split()[1],
        "service": client.app[ISSUER].service_token(),
    }
    tally = await fuzz_rest(client.session, client.make_url("/"), requests, tokens)
    # Ended through the engine, not as their owners: a fuzzed request may have disabled an
    # account or reset its password, and its token no longer works.
    async with client.app[DB].session() as s:
        active = await s.scalars(select(SessionRecord.id).where(SessionRecord.status == "active"))
        session_ids = list(active)
    for session_id in session_ids:
        await client.app[ENGINE].end_session(session_id, reason="ended_by_student")
    return tally


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
