"""Spoken questions over a real WebRTC loopback call, answered aloud by the real models (the
English demo tutor in Piper's voice, the Chinese one in Kokoro's).

The student's side is the headless client's own machinery: a WAV played as the microphone,
the tutor's audio recorded as it arrives. What the tutor said is checked by ear, too: Whisper
transcribes the recorded reply back and must find the reply's words in it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import soxr
from pypinyin import lazy_pinyin

from media_engine.api import RUNTIME
from media_engine.audio import ASR_RATE, OUT_RATE, to_output_pcm
from media_engine.opus_out import OpusOutbound
from tests.calls import demo_material_ready, eventually, open_session
from tests.conftest import MakeClient, login
from tests.voice_helpers import espeak, silence
from virtual_tutor.call_cli import Output
from virtual_tutor.client import CallConnection, TurnLog, TurnResult
from virtual_tutor.voice_client import SOUND_RMS, Listener, Microphone

pytestmark = pytest.mark.models


class Quiet(Output):
    def event(self, kind: str, **fields: Any) -> None:
        pass

    def say(self, text: str, *, end: str = "\n") -> None:
        pass


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


def hanzi(text: str) -> set[str]:
    return set(re.findall(r"[\u4e00-\u9fff]", text))


def sounds(text: str, language: str) -> str:
    """What `text` sounds like: Chinese as pinyin, so a homophone (光和 for 光合) counts as
    heard right; the reply's grounding is checked on its own below."""
    if language == "zh":
        return " ".join(lazy_pinyin(text))
    return text.lower()


async def ask_aloud(
    client: Any, grant: dict[str, Any], pcm: np.ndarray, mic: Microphone, listener: Listener
) -> tuple[TurnResult, float]:
    """Speak `pcm` in a call of the session `grant`; its first turn, and when speech ended."""
    call = CallConnection(
        client.session,
        grant["engine_url"],
        grant["engine_token"],
        microphone=mic.track,
        on_track=listener.start,
    )
    log = TurnLog(call, Quiet(as_json=False))
    try:
        await call.connect()
        log.start()
        _, speech_end = await mic.speak(pcm)
        turn = await log.wait_turn(0, voice=True, timeout=240)
    finally:
        await log.aclose()
        await call.hang_up()
        await listener.aclose()
    return turn, speech_end


CASES = [
    # tutor, language, question, key word heard, words a relevant answer uses
    (
        1,
        "en",
        "Can you explain how photosynthesis works in plants?",
        "photosynthesis",
        ("light", "sun", "water", "carbon", "food", "sugar", "glucose", "chlorophyll"),
    ),
    (2, "zh", "什么是光合作用？", "光合作用", ("光", "水", "二氧化碳", "氧", "叶", "养")),
]


@pytest.mark.parametrize(("tutor", "language", "question", "heard", "relevant"), CASES)
async def test_a_spoken_question_is_answered_aloud(
    make_client: MakeClient,
    tutor: int,
    language: str,
    question: str,
    heard: str,
    relevant: tuple[str, ...],
) -> None:
    client = await make_client(LOAD_VOICE_MODELS="true")
    await demo_material_ready(client)
    models = client.app[RUNTIME].voice.models  # type: ignore[union-attr]
    if language == "en":
        pcm = to_output_pcm(espeak(question), ASR_RATE)
    else:
        # Debian's espeak-ng has no Mandarin dictionary: the question comes from Kokoro's
        # male Mandarin voice (the tutor answers with a female one).
        pcm = (await models.tts.synthesize(question, voice="zm_yunxi", language="zh")).pcm
    pcm = np.concatenate([to_output_pcm(silence(0.5), ASR_RATE), pcm])

    headers = await login(client)
    grant = await open_session(client, headers, tutor_id=tutor)
    listener = Listener()
    turn, speech_end = await ask_aloud(client, grant, pcm, Microphone(), listener)

    # Heard right, answered to the point.
    assert sounds(heard, language) in sounds(turn.transcript, language), turn.transcript
    assert turn.reply and any(w in turn.reply.lower() for w in relevant), turn.reply
    assert turn.tts == "end" and turn.metrics["total_ms"] > 0
    # The turn ended at the pause: Smart Turn heard a finished question (a slow verdict would
    # still be the model's, and "silence" only comes if it failed).
    if language == "en":
        assert turn.metrics["endpoint"] == "smart_turn", turn.metrics
    else:
        assert turn.metrics["endpoint"] in ("smart_turn", "max_pause"), turn.metrics
    # The server's health counts the frames it paced out for this call.
    health = await (await client.get("/health")).json()
    assert health["engine"]["audio"]["frames"] > 0

    # The reply arrived as real audio, and it says the reply's words.
    first = listener.first_sound_after(speech_end)
    assert first is not None, "no reply audio reached the client"
    start = next(i for i, f in enumerate(listener.frames) if f.at == first)
    reply_audio = np.concatenate(listener.pcm[start:]).astype(np.float32) / 32768
    assert np.sqrt(np.mean(reply_audio**2)) > SOUND_RMS
    at_16k = soxr.resample(reply_audio, OUT_RATE, ASR_RATE).astype(np.float32)
    back = await models.asr_for(language).transcribe(at_16k, language=language)
    assert back is not None
    if language == "en":
        said, expected = words(back.text), words(turn.reply)
    else:
        said, expected = hanzi(back.text), hanzi(turn.reply)
    overlap = len(said & expected) / max(1, len(expected))
    print(f"\n{language}: reply {turn.reply!r}\nheard back {back.text!r} ({overlap:.0%})")
    print(f"metrics: {turn.metrics}")
    assert overlap >= 0.5, (turn.reply, back.text)

    # Both turns are stored, with their timings.
    async def stored() -> list[dict[str, Any]]:
        url = f"/api/student/sessions/{grant['session_id']}"
        turns: list[dict[str, Any]] = (await (await client.get(url, headers=headers)).json())[
            "turns"
        ]
        return turns

    await eventually(lambda: _two(stored), timeout=10)
    user, tutor_turn = await stored()
    assert (user["role"], user["source"], user["turn_id"]) == ("user", "spoken", turn.turn_id)
    assert user["timings"]["endpoint_ms"] > 0 and "asr_final_ms" in user["timings"]
    assert tutor_turn["role"] == "assistant" and not tutor_turn["interrupted"]
    assert tutor_turn["text"] == turn.reply and tutor_turn["timings"]


async def _two(stored: Any) -> bool:
    return len(await stored()) == 2


async def test_a_student_in_dtx_is_heard_to_the_end_of_the_turn(make_client: MakeClient) -> None:
    """The engine's answer asks for DTX; the client does as a browser does then (its silence
    one packet every 0.4 s). The turn still ends after its 1.5 s of silence, the silence not
    sent heard as it passed. (Silence alone ends turns here: a finished question that Smart
    Turn hears ends at its first packet after the pause, and would not tell.)"""
    client = await make_client(
        LOAD_VOICE_MODELS="true", TURN_DETECTOR="vad", VAD_END_SILENCE_MS="1500"
    )
    await demo_material_ready(client)
    question = "What is photosynthesis?"
    pcm = np.concatenate(
        [to_output_pcm(silence(0.5), ASR_RATE), to_output_pcm(espeak(question), ASR_RATE)]
    )
    mic = Microphone(pre_encoded=True)
    grant = await open_session(client, await login(client), tutor_id=1)
    turn, speech_end = await ask_aloud(client, grant, pcm, mic, Listener())
    assert isinstance(mic.track, OpusOutbound) and mic.track.dtx, "no DTX asked for"
    # Heard to its last word (Whisper may write it as two: "photo synthesis").
    assert "photosynthesis" in turn.transcript.lower().replace(" ", ""), turn.transcript
    assert turn.metrics["endpoint"] == "silence", turn.metrics
    # Heard only from the packets (20 ms of audio each, 0.4 s apart once 200 ms went in full),
    # 1.5 s of silence would take over 15 s to hear. Filled in, it takes 1.5 s; the reply's
    # first words follow (prepared at the first pause), later on a loaded machine, not 8 s.
    assert turn.first_delta_at is not None
    assert turn.first_delta_at - speech_end < 8.0, turn.metrics
