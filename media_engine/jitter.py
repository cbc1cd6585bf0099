"""The inbound audio jitter buffer: how many packets aiortc holds before decoding one.

aiortc's audio receiver holds 4 packets (80 ms of 20 ms Opus frames) before it hands the first
one on, to ride out reordering on the internet. Every stage of a turn waits behind it: the VAD
hears the student stop 80 ms late, and hears them barge in 80 ms late. Even holding one, it
hands a packet on only when the next arrives (it cannot tell a video frame is whole before),
20 ms late. An Opus packet is a whole frame, so on a LAN, or loopback, none need be held; over
a lossy network, a few keep late packets from being dropped.
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

CAPACITY = 16  # aiortc's own, for audio


class PacketAtOnce(JitterBuffer):
    """Hands each audio packet on as soon as it and all before it are in (a lost packet still
    waits for the buffer to fill, as aiortc's own does)."""

    def __init__(self) -> None:
        super().__init__(capacity=CAPACITY)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if self._origin is None:
            return None
        position = self._origin % self._capacity
        packet = self._packets[position]
        if packet is None:
            return None  # the next one in order has not come yet
        self.remove(1)
        return JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def set_jitter_packets(receiver: RTCRtpReceiver, packets: int) -> None:
    """Hold `packets` audio packets behind the one decoded (0: decode each as it comes),
    instead of aiortc's 4. Call before any packet arrives: the buffer is replaced, not resized."""
    # aiortc has no setting for it: its receiver builds the buffer in its constructor.
    held = max(0, min(packets, CAPACITY // 2))
    buffer = PacketAtOnce() if held == 0 else JitterBuffer(capacity=CAPACITY, prefetch=held)
    receiver._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]
