"""The student's audio, from the network to the voice detector, without the event loop.

aiortc hands each Opus packet it receives to a thread of the call's own, which decodes it and
hands the frame back to the event loop (the track's queue); the call then handed it on to the
detector's thread and waited for its events. Three crossings between threads, and the loop
woken twice, for every 20 ms of every student's microphone, most of it silence: at 30 calls
that was most of what the engine's one event loop could do (README, Load). Here the receiver
hands each packet straight to the detector's thread (`tap_receiver`), which decodes it, feeds
the detector and wakes the loop only when something happened: speech began, paused or ended.

One thread serves every call (a `ThreadPoolExecutor` of one worker runs what is submitted in
order), so a call's frames are fed in the order they came; the state each call's frames touch
(decoder, resampler, `VadStream`) is only ever touched there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, cast

import av
import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media_engine.audio import ASR_RATE, InboundResampler
from media_engine.dtx import FILL_AFTER_S, FILL_EVERY_S
from media_engine.turn_detector import Verdict
from media_engine.vad import VadEvent, VadStream

log = logging.getLogger(__name__)

OnEvents = Callable[[list[VadEvent], float], None]
"""Called on the event loop with a frame's events and when the frame arrived."""


class Listener:
    """One call's ears. Frames come in on the event loop (`packet`, `frame`, and the silence
    of `fill_silence`); they are decoded and fed to `stream` on `executor`'s one thread; the
    events come back to `on_events` on the loop."""

    def __init__(
        self,
        stream: VadStream,
        executor: Executor,
        *,
        on_events: OnEvents,
        verdicts: Callable[[], list[Verdict]],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._stream = stream
        self._executor = executor
        self._on_events = on_events
        self._verdicts = verdicts
        self._on_failure = on_failure
        self._resampler = InboundResampler()
        self._decoders: dict[str, Decoder] = {}
        self.heard = time.monotonic()
        """Until when the detector has heard: the last frame's arrival, or the silence fed."""
        self._filled = False
        self._needed_time = False  # the detector thread's last look at stream.needs_time
        self._needs_time = asyncio.Event()
        self._closed = False

    # --- on the event loop ---------------------------------------------------------------------

    def packet(self, codec: RTCRtpCodecParameters, encoded: JitterFrame) -> None:
        """An encoded frame from the call's receiver (aiortc's receive path calls it)."""
        self._arrived()
        self._submit(self._decode, (codec, encoded))

    def frame(self, frame: av.AudioFrame) -> None:
        """A decoded frame (a track's: the socket transport's)."""
        self._arrived()
        self._submit(self._feed, frame)

    def _arrived(self) -> None:
        self.heard = time.monotonic()
        self._filled = False

    async def run(self, track: MediaStreamTrack, *, fill: bool) -> None:
        """Listen until `track` ends. A tapped receiver's track (`tap_receiver`) gives no
        frames, only its end; the socket transport's gives its frames. `fill`: the sender may
        leave silence out (DTX), to be heard all the same (`fill_silence`)."""
        filler = asyncio.ensure_future(self.fill_silence()) if fill else None
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                if isinstance(frame, av.AudioFrame):
                    self.frame(frame)
        finally:
            self.close()
            if filler is not None:
                filler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await filler

    async def fill_silence(self) -> None:
        """For the call's life, when its sender may leave silence out (DTX): while the detector
        needs time to pass (mid-utterance), a stretch with no frame is fed as silence as it
        passes (media_engine.dtx), so a turn ends when it would have with every packet sent."""
        while True:
            if not self._stream.needs_time:
                self._needs_time.clear()
                await self._needs_time.wait()
                continue
            after = FILL_EVERY_S if self._filled else FILL_AFTER_S
            wait = after - (time.monotonic() - self.heard)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            samples = int((time.monotonic() - self.heard) * ASR_RATE)
            self.heard += samples / ASR_RATE
            self._filled = True
            self._submit(self._silence, samples)

    def close(self) -> None:
        """Feed nothing more; what is queued is dropped."""
        self._closed = True

    def _submit(self, work: Callable[[Any, list[Verdict]], list[VadEvent]], item: Any) -> None:
        if not self._closed:
            self._executor.submit(self._run, work, item, self._verdicts(), time.monotonic())

    def _deliver(self, events: list[VadEvent], arrived: float) -> None:
        if not self._closed:
            self._on_events(events, arrived)

    def _fail(self, exc: BaseException) -> None:
        if not self._closed:
            self._closed = True
            self._on_failure(exc)

    # --- on the detector's thread --------------------------------------------------------------

    def _run(
        self,
        work: Callable[[Any, list[Verdict]], list[VadEvent]],
        item: Any,
        verdicts: list[Verdict],
        arrived: float,
    ) -> None:
        if self._closed:
            return
        try:
            events = work(item, verdicts)
        except Exception as exc:  # a bug: the call ends, said and logged (Call.task_failed)
            self._post(self._fail, exc)
            return
        if events:
            self._post(self._deliver, events, arrived)
        needed, self._needed_time = self._needed_time, self._stream.needs_time
        if self._needed_time and not needed:
            self._post(self._needs_time.set)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed (the engine stopped): nobody is listening
            self._closed = True

    def _decode(
        self, item: tuple[RTCRtpCodecParameters, JitterFrame], verdicts: list[Verdict]
    ) -> list[VadEvent]:
        codec, encoded = item
        if not encoded.data:  # an empty packet would flush the decoder, for good
            return []
        decoder = self._decoders.get(codec.name)
        if decoder is None:
            decoder = self._decoders[codec.name] = get_decoder(codec)
        try:
            frames = decoder.decode(encoded)
        except av.FFmpegError as exc:
            # A packet the decoder cannot read is lost audio, as in aiortc's own decoder
            # thread, not the end of the call.
            log.debug("an inbound %s frame could not be decoded: %s", codec.name, exc)
            return []
        events: list[VadEvent] = []
        for frame in frames:
            events += self._feed(cast(av.AudioFrame, frame), verdicts)
            verdicts = []
        return events

    def _feed(self, frame: av.AudioFrame, verdicts: list[Verdict]) -> list[VadEvent]:
        return self._stream.feed(self._resampler.push(frame), verdicts)

    def _silence(self, samples: int, verdicts: list[Verdict]) -> list[VadEvent]:
        return self._stream.feed(np.zeros(samples, dtype=np.float32), verdicts)


class _DecoderQueue:
    """Stands in for an aiortc receiver's decoder queue: each encoded frame goes to `sink`
    where it is put; only the end (None) reaches aiortc's decoder thread, which ends the
    track, so the track's `recv()` returns only when the track has ended."""

    def __init__(self, sink: Callable[[RTCRtpCodecParameters, JitterFrame], None]) -> None:
        self._sink = sink
        self._end: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            self._end.put(None)
        else:
            self._sink(*item)

    def get(self) -> None:
        return self._end.get()


def tap_receiver(
    receiver: RTCRtpReceiver, sink: Callable[[RTCRtpCodecParameters, JitterFrame], None]
) -> None:
    """Hand the encoded frames `receiver` receives to `sink`, on the event loop, instead of to
    its decoder thread. Call before the answer is applied: aiortc starts the thread with the
    queue it has then."""
    # aiortc has no hook for it: its receiver builds the queue in its constructor.
    receiver._RTCRtpReceiver__decoder_queue = _DecoderQueue(sink)  # type: ignore[attr-defined]
