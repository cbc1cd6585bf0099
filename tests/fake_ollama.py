"""A small local server that speaks Ollama's HTTP chat API (`POST /api/chat`, NDJSON stream)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

REQUESTS = web.AppKey("requests", list)


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app[REQUESTS].append(body)
    if body.get("model") != "tiny-tutor":
        return web.json_response({"error": f"model '{body.get('model')}' not found"}, status=404)
    question = body["messages"][-1]["content"]
    words = f"Ollama here: you asked about {question.rstrip('?')}.".split(" ")
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    for i, word in enumerate(words):
        part: dict[str, Any] = {
            "model": body["model"],
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": word + (" " if i < len(words) - 1 else "")},
            "done": False,
        }
        await resp.write(json.dumps(part).encode() + b"\n")
        await asyncio.sleep(0.01)
    done = {
        "model": body["model"],
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
    }
    await resp.write(json.dumps(done).encode() + b"\n")
    await resp.write_eof()
    return resp


def create_fake_ollama() -> web.Application:
    app = web.Application()
    app[REQUESTS] = []
    app.router.add_post("/api/chat", chat)
    return app
