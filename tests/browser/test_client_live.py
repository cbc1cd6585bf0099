"""The web client against the real server: real login, a real call with the engine, the fake
microphone speaking a question, typed chat with the embedded LLM, and the session history."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_support import (
    STUDENT_EMAIL,
    STUDENT_PASSWORD,
    close_page,
    save_screenshot,
)

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

REPLY_TIMEOUT_MS = 120_000
# A spoken reply is settled once heard to its end; while the server still embeds the demo
# notes (its first minutes) that can take minutes.
HEARD_OUT_MS = 300_000
LATENCY = re.compile(r"^\d+(\.\d)? m?s$")
DENY_MICROPHONE = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


def log_in(page: Any, server: str, password: str = STUDENT_PASSWORD) -> None:
    page.goto(server + "/")
    page.get_by_label("Email").fill(STUDENT_EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def call_english_tutor(page: Any) -> None:
    tutor = page.locator(".tutor", has_text="English").first
    tutor.get_by_role("button").click()
    page.wait_for_function("__tutor.state.connection === 'connected'", timeout=30_000)
    page.wait_for_function("__tutor.state.chatOpen", timeout=30_000)


def type_and_await_reply(page: Any, text: str) -> Any:
    replies = page.locator(".turn--assistant")
    before = replies.count()
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".turn--user").last.locator(".turn__text")).to_have_text(text)
    expect(replies).to_have_count(before + 1, timeout=REPLY_TIMEOUT_MS)
    reply = replies.last
    # Heard to its end (or, without a voice, written to its end), the reply is settled.
    expect(reply).not_to_have_class(re.compile("turn--streaming"), timeout=HEARD_OUT_MS)
    expect(reply.locator(".turn__text")).not_to_be_empty(timeout=REPLY_TIMEOUT_MS)
    return reply


def test_wrong_password_is_explained(browser: Any, live_server: str, open_page: Any) -> None:
    page = open_page(browser)
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    save_screenshot(page, "login.png", for_readme=True)
    log_in(page, live_server, password="not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    close_page(page)


def test_typed_message_streams_a_reply_and_the_session_is_kept(
    quiet_browser: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(quiet_browser)
    log_in(page, live_server)
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()
    expect(page.locator(".tutor").first).to_be_visible()
    save_screenshot(page, "tutors.png", for_readme=True)

    call_english_tutor(page)
    mute = page.get_by_role("button", name="Mute")
    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("__tutor.state.muted") is True
    reply = type_and_await_reply(page, "In one sentence, what is a cell?")
    counts = page.evaluate("__tutor.state.eventCounts")
    assert counts.get("text_delta", 0) >= 1, counts
    assert counts.get("text", 0) >= 1, counts
    expect(reply.locator("time")).not_to_be_empty()
    session_id = page.evaluate("__tutor.state.sessionId")
    # The reply is spoken too, and stored as it was heard: let the tutor finish first.
    page.wait_for_function("__tutor.state.lastTts === 'end'", timeout=REPLY_TIMEOUT_MS)
    expect(reply.locator(".turn__latency-value")).to_have_text(LATENCY)
    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "false")
    sources = reply.locator(".sources summary")
    if sources.count():
        sources.click()
    save_screenshot(page, "call.png", for_readme=True)

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator(".call__state")).to_have_text("Call ended", timeout=15_000)
    page.get_by_role("link", name="Past sessions").first.click()
    session = page.locator(f'.session[data-session-id="{session_id}"]')
    expect(session).to_be_visible()
    expect(session).to_contain_text("Ended")
    session.get_by_role("link").click()
    expect(page.locator(".turn--user .turn__text").first).to_have_text(
        "In one sentence, what is a cell?"
    )
    expect(page.locator(".turn--assistant")).to_have_count(1)
    save_screenshot(page, "transcript.png")
    close_page(page)


def test_spoken_question_is_transcribed_and_answered_aloud(
    browser: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(browser)
    log_in(page, live_server)
    call_english_tutor(page)
    assert page.evaluate("__tutor.state.microphone") == "live"

    user = page.locator(".turn--user:not(.turn--partial)").first
    # espeak-ng's voice through whisper-tiny is not always spelled right ("photo synthesis").
    expect(user.locator(".turn__text")).to_contain_text(
        re.compile(r"what is", re.IGNORECASE), timeout=REPLY_TIMEOUT_MS
    )
    expect(user.locator(".badge")).to_have_text("spoken")
    # The fake microphone repeats its file; a student asks once and then listens.
    page.get_by_role("button", name="Mute").click()
    page.wait_for_function("__tutor.state.lastTts === 'end'", timeout=REPLY_TIMEOUT_MS)
    assert page.evaluate("__tutor.remoteAudioPeak()") > 0.001
    reply = page.locator(".turn--assistant").last
    expect(reply.locator(".turn__text")).not_to_be_empty()
    expect(reply.locator(".turn__latency-value")).to_have_text(LATENCY)
    counts = page.evaluate("__tutor.state.eventCounts")
    assert counts.get("transcription", 0) >= 1, counts
    assert counts.get("tts", 0) >= 1, counts
    save_screenshot(page, "call-spoken.png")
    page.get_by_role("button", name="Hang up").click()
    expect(page.locator(".call__state")).to_have_text("Call ended", timeout=15_000)
    close_page(page)


def test_denied_microphone_still_allows_text_chat(
    browser_no_mic_prompt: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(browser_no_mic_prompt, permissions=[])
    page.add_init_script(DENY_MICROPHONE)
    log_in(page, live_server)
    call_english_tutor(page)
    expect(page.locator("#mic-message")).to_contain_text("Microphone access was denied")
    assert page.evaluate("__tutor.state.microphone") == "none"
    type_and_await_reply(page, "Hello! What can you teach me?")
    page.get_by_role("button", name="Hang up").click()
    expect(page.locator(".call__state")).to_have_text("Call ended", timeout=15_000)
    close_page(page)


def test_rejected_token_returns_to_login(browser: Any, live_server: str, open_page: Any) -> None:
    page = open_page(browser)
    log_in(page, live_server)
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()
    # A token the server no longer accepts (e.g. signed with an older key), not yet expired here.
    page.evaluate(
        """() => {
          const saved = JSON.parse(localStorage.getItem('vt.token'));
          localStorage.setItem('vt.token', JSON.stringify({...saved, token: saved.token + 'x'}));
        }"""
    )
    page.get_by_role("link", name="Past sessions").click()
    expect(page.get_by_role("status")).to_have_text("Your session has expired, please log in again")
    expect(page.get_by_label("Email")).to_be_focused()
    close_page(page)
