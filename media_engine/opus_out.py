"""The tutor's voice encoded by the track itself, so silence costs nothing.

Most of a call is the tutor listening. aiortc would encode every 20 ms frame of that silence
with libopus, on a thread hop per frame (50 a second per call). The outbound track hands aiortc
Opus packets instead (aiortc sends pre-encoded packets as they are): speech goes through an
encoder of its own, inline (a fraction of a millisecond a frame), and silence is one constant
packet that decoders play as silence, encoded never and sent only every 0.4 s (as Opus DTX
does: the RTP timestamp jumps over the frames not sent). A few frames of real silence are
encoded after speech, so the encoder and the student's decoder fade out together.
"""

from __future__ import annotations

import fractions
from collections import deque
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from media_engine.audio import FRAME_SAMPLES, OUT_RATE, TIME_BASE, OutboundAudio, PacingStats

# A 20 ms Opus frame of silence: TOC 0xf8 (CELT-only, fullband, 20 ms, mono, one frame) and a
# payload that decodes to silence; what WebRTC stacks send while muted.
SILENCE_PACKET = b"\xf8\xff\xfe"
# Frames of silence still encoded after speech, letting both ends ramp down.
TAIL_FRAMES = 3
# While the tutor is silent one packet goes every this many seconds, as Opus DTX does, so the
# stream stays alive; the rest are not sent at all.
SILENT_PACKET_EVERY_S = 0.4
# Frames still sent every 20 ms after sound before that (libopus waits 200 ms too): a
# receiver whose jitter buffer holds a few packets back (aiortc's holds 4) would otherwise keep
# the end of the speech until the next packets, seconds later.
HANGOVER_FRAMES = 10
BIT_RATE = 48_000  # mono speech; aiortc's own encoder uses 96 kb/s for stereo


class OpusFrames:
    """Turns each 20 ms frame of 48 kHz mono s16 into one Opus packet's bytes."""

    def __init__(self, rate: int, frame_samples: int) -> None:
        self._rate = rate
        self._silence = np.zeros((1, frame_samples), dtype=np.int16)
        self._encoder: av.AudioCodecContext | None = None
        self._ready: deque[bytes] = deque()
        self._tail = 0
        self._pts = 0

    def _open(self) -> av.AudioCodecContext:
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.sample_rate = self._rate
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = BIT_RATE
        codec.options = {"application": "voip"}
        codec.time_base = fractions.Fraction(1, self._rate)
        return codec

    def packet(self, samples: NDArray[np.int16] | None) -> bytes:
        """The packet for the next frame: `samples` (1 x 960), or None for silence."""
        if samples is None and self._tail == 0 and not self._ready:
            return SILENCE_PACKET
        if samples is None:
            self._tail = max(0, self._tail - 1)
            samples = self._silence
        else:
            self._tail = TAIL_FRAMES
        if self._encoder is None:
            self._encoder = self._open()
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += samples.shape[1]
        self._ready.extend(bytes(p) for p in self._encoder.encode(frame))
        # libopus may hold the first frame back: until a packet is out, silence goes instead.
        return self._ready.popleft() if self._ready else SILENCE_PACKET

    @property
    def silent(self) -> bool:
        """Whether the next packet is silence whatever comes (no speech tail left to send)."""
        return self._tail == 0 and not self._ready

    def close(self) -> None:
        """Free the encoder now: FFmpeg keeps two threads for each open one, and a call's
        objects may wait for the garbage collector long after the call ended."""
        self._encoder = None
        self._ready.clear()


class OpusOutbound(OutboundAudio):
    """The engine's outbound track on a WebRTC call: Opus packets, silence never encoded."""

    def __init__(self, stats: PacingStats | None = None, *, dtx: bool = True) -> None:
        """`dtx`: send silence only every SILENT_PACKET_EVERY_S (else every 20 ms)."""
        super().__init__(stats)
        self._opus = OpusFrames(OUT_RATE, FRAME_SAMPLES)
        self.dtx = dtx
        self._quiet = HANGOVER_FRAMES  # frames of silence sent since the last sound

    def stop(self) -> None:
        super().stop()
        self._opus.close()

    async def recv(self) -> av.Packet[Any]:  # type: ignore[override]
        if self.dtx and self._opus.silent and self._quiet >= HANGOVER_FRAMES:
            # Most of a call is the tutor listening: sending 50 silent packets a second per
            # call (each RTP, SRTP and a datagram on the event loop) was what limited how many
            # calls an engine carries. Speech starts at once when it is queued.
            await self.sleep_through_silence(SILENT_PACKET_EVERY_S)
        samples = await self.next_frame()
        quiet = samples is self.silence
        self._quiet = self._quiet + 1 if quiet else 0
        packet = av.Packet(self._opus.packet(None if quiet else samples))
        packet.pts = self.pts
        packet.time_base = TIME_BASE
        return packet
