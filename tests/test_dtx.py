"""DTX on the student's microphone: the answer asks for it, and the silence it leaves out is
heard mid-utterance; the listener hands frames to the detector's thread and its events back
(a scripted detector; the real call is in tests/test_voice_call.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc.codecs import get_decoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media_engine import dtx
from media_engine.audio import ASR_RATE
from media_engine.dtx import ask_for_dtx, asks_for_dtx
from media_engine.listening import Listener, tap_receiver
from media_engine.vad import VadEvent

ANSWER = "\r\n".join(
    [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96 0",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 minptime=10;useinbandfec=1",
        "a=rtpmap:0 PCMU/8000",
        "m=application 9 DTLS/SCTP 5000",
        "",
    ]
)


def test_the_answer_asks_for_dtx_on_opus_only() -> None:
    asked = ask_for_dtx(ANSWER)
    assert "a=fmtp:96 minptime=10;useinbandfec=1;usedtx=1\r\n" in asked
    assert asked.count("usedtx") == 1
    assert asks_for_dtx(asked) and not asks_for_dtx(ANSWER)
    assert ask_for_dtx(asked) == asked  # asked once


def test_an_opus_format_without_parameters_gets_them() -> None:
    bare = ANSWER.replace("a=fmtp:96 minptime=10;useinbandfec=1\r\n", "")
    asked = ask_for_dtx(bare)
    assert "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 usedtx=1\r\n" in asked
    assert asks_for_dtx(asked)


def test_usedtx_on_another_codec_is_not_dtx_for_opus() -> None:
    other = ANSWER + "a=fmtp:0 usedtx=1\r\n"
    assert not asks_for_dtx(other)


class Detector:
    """Stands in for a `VadStream`: records what it is fed, on which thread, and says it
    needs time (an utterance is open) from the first sound until told otherwise."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.fed: list[tuple[str, int]] = []  # ("sound" | "silence", samples)
        self.threads: set[int] = set()
        self.needs_time = False
        self._fail_on = fail_on

    def feed(self, samples: np.ndarray, verdicts: list[Any]) -> list[VadEvent]:
        self.threads.add(threading.get_ident())
        if self._fail_on is not None and len(self.fed) == self._fail_on:
            raise ValueError("a detector bug")
        if not len(samples):  # the resampler holds back the first frame's few samples
            return []
        kind = "sound" if np.any(samples) else "silence"
        self.fed.append((kind, len(samples)))
        if kind == "sound":
            self.needs_time = True
        return [len(self.fed)]  # type: ignore[list-item]  # numbered, to check the order


class Track:
    """Frames handed in by the test; `end()` ends the track as aiortc's does."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    async def recv(self) -> object:
        item = await self.queue.get()
        if item is None:
            raise MediaStreamError
        return item

    def end(self) -> None:
        self.queue.put_nowait(None)


def tone(pts: int = 0) -> av.AudioFrame:
    wave = (8000 * np.sin(np.arange(960) * 0.05)).astype(np.int16)  # 20 ms at 48 kHz
    frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), layout="stereo")
    frame.sample_rate = 48000
    frame.pts, frame.time_base = pts, Fraction(1, 48000)
    return frame


class Heard:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.failures: list[BaseException] = []
        self.loop_thread = threading.get_ident()

    def on_events(self, events: list[VadEvent], arrived: float) -> None:
        assert threading.get_ident() == self.loop_thread  # delivered on the loop
        self.events += events


async def settle(executor: ThreadPoolExecutor) -> None:
    await asyncio.get_running_loop().run_in_executor(executor, lambda: None)
    await asyncio.sleep(0.01)


def listener(detector: Detector, executor: ThreadPoolExecutor, heard: Heard) -> Listener:
    return Listener(
        detector,  # type: ignore[arg-type]
        executor,
        on_events=heard.on_events,
        verdicts=list,
        on_failure=heard.failures.append,
    )


async def test_frames_are_fed_on_the_detectors_thread_and_their_events_come_back_in_order() -> None:
    detector, heard = Detector(), Heard()
    with ThreadPoolExecutor(1) as executor:
        ears = listener(detector, executor, heard)
        track = Track()
        running = asyncio.ensure_future(ears.run(track, fill=False))  # type: ignore[arg-type]
        for _ in range(20):
            track.queue.put_nowait(tone())
        await asyncio.sleep(0.05)
        await settle(executor)
        assert heard.events == list(range(1, len(detector.fed) + 1))
        # soxr's stream resampler gives its output in bursts, holding back a little
        assert sum(n for _, n in detector.fed) >= 18 * 320
        assert heard.loop_thread not in detector.threads
        assert all(kind == "sound" for kind, _ in detector.fed)
        track.end()
        await asyncio.wait_for(running, 5)
        assert not heard.failures


async def test_encoded_packets_are_decoded_there_and_an_unreadable_one_is_skipped() -> None:
    detector, heard = Detector(), Heard()
    codec = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    encoder = OpusEncoder()
    packets = [encoder.encode(tone(960 * i))[0][0] for i in range(5)]
    assert get_decoder(codec) is not None
    with ThreadPoolExecutor(1) as executor:
        ears = listener(detector, executor, heard)
        ears.packet(codec, JitterFrame(data=packets[0], timestamp=0))
        ears.packet(codec, JitterFrame(data=b"\xff\xff\xff", timestamp=960))  # not Opus
        ears.packet(codec, JitterFrame(data=b"", timestamp=960))  # nothing: not the end
        for i, packet in enumerate(packets[1:], start=2):
            ears.packet(codec, JitterFrame(data=packet, timestamp=960 * i))
        await settle(executor)
        # 20 ms each, at 16 kHz, less what the resampler holds back
        assert 4 * 320 < sum(n for _, n in detector.fed) <= 5 * 320
        assert not heard.failures
        ears.close()


async def test_silence_is_filled_in_only_while_it_is_needed() -> None:
    detector, heard = Detector(), Heard()
    with ThreadPoolExecutor(1) as executor:
        ears = listener(detector, executor, heard)
        track = Track()
        running = asyncio.ensure_future(ears.run(track, fill=True))  # type: ignore[arg-type]
        # No utterance: nothing is filled in, however long nothing comes.
        await asyncio.sleep(3 * dtx.FILL_AFTER_S)
        await settle(executor)
        assert detector.fed == []
        # A sound opens an utterance; then nothing comes: after FILL_AFTER_S the silence
        # since the frame, then more as it passes.
        started = time.monotonic()
        track.queue.put_nowait(tone())
        track.queue.put_nowait(tone())
        await asyncio.sleep(dtx.FILL_AFTER_S + 4 * dtx.FILL_EVERY_S)
        await settle(executor)
        silences = [n for kind, n in detector.fed if kind == "silence"]
        assert len(silences) >= 2
        assert silences[0] >= int(dtx.FILL_AFTER_S * ASR_RATE)
        # The silence fed adds up to the time that passed, not more.
        assert sum(silences) <= (time.monotonic() - started) * ASR_RATE
        # The utterance ends: no more silence.
        detector.needs_time = False
        await asyncio.sleep(dtx.FILL_EVERY_S * 2)
        count = len(detector.fed)
        await asyncio.sleep(3 * dtx.FILL_AFTER_S)
        await settle(executor)
        assert len(detector.fed) == count
        track.end()
        await asyncio.wait_for(running, 5)
        assert not any(t.get_name() == "fill" for t in asyncio.all_tasks())


async def test_a_detector_failure_is_reported_once_and_nothing_more_is_fed() -> None:
    detector, heard = Detector(fail_on=2), Heard()
    with ThreadPoolExecutor(1) as executor:
        ears = listener(detector, executor, heard)
        for _ in range(5):
            ears.frame(tone())
        await settle(executor)
        assert len(heard.failures) == 1 and isinstance(heard.failures[0], ValueError)
        assert len(detector.fed) == 2
        ears.frame(tone())
        await settle(executor)
        assert len(detector.fed) == 2


class Receiver:
    """Where aiortc's receiver keeps its decoder queue (a name-mangled attribute)."""

    _RTCRtpReceiver__decoder_queue: Any = None


def test_a_tapped_receiver_hands_frames_on_and_only_its_end_to_the_decoder_thread() -> None:
    receiver, got = Receiver(), list[object]()
    tap_receiver(receiver, lambda codec, frame: got.append(frame))  # type: ignore[arg-type]
    queue = receiver._RTCRtpReceiver__decoder_queue
    queue.put(("opus", "frame"))
    assert got == ["frame"]
    queue.put(None)
    assert queue.get() is None
