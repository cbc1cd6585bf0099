"""A small local server that speaks Ollama's HTTP chat API (`POST /api/chat`, NDJSON stream),
and can be told to stall, as an overloaded or hung server does."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Behaviour:
    """How the server answers: `stall_before` holds the answer before its headers, `stall_after`
    after the first word, each until `resume` is set."""

    stall_before: bool = False
    stall_after: bool = False
    resume: asyncio.Event = field(default_factory=asyncio.Event)

    def stall(self, *, before: bool) -> None:
        """Hold answers from now on (before their headers, or after their first word)."""
        self.resume = asyncio.Event()
        self.stall_before, self.stall_after = before, not before

    def normal(self) -> None:
        """Answer again, the held answers too."""
        self.stall_before = self.stall_after = False
        self.resume.set()


REQUESTS = web.AppKey("requests", list)
BEHAVIOUR = web.AppKey("behaviour", Behaviour)


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app[REQUESTS].append(body)
    behaviour = request.app[BEHAVIOUR]
    if behaviour.stall_before:
        await behaviour.resume.wait()
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
        if i == 0 and behaviour.stall_after:
            await behaviour.resume.wait()
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
    app[BEHAVIOUR] = Behaviour()
    app.router.add_post("/api/chat", chat)
    return app
