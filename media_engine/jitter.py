"""The inbound audio jitter buffer: how many packets aiortc holds before decoding one.

aiortc's audio receiver holds 4 packets (80 ms of 20 ms Opus frames) before it hands the first
one on, to ride out reordering on the internet. Every stage of a turn waits behind it: the VAD
hears the student stop 80 ms late, and hears them barge in 80 ms late. On a LAN, or loopback, one
packet is enough; over a lossy network, more keeps late packets from being dropped.
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer

CAPACITY = 16  # aiortc's own, for audio


def set_jitter_packets(receiver: RTCRtpReceiver, packets: int) -> None:
    """Hold `packets` audio packets (at least one) before decoding, instead of aiortc's 4.
    Call before any packet arrives: the buffer is replaced, not resized."""
    # aiortc has no setting for it: its receiver builds the buffer in its constructor.
    buffer = JitterBuffer(capacity=CAPACITY, prefetch=max(1, min(packets, CAPACITY // 2)))
    receiver._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]
