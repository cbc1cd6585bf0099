"""The headless client's WebSocket call: the same events and turns as its WebRTC call
(`virtual_tutor.client.CallConnection`), over the engine's WebSocket transport.

The microphone track is read in real time and sent as 16 kHz PCM16 `audio` messages; each WAV
the engine sends is played, in order and in real time, on a local track that the `Listener`
reads as it would read WebRTC's, so latency is measured the same way: when reply audio plays.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import wave
from collections.abc import Callable
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_engine.audio import InboundResampler, OutboundAudio, SpeechChunk, to_output_pcm
from virtual_tutor.client import ClientError

# Microphone audio goes out in messages of this many 20 ms frames.
FRAMES_PER_MESSAGE = 2


def wav_to_chunk(data: bytes) -> SpeechChunk:
    """One WAV from the engine (mono 16-bit) as a chunk for the local playback track."""
    with wave.open(io.BytesIO(data)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return SpeechChunk(pcm=to_output_pcm(pcm.astype(np.float32) / 32768.0, rate), text="")


class SocketConnection:
    """One call over the engine's WebSocket, with CallConnection's interface."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        websocket_url: str,
        engine_token: str,
        *,
        microphone: MediaStreamTrack | None = None,
        on_track: Callable[[MediaStreamTrack], None] | None = None,
    ) -> None:
        self._http = http
        self._url = websocket_url
        self._token = engine_token
        self._microphone = microphone
        self._on_track = on_track
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.hello: dict[str, Any] = {}
        self.speaker = OutboundAudio()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self, *, timeout: float = 20.0) -> float:
        """Open the socket and wait for the engine's hello; return how long that took."""
        started = time.monotonic()
        try:
            self._ws = await asyncio.wait_for(
                self._http.ws_connect(self._url, params={"token": self._token}), timeout
            )
            message = await self._ws.receive(timeout=timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ClientError(f"cannot open the call's WebSocket: {exc}") from exc
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ClientError(f"the call was refused ({self._ws.close_code})")
        first = json.loads(message.data)
        if first.get("type") != "hello":
            await self._ws.close()
            raise ClientError(f"call refused: {first.get('content', first)}")
        self.hello = first
        self._tasks.append(asyncio.create_task(self._read(self._ws)))
        self._tasks.append(asyncio.create_task(self._write(self._ws)))
        if self._microphone is not None:
            self._tasks.append(asyncio.create_task(self._stream_microphone(self._microphone)))
        if self._on_track is not None:
            self._on_track(self.speaker)
        return time.monotonic() - started

    def send_text(self, content: str) -> None:
        self._outgoing.put_nowait(json.dumps({"type": "text", "content": content}))

    def interrupt(self) -> None:
        self._outgoing.put_nowait(json.dumps({"type": "interrupt"}))

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await ws.send_str(await self._outgoing.get())

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                event = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if event.get("type") == "audio":
                # Audio is played, not reported: the Listener times it as it plays.
                self.speaker.play(wav_to_chunk(base64.b64decode(event.get("data", ""))))
                continue
            if event.get("type") == "tts" and event.get("state") == "interrupted":
                self.speaker.clear()
            event["_at"] = time.monotonic()
            self.events.put_nowait(event)
        if ws.close_code not in (None, 1000):
            self.events.put_nowait(
                {
                    "type": "error",
                    "code": "closed",
                    "content": f"the engine closed the call ({ws.close_code})",
                    "_at": time.monotonic(),
                }
            )

    async def _stream_microphone(self, track: MediaStreamTrack) -> None:
        """Send the microphone as it plays, 16 kHz PCM16, a few frames a message."""
        resampler = InboundResampler()
        pending: list[np.ndarray[Any, Any]] = []
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                pending.append(resampler.push(frame))
                if len(pending) < FRAMES_PER_MESSAGE:
                    continue
                samples = np.concatenate(pending)
                pending.clear()
                pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
                data = base64.b64encode(pcm).decode()
                self._outgoing.put_nowait(json.dumps({"type": "audio", "data": data}))
        except MediaStreamError:
            return

    async def hang_up(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.speaker.stop()
        if self._ws is not None:
            await self._ws.close()
