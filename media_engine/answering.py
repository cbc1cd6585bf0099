"""How the tutor answers one question: what the engine says itself, and what the model is told.

Honesty comes from the engine, not from trusting a small model: every model tried invents
facts about made-up things, guesses arithmetic, and "remembers" a student's breakfast. So before
the model is asked, the engine

- computes arithmetic and unit conversions exactly and says the result itself;
- says itself that it cannot know personal information;
- asks back about a word no dictionary knows (a made-up term, or a word the speech recognition
  misheard) instead of letting the model explain it;
- grounds the model in the course material when the material covers the question, and
  otherwise, by the tutor's answer policy, either lets it answer from its subject and general
  school knowledge (saying that it is not from the material) or says it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from knowledge.index import Passage
from knowledge.prompt import RULES, dont_know, knowledge_context, lead_sentence, looks_like_question
from media_engine.arithmetic import calculate
from media_engine.llm.base import ChatMessage
from media_engine.named_concepts import unknown_named
from media_engine.number_facts import number_fact
from media_engine.place_value import place_value
from media_engine.tutor import TutorProfile

UnknownWords = Callable[[str, str], list[str]]
"""The words of a question (in its language) that no dictionary has (media_engine.lexicon)."""

# Questions about the student or people they know: nothing the tutor can know.
_PERSONAL_EN = re.compile(
    r"\b(?:what(?:'s| is| was)|tell me|do you know|who(?:'s| is)|where(?:'s| is| do| did)|"
    r"when(?:'s| is| did))\b[^?]{0,24}\b(?:my|our)\b[^?]{0,30}"
    r"\b(?:phone|number|address|password|birthday|email|name|age|house|live|pin|pet|"
    r"mum|mom|dad|brother|sister|friend|teacher)|"
    r"\bwhat did i\b|\bhow old am i\b|\bwhat am i (?:thinking|doing|wearing|holding)\b|"
    r"\bwhere do i live\b|\bwho am i\b|\bhow old (?:is|are) (?:my|our)\b",
    re.IGNORECASE,
)
# The student's own papers and results, which the tutor cannot see ("What's the answer to
# question 7 on my homework sheet?", "What mark did I get in my test?").
_OWN_WORK_EN = re.compile(
    r"\b(?:answers?|question \w+|number \w+)\b[^?]{0,30}\b(?:on|in|from) (?:my|our)\b[^?]{0,20}"
    r"\b(?:homework|worksheet|sheet|test|exam|quiz|book|paper)\b|"
    r"\bwhat (?:marks?|grades?|scores?) did (?:i|we) get\b|\bhow did (?:i|we) do (?:in|on)\b|"
    r"\bwhat (?:is|are|was|were) (?:my|our)\b[^?]{0,20}\b(?:marks?|grades?|scores?|results?)\b",
    re.IGNORECASE,
)
_OWN_WORK_ZH = re.compile(
    r"我[^，。？]{0,10}(?:作业|试卷|练习册|卷子)[^，。？]{0,10}(?:答案|第.{1,3}题)|"
    r"我[^，。？]{0,10}(?:考试|测验|测试)[^，。？]{0,8}(?:多少分|几分|成绩|分数)"
)
_PERSONAL_ZH = re.compile(
    r"我(?:的|们的|家)?[^，。？]{0,8}(?:电话|手机号|号码|地址|密码|生日|名字|邮箱|住在哪|几岁|多大)|"
    r"我[^，。？]{0,6}吃了什么|我在想什么|我是谁|我[^，。？]{0,4}(?:穿|拿)着什么"
)

# A question that leans on the one before: it opens with a connective or points back with a
# pronoun ("And why?", "What do they give off?", "那为什么呢？", "它有什么用？").
_FOLLOW_UP_EN = re.compile(
    r"^\s*(?:and|so|but|then|also|what about)\b|"
    r"\b(?:it|its|they|them|their|that|this|those|these|he|she|one)\b",
    re.IGNORECASE,
)
_FOLLOW_UP_ZH = re.compile(r"^\s*(?:那|那么|还有|所以|然后)|它|他们|她们|这个|那个|这些|那些")


def follows_up(question: str) -> bool:
    """Whether a question refers back to the conversation rather than standing alone."""
    return bool(_FOLLOW_UP_ZH.search(question) or _FOLLOW_UP_EN.search(question))


@dataclass(frozen=True)
class Plan:
    """What to do with one question."""

    route: str
    """calculated, personal, unknown_term, material, general, not_covered, chat or ungrounded."""
    said: str | None = None
    """A reply the engine says itself; the model is not asked."""
    context: str | None = None
    """Put before the student's message in the model's prompt."""
    passages: list[Passage] = field(default_factory=list)
    """The material the reply must agree with (the wrong-fact guard checks against it)."""
    question: str = ""


def not_covered_rules(tutor: TutorProfile) -> str:
    """How to answer beyond the course material (course_first); in the system prompt, which
    stays the same all call long, so each turn adds only a short note (`NOT_COVERED`)."""
    if tutor.language == "zh":
        return (
            f"如果学生的消息前面有“{NOT_COVERED['zh']}”：如果是{tutor.subject}或学校里学的问题，"
            "而且你确定答案，就先说“课程资料里没有这个，不过，”，再用一两句话正确地回答；"
            f"如果和{tutor.subject}、学习都无关，就用一句友好的话说你是来帮忙学{tutor.subject}的；"
            "如果你不确定，或者问的是编造的东西或别人的隐私，就诚实地说你不知道。"
        )
    return (
        f"When the student's message comes after the note {NOT_COVERED['en']}: if it is a "
        f"question about {tutor.subject} or schoolwork and you are sure of the answer, begin "
        'with "That\'s not in our course notes, but" and answer it correctly in one or two '
        f"sentences; if it has nothing to do with {tutor.subject} or school, say in one "
        f"friendly sentence that you are here to help with {tutor.subject}; if you are not "
        "sure, or it asks about something made up or private, say honestly that you don't know."
    )


NOT_COVERED = {"en": "(Not in the course material.)", "zh": "（课程资料里没有。）"}
# How a `general` answer starts (the rules above ask for it): the engine says it at once, in
# audio it has synthesized before, and the model goes on from it.
NOT_COVERED_LEAD = {"en": "That's not in our course notes, but", "zh": "课程资料里没有这个，不过，"}


def not_covered_lead(language: str) -> str:
    """The words an answer beyond the material opens with, in `language`."""
    return NOT_COVERED_LEAD.get(language, NOT_COVERED_LEAD["en"])


def own_work(language: str) -> str:
    if language == "zh":
        return "我看不到你的作业和成绩。你把题目念给我听，我们一起来做吧。"
    return (
        "I can't see your papers or your marks. If you read me the question, we can work it "
        "out together."
    )


def personal(language: str, subject: str) -> str:
    if language == "zh":
        return f"这个我不知道：我看不到你或别人的个人信息。有什么{subject}的问题我可以帮你吗？"
    return (
        "I can't know that: I don't have any personal information about you or other people. "
        f"Is there something about {subject} I can help you with?"
    )


def unknown_term(language: str, term: str) -> str:
    if language == "zh":
        return f"我没听说过“{term}”，所以不想乱猜。你能再说一遍，或者换个说法吗？"
    return (
        f"I don't know what \"{term}\" is, and I don't want to guess. It may not be a real "
        "word, or I may have misheard you: could you say it again, or ask another way?"
    )


_FIRST_PERSON = re.compile(
    r"\b(?:my|i am|i'm|i have|i ate|i live)\b|我(?:叫|是|的|今天|昨天|住)", re.I
)


def told_about_themselves(said_before: str) -> bool:
    """Whether the student said something about themselves earlier in the call: then a
    question about it ("what is my name?") is the conversation's to answer."""
    return bool(_FIRST_PERSON.search(said_before))


def is_personal(question: str, language: str) -> bool:
    pattern = _PERSONAL_ZH if language == "zh" else _PERSONAL_EN
    return bool(pattern.search(question)) or is_own_work(question, language)


def is_own_work(question: str, language: str) -> bool:
    pattern = _OWN_WORK_ZH if language == "zh" else _OWN_WORK_EN
    return bool(pattern.search(question))


def vocabulary_of(texts: Iterable[str]) -> set[str]:
    """The words of the material's `texts` as `in_material` looks them up: split at spaces,
    lowercase, without the punctuation around them ("(BIDMAS)," is "bidmas")."""
    return {w.lower().strip(_AROUND_WORDS) for text in texts for w in text.split()}


# ASCII and Chinese punctuation; stripped from the ends of a Chinese clause it changes nothing
# the substring look-up finds.
_AROUND_WORDS = "\"'()[]{}<>,.;:!?“”‘’（）《》，。；：！？、"


def in_material(word: str, vocabulary: set[str], language: str) -> bool:
    """Whether the course material uses `word` (in English, every word of a name such as
    "Hendricks rule"). Its vocabulary is its text split at spaces: whole words in English,
    whole clauses in Chinese."""
    if language == "zh":
        return any(word in piece for piece in vocabulary)
    return all(part in vocabulary for part in word.lower().split())


def plan(
    question: str,
    tutor: TutorProfile,
    *,
    relevant: list[Passage] | None,
    unknown: UnknownWords | None = None,
    vocabulary: set[str] | None = None,
    said_before: str = "",
) -> Plan:
    """Decide how to answer `question`. `relevant` is the course material found for it, or
    None when the tutor has no material (or it could not be searched)."""
    language = tutor.language
    calculation = calculate(question) or place_value(question) or number_fact(question)
    if calculation is not None:
        return Plan("calculated", said=calculation.spoken)
    if is_personal(question, language) and not told_about_themselves(said_before):
        if is_own_work(question, language):
            return Plan("personal", said=own_work(language))
        return Plan("personal", said=personal(language, tutor.subject))
    words = vocabulary or set()
    # A named rule or kind no school teaches, before the material: notes on fractions found
    # for "the Hendricks rule for fractions" are no answer to it, and the model, given them,
    # explains the rule. (A single word no dictionary has is asked about only when no
    # material is found: a typing slip, "photosinthesis", still finds its notes.)
    if unknown is not None and looks_like_question(question):
        named = [
            w for w in unknown_named(question, language) if not in_material(w, words, language)
        ]
        if named:
            return Plan("unknown_term", said=unknown_term(language, named[0]))
    if relevant:
        return Plan(
            "material",
            context=knowledge_context(relevant, question),
            passages=list(relevant),
            question=question,
        )
    if not looks_like_question(question):
        return Plan("chat", context=knowledge_context([], question) if relevant == [] else None)
    if unknown is not None:
        strange = [w for w in unknown(question, language) if not in_material(w, words, language)]
        if strange:
            return Plan("unknown_term", said=unknown_term(language, strange[0]))
    if relevant is None:
        return Plan("ungrounded")
    if tutor.answer_policy == "course_only":
        return Plan("not_covered", said=dont_know(language, tutor.subject))
    return Plan("general", context=NOT_COVERED.get(language, NOT_COVERED["en"]))


def opening(decided: Plan, question: str, language: str, said: str) -> str | None:
    """How the answer to `question` opens, said before the model is asked (media_engine.
    conversation): the material's sentence that answers it, if one fits and the tutor has not
    said it already (`said`); the words the rules give an answer beyond the material. Nothing
    when the student is not asking (answering the tutor, say)."""
    if not looks_like_question(question):
        return None
    if decided.route == "general":
        return not_covered_lead(language)
    if decided.route != "material":
        return None
    # The student's own words first: a question taken for a follow-up ("How do plants make
    # their own food?") was searched together with the one before it, whose terms would dilute
    # its own; a real follow-up ("and why?") has too few terms of its own and uses both.
    own = lead_sentence(decided.passages, question, said)
    if own is not None or not decided.question or decided.question == question:
        return own
    return lead_sentence(decided.passages, decided.question, said)


def search_query(question: str, history: list[ChatMessage]) -> str:
    """What to search the material for: a follow-up ("and why?", "what do they give off?") is
    searched together with the student's previous question, which it refers to."""
    asked = [m["content"] for m in history if m["role"] == "user"]
    if asked and follows_up(question):
        return f"{asked[-1]} {question}"
    return question


def system_message(tutor: TutorProfile, *, grounded: bool) -> str:
    """The system prompt of a call to `tutor` (`grounded`: the engine searches course
    material): the same all call long, so the model reads it once (or loads it read before)."""
    prompt = tutor.system_prompt()
    if grounded and tutor.kb_id is not None:
        prompt = f"{prompt}\n\n{RULES}"
        if tutor.answer_policy == "course_first":
            prompt = f"{prompt}\n{not_covered_rules(tutor)}"
    return prompt
