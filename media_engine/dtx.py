"""DTX on the student's microphone: silence not sent, and heard all the same.

Most of a call is the student listening. A browser sends their microphone as 50 Opus packets a
second all the same, and each costs the engine's one event loop its SRTP decryption, RTP
parsing, a jitter buffer and a decode, and the voice detector a look: with 30 calls that was
most of what an engine on 2 cores could do, before anyone spoke. An answer whose Opus format
says `usedtx=1` asks the browser for discontinuous transmission, as WebRTC stacks do: while
the student is quiet, one packet every 0.4 s. When the quiet counts as quiet is the browser's
Opus encoder's choice (libopus's own voice detector, which background noise keeps sending:
README, Load).

The turn-taking still has to hear the silence after speech: it ends a turn after so long
without speech, and with DTX nothing comes in that time. The listener fills it in
(`media_engine.listening.Listener.fill_silence`): while the voice detector needs time to pass
(mid-utterance), a stretch with no frame becomes silence as it passes, so a turn ends when it
would have with every packet sent.
"""

from __future__ import annotations

import re

# No frame for this long mid-utterance: the student is quiet and their browser in DTX. Longer
# than a network's usual jitter (a late packet is then not taken for silence), and short enough
# that the turn ends on time: the silence is counted from the last frame, not from here.
FILL_AFTER_S = 0.1
# Then the silence is fed at this pace until a frame comes.
FILL_EVERY_S = 0.04

_OPUS = re.compile(r"^a=rtpmap:(\d+) opus/", re.IGNORECASE | re.MULTILINE)


def ask_for_dtx(sdp: str) -> str:
    """`sdp` (an answer) with `usedtx=1` in the format of each of its Opus payload types."""
    lines = sdp.split("\r\n")
    for payload_type in _OPUS.findall(sdp):
        prefix = f"a=fmtp:{payload_type} "
        fmtp = next((i for i, line in enumerate(lines) if line.startswith(prefix)), None)
        if fmtp is None:
            rtpmap = next(i for i, line in enumerate(lines) if _is_rtpmap(line, payload_type))
            lines.insert(rtpmap + 1, f"{prefix}usedtx=1")
        elif "usedtx=" not in lines[fmtp]:
            lines[fmtp] += ";usedtx=1"
    return "\r\n".join(lines)


def asks_for_dtx(sdp: str) -> bool:
    """Whether `sdp` asks its peer to send Opus with DTX."""
    types = set(_OPUS.findall(sdp))
    return any(
        line.startswith(f"a=fmtp:{t} ") and "usedtx=1" in line
        for line in sdp.splitlines()
        for t in types
    )


def _is_rtpmap(line: str, payload_type: str) -> bool:
    return line.lower().startswith(f"a=rtpmap:{payload_type} opus/")
