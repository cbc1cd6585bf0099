"""Load benchmark: many calls at once, each streaming the tutor's audio, on this machine.

    python bench/load.py [--calls 30] [--seconds 20] [--speak 3]

Opens N real calls (audio + data channel) to one server and, for `--seconds`, measures pacing
twice. On the server (its /health): outbound frames sent more than 40 ms behind their time,
which the student hears as gaps. On the client: when each of the tutor's RTP packets (20 ms of
audio) arrives; an underrun is a gap of more than 60 ms between two packets the server meant
to send back to back (consecutive RTP timestamps: a silent tutor sends a packet only every
0.4 s, as Opus DTX does, and those gaps are not underruns). The client does not decode the streams
it receives (it counts packets as they arrive and drops them), so the figures measure the
server, not a client decoding 30 streams on the same two cores. `--speak` of the calls also ask
a spoken question, so models run while the others stream. The client's microphones send their
silence as the engine's answer asks: every 0.4 s where it asks for DTX (a browser's encoder may
send more; README, Load), every 20 ms with `AUDIO_INBOUND_DTX=false`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiortc.rtp import RtpPacket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import STUDENT, rss_mb, running_server, summary, wait_material  # noqa: E402
from media_engine.audio import FRAME_SAMPLES  # noqa: E402
from media_engine.opus_out import SILENCE_PACKET  # noqa: E402
from virtual_tutor.client import Api, CallConnection  # noqa: E402
from virtual_tutor.voice_client import Microphone, read_wav  # noqa: E402

GAP_S = 0.060


@dataclass
class Arrivals:
    """When each of a call's incoming RTP packets arrived, its RTP timestamp and whether it
    was sound; the packets go no further."""

    times: list[float] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)
    sound: list[bool] = field(default_factory=list)

    def count(self, call: CallConnection) -> None:
        for transceiver in call.pc.getTransceivers():
            if transceiver.kind == "audio":
                # aiortc hands each incoming packet to its receiver here: noting the time and
                # dropping it spares the jitter buffer and the Opus decoder.
                transceiver.receiver._handle_rtp_packet = self._arrived  # type: ignore[method-assign]

    async def _arrived(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.times.append(time.monotonic())
        self.stamps.append(packet.timestamp)
        self.sound.append(packet.payload != SILENCE_PACKET)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def make_question(folder: Path) -> Path:
    raw, wav = folder / "q.raw.wav", folder / "q.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "What is gravity?"], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", str(wav)], check=True)
    return wav


async def pacing(http: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with http.get(f"{url}/health") as resp:
        audio: dict[str, int] = (await resp.json())["engine"]["audio"]
    return audio


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--speak", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        question = read_wav(make_question(Path(tmp)))
        async with running_server(
            MAX_SESSIONS=str(args.calls), MAX_SESSIONS_PER_USER=str(args.calls)
        ) as server:
            async with aiohttp.ClientSession() as http:
                # A fresh server ingests its demo material first: measured meanwhile, the
                # figures were the ingestion's.
                await wait_material(http, server.url)
                api = Api(http, server.url)
                await api.login(*STUDENT)
                calls: list[tuple[CallConnection, Arrivals, Microphone, str]] = []
                for _ in range(args.calls):
                    session = await api.open_session(1)
                    mic, arrivals = Microphone(pre_encoded=True), Arrivals()
                    call = CallConnection(
                        http, session["engine_url"], session["engine_token"], microphone=mic.track
                    )
                    arrivals.count(call)
                    await call.connect()
                    calls.append((call, arrivals, mic, session["session_id"]))
                rss_start, cpu_start = rss_mb(server.pid), cpu_seconds(server.pid)
                pacing_start = await pacing(http, server.url)
                started = time.monotonic()
                speakers = [
                    asyncio.create_task(mic.speak(question)) for _, _, mic, _ in calls[: args.speak]
                ]
                await asyncio.sleep(args.seconds)
                for task in speakers:
                    task.cancel()
                cpu = cpu_seconds(server.pid) - cpu_start
                pacing_end = await pacing(http, server.url)
                sent = pacing_end["frames"] - pacing_start["frames"]
                late = pacing_end["late_frames"] - pacing_start["late_frames"]
                gaps: list[float] = []
                underruns = frames = sound = 0
                for _, arrivals, _, _ in calls:
                    kept = [
                        (t, stamp, loud)
                        for t, stamp, loud in zip(
                            arrivals.times, arrivals.stamps, arrivals.sound, strict=True
                        )
                        if t >= started + 2
                    ]
                    frames += len(kept)
                    sound += sum(1 for _, _, loud in kept if loud)
                    steps = [
                        b[0] - a[0]
                        for a, b in zip(kept, kept[1:], strict=False)
                        if (b[1] - a[1]) % 2**32 == FRAME_SAMPLES
                    ]
                    gaps += [s * 1000 for s in steps]
                    underruns += sum(1 for s in steps if s > GAP_S)
                window = args.seconds - 2
                print(
                    f"load benchmark: {args.calls} calls for {args.seconds:.0f} s, "
                    f"{args.speak} of them asking a spoken question"
                )
                print(
                    f"{'server: frames sent late (> 40 ms)':34} {late} of {sent} "
                    f"({late / max(1, sent):.2%})"
                )
                print(summary("client: gap, back-to-back packets", gaps))
                print(
                    f"{'client: packets received':34} {frames} ({sound} of sound, "
                    f"{(frames - sound) / window / args.calls:.1f} silent a second a call)"
                )
                print(
                    f"{'client: underruns (gap > 60 ms)':34} {underruns} "
                    f"({underruns / max(1, len(gaps)):.2%} of back-to-back packets)"
                )
                in_dtx = sum(1 for _, _, mic, _ in calls if getattr(mic.track, "dtx", False))
                print(f"{'client: microphones in DTX':34} {in_dtx} of {len(calls)}")
                print(f"{'server CPU':34} {cpu / args.seconds:.2f} cores of 2")
                print(f"{'server RSS':34} {rss_start:.0f} MB -> {rss_mb(server.pid):.0f} MB")
                for call, _, _, sid in calls:
                    await call.hang_up()
                    await api.end_session(sid)


if __name__ == "__main__":
    asyncio.run(main())
