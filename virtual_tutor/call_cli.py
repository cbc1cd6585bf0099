"""The headless client: logs in, opens a real WebRTC call with aiortc, talks, prints replies.

    virtual-tutor call --server URL --email E --password P --tutor ID \
        [--text "..."] [--wav question.wav] [--record reply.wav] [--barge-in] [--json] \
        [--transport webrtc|ws]

`--text` and `--wav` turns run in the order given. A WAV is streamed as the microphone in real
time; the client then waits for the spoken reply and reports, per turn, the transcript, the
reply and the latency from the end of its own speech to the first reply audio it received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from virtual_tutor.client import Api, CallConnection, ClientError, TurnLog, Turns
from virtual_tutor.socket_client import SocketConnection
from virtual_tutor.voice_client import Listener, Microphone, WavError, read_wav


class _Turn(argparse.Action):
    """Keeps --text and --wav turns in one list, in the order given."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        kind = "text" if option == "--text" else "wav"
        turns = list(getattr(namespace, "turns", None) or [])
        turns.append((kind, values))
        namespace.turns = turns


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="server URL")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--tutor", type=int, required=True, help="tutor id (see /api/tutors)")
    parser.add_argument("--text", action=_Turn, dest="turns", help="a message to type; repeat")
    parser.add_argument(
        "--wav", action=_Turn, dest="turns", help="a WAV file to speak as the microphone; repeat"
    )
    parser.add_argument("--record", type=Path, help="save all audio received to this WAV")
    parser.add_argument(
        "--barge-in",
        action="store_true",
        help="speak each WAV again while the tutor answers it, and time the stop",
    )
    parser.add_argument("--gap", type=float, default=1.0, help="seconds of silence between turns")
    parser.add_argument("--json", action="store_true", help="one JSON event per line")
    parser.add_argument(
        "--transport",
        choices=("webrtc", "ws"),
        default="webrtc",
        help="WebRTC (default) or the engine's WebSocket",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait per reply")
    parser.set_defaults(turns=[])


@dataclass
class Output:
    """The client's `Reporter` for a terminal: plain text for people, or JSON lines with times."""

    as_json: bool
    started: float = field(default_factory=time.monotonic)

    def event(self, kind: str, **fields: Any) -> None:
        if self.as_json:
            record = {
                "t": round(time.monotonic() - self.started, 4),
                "ts": time.time(),
                "event": kind,
                **fields,
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)

    def say(self, text: str, *, end: str = "\n") -> None:
        if not self.as_json:
            print(text, end=end, flush=True)


async def run_call(args: argparse.Namespace) -> int:
    out = Output(as_json=args.json)
    try:
        await _run(args, out)
    except (ClientError, WavError) as exc:
        out.event("error", message=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(args: argparse.Namespace, out: Output) -> None:
    if not args.turns:
        raise ClientError("nothing to say: give --text or --wav")
    wavs = {value: read_wav(Path(value)) for kind, value in args.turns if kind == "wav"}
    voice = bool(wavs) or args.record is not None
    mic = Microphone() if voice else None
    listener = Listener()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        api = Api(http, args.server)
        await api.login(args.email, args.password)
        out.event("logged_in", email=args.email)
        session = await api.open_session(args.tutor)
        out.event("session", session_id=session["session_id"])
        call: CallConnection | SocketConnection
        if args.transport == "ws":
            call = SocketConnection(
                http,
                session["websocket_url"],
                session["engine_token"],
                microphone=mic.track if mic else None,
                on_track=listener.start if voice else None,
            )
        else:
            call = CallConnection(
                http,
                session["engine_url"],
                session["engine_token"],
                microphone=mic.track if mic else None,
                on_track=listener.start if voice else None,
                ice_servers=session.get("ice_servers"),
                ice_transport_policy=session.get("ice_transport_policy", "all"),
            )
        log = TurnLog(call, out)
        turns = Turns(call, out, listener, log, timeout=args.timeout, voice=voice)
        try:
            answer_s = await call.connect()
            out.event(
                "connected", transport=args.transport, offer_answer_ms=round(answer_s * 1000, 1)
            )
            out.say(f"connected to session {session['session_id']}")
            log.start()
            for kind, value in args.turns:
                if kind == "text":
                    await turns.typed(value)
                else:
                    assert mic is not None
                    await turns.spoken(mic, wavs[value], barge_in=args.barge_in)
                await asyncio.sleep(args.gap if voice else 0)
        finally:
            await log.aclose()
            await call.hang_up()
            await listener.aclose()
            await api.end_session(session["session_id"])
            out.event("ended", session_id=session["session_id"])
            if args.record is not None:
                listener.save(args.record)
                out.say(f"recorded the call's audio to {args.record}")
