"""The LLM backends other than the embedded default: Ollama over HTTP, and replies turned off."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from signaling.app import create_app
from tests.calls import next_event, open_call, plain_tutor, wait_reply
from tests.conftest import MakeClient, login, make_settings
from tests.fake_ollama import REQUESTS, create_fake_ollama


async def test_ollama_backend_over_a_real_call(make_client: MakeClient, tmp_path: Any) -> None:
    ollama = create_fake_ollama()
    server = TestServer(ollama)
    await server.start_server()
    try:
        settings = make_settings(
            tmp_path, OLLAMA_BASE_URL=str(server.make_url("")), DEFAULT_LLM_MODEL="tiny-tutor"
        )
        client = await make_client(create_app(settings))
        headers = await login(client)
        grant, call = await open_call(client, headers, tutor_id=await plain_tutor(client, "zh"))
        deltas: list[str] = []
        call.send_text("光合作用?")
        reply = await wait_reply(
            call,
            timeout=30,
            on_event=lambda m: deltas.append(m["content"]) if m["type"] == "text_delta" else None,
        )
        assert reply["content"] == "Ollama here: you asked about 光合作用."
        assert len(deltas) > 3
        sent = ollama[REQUESTS][-1]
        assert sent["model"] == "tiny-tutor" and sent["stream"] is True
        # The tutor's persona and language reach the model.
        assert sent["messages"][0]["role"] == "system"
        assert "王老师" in sent["messages"][0]["content"]
        assert "Chinese" in sent["messages"][0]["content"]
        detail = await (
            await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
        ).json()
        assert [t["text"] for t in detail["turns"]] == ["光合作用?", reply["content"]]
        await call.hang_up()
    finally:
        await server.close()


async def test_ollama_unknown_model_is_an_error_event(
    make_client: MakeClient, tmp_path: Any
) -> None:
    server = TestServer(create_fake_ollama())
    await server.start_server()
    try:
        settings = make_settings(
            tmp_path, OLLAMA_BASE_URL=str(server.make_url("")), DEFAULT_LLM_MODEL="missing"
        )
        client = await make_client(create_app(settings))
        _, call = await open_call(client, await login(client), await plain_tutor(client))
        call.send_text("Hello?")
        err = await next_event(call, "error")
        assert err["code"] == "llm_error" and "not found" in err["content"]
        assert err["retryable"] is False
        await call.hang_up()
    finally:
        await server.close()


async def test_unreachable_ollama_is_a_retryable_error(
    make_client: MakeClient, tmp_path: Any
) -> None:
    settings = make_settings(tmp_path, OLLAMA_BASE_URL="http://127.0.0.1:9", DEFAULT_LLM_MODEL="x")
    client = await make_client(create_app(settings))
    _, call = await open_call(client, await login(client), await plain_tutor(client))
    call.send_text("Hello?")
    err = await next_event(call, "error")
    assert err["code"] == "llm_error" and err["retryable"] is True
    await call.hang_up()


async def test_llm_disabled_gives_a_clear_error(make_client: MakeClient, tmp_path: Any) -> None:
    client = await make_client(create_app(make_settings(tmp_path, ENABLE_LLM="false")))
    headers = await login(client)
    grant, call = await open_call(client, headers, await plain_tutor(client))
    call.send_text("Hello?")
    err = await next_event(call, "error")
    assert err["code"] == "llm_disabled" and "ENABLE_LLM" in err["content"]
    # The typed turn is kept even though no reply could be made.
    detail = await (
        await client.get(f"/api/student/sessions/{grant['session_id']}", headers=headers)
    ).json()
    assert [t["text"] for t in detail["turns"]] == ["Hello?"]
    await call.hang_up()
