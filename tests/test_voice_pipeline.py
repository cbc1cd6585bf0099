"""The voice pipeline inside a real Call, on scripted VAD/turn detector/ASR/LLM/TTS: turns,
end-of-turn verdicts, barge-in, errors; and a Piper voice speaking a reply for real.

The student's audio is a tone (the scripted VAD hears anything loud as speech) paced in real
time; the outbound track is pulled the way aiortc's RTP sender pulls it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest

from auth.tokens import TokenIssuer
from core.settings import Settings, VoiceSettings
from knowledge.homophones import Homophones
from media_engine.audio import FRAME_SAMPLES, OUT_RATE, Samples
from media_engine.call import Call
from media_engine.chunking import first_chunk
from media_engine.conversation import Conversation
from media_engine.runtime import EngineRuntime
from media_engine.store import TurnStore
from media_engine.tts import TTS
from media_engine.turn_detector import TurnDetector, TurnGuess, sounds_unfinished
from media_engine.tutor import TutorProfile
from media_engine.voice import VoiceFactory, VoicePipeline
from media_engine.voice_models import VoiceModels
from storage import Database
from tests.voice_helpers import (
    FakeASR,
    FakeChannel,
    FakeStore,
    FakeTTS,
    Listener,
    LoudnessVad,
    ScriptedDetector,
    ScriptedLLM,
    ScriptedTrack,
    eventually,
    load_piper,
    silence,
    tone,
)

VOICE = VoiceSettings(min_speech_ms=100, end_silence_ms=300, partial_interval_ms=200)
ANSWER = "Plants make food from light, water and air. They also need carbon dioxide."


@dataclass
class Rig:
    call: Call
    voice: VoicePipeline
    channel: FakeChannel
    store: FakeStore
    asr: FakeASR
    llm: ScriptedLLM
    listener: Listener
    track: ScriptedTrack


async def _closed(call: Call, reason: str) -> None:
    return None


@pytest.fixture
async def make_rig(loop_guard: list[float]) -> AsyncIterator[Any]:
    rigs: list[Rig] = []

    async def make(
        audio: np.ndarray,
        *,
        llm: ScriptedLLM,
        tts: TTS | None = None,
        asr: FakeASR | None = None,
        piper: TTS | None = None,
        detector: TurnDetector | None = None,
        tutor: TutorProfile | None = None,
    ) -> Rig:
        asr = asr or FakeASR()
        tts = tts or FakeTTS()
        models = VoiceModels(
            vad=LoudnessVad(),
            asr_en=asr,
            asr_multilingual=asr,
            tts=tts,
            piper=piper,
            turn_detector=detector,
        )
        factory = VoiceFactory(models, VOICE)
        store = FakeStore()
        settings = Settings(database_url="sqlite://", secret_key="k" * 40, voice=VOICE)
        runtime = EngineRuntime(
            settings=settings,
            db=cast(Database, None),  # the scripted store needs no database
            store=cast(TurnStore, store),
            issuer=cast(TokenIssuer, None),
            llm=llm,
            voice=factory,
        )
        tutor = tutor or TutorProfile(id=1, name="Ada", subject="biology")
        call = Call(session_id="s1", tutor=tutor, runtime=runtime, on_closed=_closed)
        channel = FakeChannel()
        call._channel = channel  # type: ignore[assignment]
        voice = factory.create(call)
        call.voice = voice
        track = ScriptedTrack(audio)
        listener = Listener(voice.outbound)
        voice.start(track)
        rig = Rig(call, voice, channel, store, asr, llm, listener, track)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.listener.aclose()
        await rig.call.close("hangup")
        await rig.voice._factory.aclose()


def question(seconds: float = 0.8) -> np.ndarray:
    return np.concatenate([silence(0.3), tone(seconds), silence(1.0)])


async def test_a_spoken_question_is_answered_aloud(make_rig: Any) -> None:
    rig: Rig = await make_rig(question(), llm=ScriptedLLM(ANSWER))
    end = await rig.channel.wait_for("tts", state="end")
    turn_id = end["turn_id"]
    assert [e["state"] for e in rig.channel.events("vad")] == ["speech_start", "speech_end"]
    assert rig.channel.events("transcription", partial=True, turn_id=turn_id)
    final = rig.channel.events("transcription", partial=False)
    assert final == [
        {
            "type": "transcription",
            "partial": False,
            "content": "what is photosynthesis",
            "turn_id": turn_id,
        }
    ]
    assert rig.channel.events("tts", state="start", turn_id=turn_id)
    (user,) = rig.store.of("user")
    assert user["source"] == "spoken" and user["turn_id"] == turn_id
    assert {"utterance_ms", "endpoint_ms", "asr_final_ms", "asr_compute_ms"} <= user[
        "timings"
    ].keys()
    assert user["timings"]["endpoint_ms"] >= 250  # the end-of-turn silence
    (tutor,) = rig.store.of("assistant")
    assert tutor["text"] == ANSWER and not tutor["interrupted"]
    (metrics,) = rig.channel.events("metrics", turn_id=turn_id)
    for key in (
        "end_of_speech_ms_epoch",
        "asr_final_ms",
        "llm_first_token_ms",
        "tts_first_audio_ms",
        "first_audio_sent_ms",
        "total_ms",
    ):
        assert key in metrics, key
    assert metrics["total_ms"] >= metrics["endpoint_ms"]
    assert metrics["endpoint"] == "silence"  # no turn detector: silence alone ends turns
    assert rig.asr.finals == 1  # the speculative transcript was reused
    # Once the reply has been heard, the model reads the history the next turn starts with.
    await eventually(lambda: any(len(m) == 3 for m in rig.llm.prefills))
    assert [m["content"] for m in rig.llm.prefills[-1][1:]] == ["what is photosynthesis", ANSWER]
    # Every chunk was played: 0.02 s of tone a character is one 20 ms frame a character.
    assert rig.listener.voiced() >= 0.9 * len(ANSWER)


async def test_silence_costs_no_transcription_and_no_reply(make_rig: Any) -> None:
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(16_000 * 2) * 0.005).astype(np.float32)
    rig: Rig = await make_rig(np.concatenate([silence(1.0), hiss]), llm=ScriptedLLM(ANSWER))
    await rig.track.finished.wait()
    assert rig.channel.sent == []
    assert rig.asr.calls == 0 and rig.voice.asr_calls == 0
    assert rig.llm.requests == [] and rig.store.turns == []
    assert rig.listener.voiced() == 0


async def test_barge_in_stops_the_tutor_and_keeps_what_was_heard(make_rig: Any) -> None:
    slow = FakeTTS(seconds_per_char=0.05)  # the first chunk plays for about 1.5 s
    rig: Rig = await make_rig(
        question(),
        llm=ScriptedLLM(ANSWER, "Sure, let us stop there."),
        tts=slow,
        asr=FakeASR("what is photosynthesis", "wait, stop"),
    )
    start = await rig.channel.wait_for("tts", state="start")
    first_turn = start["turn_id"]
    await eventually(lambda: rig.listener.voiced() >= 25)  # half a second heard
    rig.track.then(np.concatenate([tone(0.5), silence(1.0)]))
    await rig.channel.wait_for("tts", state="interrupted", turn_id=first_turn)
    barge_at = [at for at, m in rig.channel.sent if m.get("state") == "speech_start"][1]
    # The frame being pulled when speech was heard may still carry voice; the next is silent.
    assert rig.listener.voiced_after(barge_at + 0.001) <= 2
    (interrupted,) = rig.store.of("assistant")
    assert interrupted["turn_id"] == first_turn and interrupted["interrupted"]
    heard = interrupted["text"]
    assert heard and ANSWER.startswith(heard) and len(heard) < len(ANSWER)
    # The interruption is the student's next turn, and it is answered.
    end = await rig.channel.wait_for("tts", state="end", timeout=15)
    assert end["turn_id"] != first_turn
    assert [t["text"] for t in rig.store.of("user")] == ["what is photosynthesis", "wait, stop"]
    assert rig.store.of("assistant")[1]["text"] == "Sure, let us stop there."


async def test_a_tts_failure_is_reported_and_the_next_turn_works(make_rig: Any) -> None:
    tts = FakeTTS(fail_on="BROKEN")
    llm = ScriptedLLM("Here is a good start, and then BROKEN words follow.", "All good now.")
    rig: Rig = await make_rig(silence(0.5), llm=llm, tts=tts)
    first = rig.call.turns.typed("hello")
    error = await rig.channel.wait_for("error", turn_id=first)
    assert error["code"] == "tts_error" and error["retryable"] is False
    await rig.channel.wait_for("tts", state="end", turn_id=first)
    (partial,) = rig.store.of("assistant")
    assert partial["text"] == "Here is a good start," and partial["interrupted"]
    second = rig.call.turns.typed("again")
    await rig.channel.wait_for("tts", state="end", turn_id=second)
    assert rig.store.of("assistant")[1]["text"] == "All good now."
    metrics = rig.channel.events("metrics", turn_id=second)
    assert metrics and "end_of_speech_ms_epoch" not in metrics[0] and metrics[0]["total_ms"] > 0


async def test_an_llm_failure_is_reported_and_the_call_goes_on(make_rig: Any) -> None:
    rig: Rig = await make_rig(silence(0.5), llm=FailingOnceLLM("Back again."))
    first = rig.call.turns.typed("hello")
    error = await rig.channel.wait_for("error", turn_id=first)
    assert error["code"] == "llm_error"
    second = rig.call.turns.typed("again")
    await rig.channel.wait_for("tts", state="end", turn_id=second)
    assert [t["text"] for t in rig.store.of("assistant")] == ["Back again."]


class FailingOnceLLM(ScriptedLLM):
    async def stream(self, messages: Any, options: Any) -> AsyncIterator[str]:
        if not self.requests:
            self.requests.append(messages)
            from media_engine.llm.base import LLMError

            raise LLMError("the model fell over")
        async for piece in super().stream(messages, options):
            yield piece


async def test_busy_models_do_not_stall_the_tutors_audio(make_rig: Any) -> None:
    # Two calls on the same slow models: while both turns wait on synthesis, each outbound
    # track sends every frame at its time (a silent one sends one every 0.4 s, as DTX does).
    tts = FakeTTS(delay=0.8)
    asr = FakeASR(delay=0.4)
    rigs: list[Rig] = [
        await make_rig(question(), llm=ScriptedLLM(ANSWER), tts=tts, asr=asr) for _ in range(2)
    ]
    for rig in rigs:
        await rig.channel.wait_for("tts", state="end", timeout=20)
    for rig in rigs:
        stamps = rig.listener.stamps
        # How far behind its time each frame left: the same for every frame unless the loop
        # was held up. A loaded machine may wake the loop late now and then; never for long.
        behind = np.array([at - pts / OUT_RATE for at, pts in stamps])
        assert len(stamps) > 50 and float(behind.max() - behind.min()) < 0.25
        # The reply itself went out one frame per 20 ms of its time (but between chunks).
        frames = zip(rig.listener.frames, stamps, strict=True)
        voiced = [pts for (_, level), (_, pts) in frames if level > 0.001]
        assert len(voiced) > 20 and np.mean(np.diff(voiced) == FRAME_SAMPLES) > 0.9


async def test_speech_resumed_before_the_transcript_joins_the_next_turn(make_rig: Any) -> None:
    # The first part's transcript takes longer than the student's pause: it is not answered
    # on its own (that would talk over the student) but opens the next turn.
    asr = FakeASR("the first part", "and the second", delay=0.7)
    audio = np.concatenate([silence(0.3), tone(0.5), silence(0.4), tone(0.5), silence(1.5)])
    rig: Rig = await make_rig(audio, llm=ScriptedLLM("Got it."), asr=asr)
    await rig.channel.wait_for("tts", state="end", timeout=15)
    finals = rig.channel.events("transcription", partial=False)
    assert [f["content"] for f in finals] == ["the first part and the second"]
    assert [t["text"] for t in rig.store.of("user")] == ["the first part and the second"]
    assert len(rig.llm.requests) == 1


async def test_speech_while_the_tutor_is_still_thinking_cancels_the_reply(make_rig: Any) -> None:
    slow = ScriptedLLM("Let me think about that for a while, it is a hard one.", delay=0.5)
    rig: Rig = await make_rig(silence(0.5), llm=slow)
    typed = rig.call.turns.typed("hello")
    await eventually(lambda: bool(rig.channel.events("text_delta", turn_id=typed)))
    rig.track.then(np.concatenate([tone(0.5), silence(1.0)]))
    await rig.channel.wait_for("tts", state="interrupted", turn_id=typed)
    assert not rig.channel.events("tts", state="start", turn_id=typed)
    assert rig.store.of("assistant") == []  # nothing was heard, so nothing is stored
    assert rig.listener.voiced() == 0


async def test_course_material_is_searched_once_the_partial_transcript_settles(
    make_rig: Any,
) -> None:
    # A long question: partials come every 200 ms and say the same thing, so the material is
    # searched while the student is still speaking, and only once for that question.
    audio = np.concatenate([silence(0.3), tone(1.6), silence(1.0)])
    rig: Rig = await make_rig(audio, llm=ScriptedLLM("Yes."))
    searched: list[tuple[float, str]] = []

    guessed: list[str] = []

    async def prefetch(text: str, prepare: Any = None, *, read: bool = True) -> None:
        if read:
            searched.append((time.monotonic(), text))
        else:
            guessed.append(text)  # an opening made ready from words not settled yet

    rig.call.conversation.prefetch = prefetch  # type: ignore[method-assign]
    await rig.channel.wait_for("tts", state="end", timeout=15)
    assert len(rig.channel.events("transcription", partial=True)) >= 2
    assert searched and searched[0][1] == "what is"
    assert searched[0][0] < rig.channel.time_of("vad", state="speech_end")
    # The pause's transcript asks something else ("what is photosynthesis"): the turn answered
    # ahead at the pause plans it (searching its material) and is the one committed.
    assert [text for _, text in searched] == ["what is"]
    assert guessed and guessed[0] == "what is"  # the first partial, before it settled
    assert rig.call.turns.commits == 1
    (metrics,) = rig.channel.events("metrics")
    assert metrics["speculation"] == "committed" and metrics["speculation_drops"] == 0


async def test_the_course_subject_terms_reach_the_recogniser(make_rig: Any) -> None:
    terms = "Chlorophyll, photosynthesis, stomata."

    async def subject_terms(self: Any) -> tuple[str, None]:
        return terms, None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Conversation, "subject_terms", subject_terms)
        rig: Rig = await make_rig(question(), llm=ScriptedLLM("Yes."))
        await rig.channel.wait_for("tts", state="end", timeout=15)
    assert rig.asr.finals >= 1
    assert rig.asr.hints and set(rig.asr.hints) == {terms}


async def test_a_course_word_heard_as_a_homophone_is_put_right(make_rig: Any) -> None:
    async def subject_terms(self: Any) -> tuple[str, Homophones]:
        return "食物链, 叶绿素.", Homophones.of_words(["食物链", "叶绿素"])

    llm = ScriptedLLM("食物链表示生物之间吃与被吃的关系。")
    asr = FakeASR("十五练是什么？", partial="十五练是")
    tutor = TutorProfile(id=2, name="李老师", subject="科学", language="zh")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Conversation, "subject_terms", subject_terms)
        rig: Rig = await make_rig(question(), llm=llm, asr=asr, tutor=tutor)
        final = await rig.channel.wait_for("transcription", partial=False, timeout=15)
        await rig.channel.wait_for("tts", state="end", timeout=15)
    assert final["content"] == "食物链是什么？"
    assert all("十五练" not in e["content"] for e in rig.channel.events("transcription"))
    assert rig.store.of("user")[0]["text"] == "食物链是什么？"


# --- the end of a turn, judged at the pause --------------------------------------------------


async def test_a_pause_judged_complete_ends_the_turn_at_once(make_rig: Any) -> None:
    detector = ScriptedDetector(0.9, delay=0.05)
    rig: Rig = await make_rig(question(), llm=ScriptedLLM(ANSWER), detector=detector)
    end = await rig.channel.wait_for("tts", state="end")
    (metrics,) = rig.channel.events("metrics", turn_id=end["turn_id"])
    assert metrics["endpoint"] == "smart_turn"
    assert len(detector.heard) == 1 and detector.threads == {"turn_0"}
    # The pause's speculative transcript was the final one.
    assert rig.asr.finals == 1
    assert [t["text"] for t in rig.store.of("user")] == ["what is photosynthesis"]


async def test_the_final_transcript_starts_as_the_silence_begins(make_rig: Any) -> None:
    # Not 250 ms into it, when the pause is judged: the transcript (0.15-0.5 s on 2 cores)
    # is then ready about when the verdict is.
    detector = ScriptedDetector(0.9, delay=0.05)
    rig: Rig = await make_rig(question(0.8), llm=ScriptedLLM(ANSWER), detector=detector)
    await rig.channel.wait_for("tts", state="end")
    assert rig.asr.finals == 1
    (seconds,) = rig.asr.final_seconds
    # Pre-roll (0.3 s, the silence before the tone) + the tone + the dip's 64 ms (+ a window
    # of silero's, here the fake's, rounding); the pause's audio would hold 0.25 s of silence.
    assert seconds == pytest.approx(0.3 + 0.8 + 0.064, abs=0.07)


async def test_a_student_thinking_aloud_is_one_turn(make_rig: Any) -> None:
    # "The answer is, um" ... a 1 s pause the detector hears as unfinished ... "seven".
    audio = np.concatenate([silence(0.3), tone(0.6), silence(1.0), tone(0.4), silence(1.0)])
    detector = ScriptedDetector(0.1, 0.9)
    asr = FakeASR("the answer is seven")
    rig: Rig = await make_rig(audio, llm=ScriptedLLM("Yes!"), asr=asr, detector=detector)
    end = await rig.channel.wait_for("tts", state="end", timeout=15)
    assert [e["state"] for e in rig.channel.events("vad")] == ["speech_start", "speech_end"]
    assert [t["text"] for t in rig.store.of("user")] == ["the answer is seven"]
    assert len(detector.heard) == 2 and detector.heard[1] > detector.heard[0] + 1.0
    # Answered ahead at the first pause, and dropped when the student went on: nothing of
    # that answer was sent. (The second pause's answer is committed if its transcript came
    # before the verdict, or the turn is answered afresh: one reply either way.)
    assert len(rig.llm.requests) == 2
    assert rig.call.turns.drops == 1
    assert len(rig.channel.events("text")) == 1
    assert len(rig.channel.events("text_delta")) == len("Yes!".split())
    (metrics,) = rig.channel.events("metrics", turn_id=end["turn_id"])
    assert metrics["endpoint"] == "smart_turn" and metrics["speculation_drops"] == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # The audio model hears an end at the pause, the transcript does not.
        ("I think plants need", "sunlight."),
        # Complete to the audio model and to the question mark, but a first question that
        # asks about something not yet said.
        ("Can you tell me why?", "the sky is blue?"),
    ],
)
async def test_words_that_stop_mid_sentence_hold_the_turn_open(
    make_rig: Any, first: str, second: str
) -> None:
    # The first words ... 1.2 s ... the rest: one turn, answered once.
    audio = np.concatenate([silence(0.3), tone(0.6), silence(1.2), tone(0.4), silence(1.0)])
    asr = FakeASR(first, second)
    rig: Rig = await make_rig(
        audio, llm=ScriptedLLM("Yes!"), asr=asr, detector=ScriptedDetector(0.9)
    )
    await rig.channel.wait_for("tts", state="end", timeout=15)
    (user,) = rig.store.of("user")
    assert user["text"].startswith(first.rstrip("?")) and user["text"].endswith(second)
    assert len(rig.llm.requests) == 1 and len(rig.channel.events("text")) == 1


def test_a_transcript_that_stops_mid_sentence_sounds_unfinished() -> None:
    for text in [
        "I think plants need",
        "The answer is, um.",
        "because the",
        "我觉得植物需要",
        "答案是，",
        # A clause that announces the rest: a request, an opinion, a time or a "that" clause.
        "老师，请问",
        "我想知道。",
        "我认为",
        "冰在太阳下面晒了以后。",
        "下雨的时候",
        "Do you think that?",
        "Is it possible that",
        "What happens to ice when?",
        "Does a boat float if",
    ]:
        assert sounds_unfinished(text), text
    for text in [
        "Seven.",
        "Yes.",
        "What is it in?",
        "Plants need sunlight.",
        "是。",
        "是的",
        "",
        "十年以后。",  # a short answer ("in ten years")
        "What is that?",
        "I know that.",  # "that" is what is known, not a clause's start
        "Who discovered gravity and when?",
        "What if?",
        "Since when?",
    ]:
        assert not sounds_unfinished(text), text


async def test_a_broken_detector_leaves_the_end_to_silence(make_rig: Any) -> None:
    class Broken:
        name = "broken"

        def predict(self, audio: Samples) -> TurnGuess:
            raise RuntimeError("the model fell over")

    rig: Rig = await make_rig(question(), llm=ScriptedLLM(ANSWER), detector=Broken())
    end = await rig.channel.wait_for("tts", state="end")
    (metrics,) = rig.channel.events("metrics", turn_id=end["turn_id"])
    assert metrics["endpoint"] == "silence"


# --- a Piper voice ------------------------------------------------------------------------------


@pytest.mark.models
async def test_a_piper_voice_speaks_the_reply(make_rig: Any) -> None:
    kokoro, piper = FakeTTS(), load_piper()
    await piper.warm_up()  # as create_voice_factory does
    tutor = TutorProfile(id=1, name="Ada", subject="biology", voice="piper:joe")
    rig: Rig = await make_rig(
        silence(0.5), llm=ScriptedLLM(ANSWER), tts=kokoro, piper=piper, tutor=tutor
    )
    turn = rig.call.turns.typed("what is photosynthesis")
    await rig.channel.wait_for("tts", state="end", turn_id=turn, timeout=30)
    assert kokoro.texts == []  # the whole reply in Piper's voice
    # Several seconds of speech reached the track, and it is not silence.
    voiced = rig.listener.voiced()
    assert voiced > 100, voiced
    levels = [level for _, level in rig.listener.frames if level > 0.001]
    assert float(np.mean(levels)) > 0.02
    (stored,) = rig.store.of("assistant")
    assert stored["text"] == ANSWER and not stored["interrupted"]
    (metrics,) = rig.channel.events("metrics", turn_id=turn)
    print(f"piper reply: {metrics}")


@pytest.mark.models
async def test_a_piper_voice_on_a_chinese_tutor_is_a_tts_error(make_rig: Any) -> None:
    tutor = TutorProfile(id=1, name="李老师", subject="科学", language="zh", voice="piper:joe")
    rig: Rig = await make_rig(
        silence(0.5), llm=ScriptedLLM("植物用阳光制造养分。"), piper=load_piper(), tutor=tutor
    )
    first = rig.call.turns.typed("什么是光合作用")
    error = await rig.channel.wait_for("error", turn_id=first, timeout=20)
    assert error["code"] == "tts_voice" and "zh" in error["content"]
    assert not rig.channel.events("tts", state="start")
    # The call goes on: the next turn fails the same clear way.
    second = rig.call.turns.typed("再说一遍")
    await rig.channel.wait_for("error", turn_id=second, timeout=20)
    assert rig.listener.voiced() == 0


async def test_the_replys_opening_is_synthesized_while_the_student_finishes(make_rig: Any) -> None:
    # The partial transcripts already ask the whole question; the engine answers it itself
    # (arithmetic), so the reply's first chunk is known and made before the student stops.
    question = "what is 12 times 12"
    asr = FakeASR(question, partial=question)
    tts = FakeTTS()
    audio = np.concatenate([silence(0.3), tone(1.6), silence(1.0)])
    rig: Rig = await make_rig(audio, llm=ScriptedLLM("unused"), asr=asr, tts=tts)
    await rig.channel.wait_for("tts", state="end", timeout=15)
    (metrics,) = rig.channel.events("metrics")
    assert metrics["first_chunk_ahead"] is True
    (reply,) = rig.channel.events("text")
    assert "144" in reply["content"]
    # Made once: the reply found it ready rather than making it again.
    assert tts.texts.count(first_chunk(reply["content"], whole=True)) == 1


def test_a_question_word_said_last_after_telling_waits_in_the_first_turn() -> None:
    # "Can you tell me why ... the sky is blue?": at the pause, Whisper writes a question mark.
    for text in [
        "Can you tell me why?",
        "I want to know how",
        "Could you explain to me what?",
        "你能告诉我为什么？",
        "我想知道是什么",
    ]:
        assert sounds_unfinished(text, first_turn=True), text
        # After a reply, it asks about what the tutor said.
        assert not sounds_unfinished(text.rstrip("?？") + "?"), text
    for text in [
        "Why?",
        "How?",
        "What is a food chain?",
        "I know why.",
        "I don't know how.",
        "为什么？",
        "我不知道为什么。",
    ]:
        assert not sounds_unfinished(text, first_turn=True), text
