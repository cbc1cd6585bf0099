"""The web client against a scripted API and engine: every event type, errors, languages, layout.

These run without the server: the API is answered by page.route() and the peer connection is
replaced by tests/browser/fake_engine.js, so each engine event can be played in order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_support import close_page, new_page, save_screenshot

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

FAKE_ENGINE = (Path(__file__).parent / "fake_engine.js").read_text()
DENY_MICROPHONE = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""
TUTORS = [
    {
        "id": 1,
        "name": "Ada",
        "subject": "Biology",
        "language": "en",
        "voice": "af_heart",
        "kb_id": None,
    },
    {
        "id": 2,
        "name": "李老师",
        "subject": "数学",
        "language": "zh",
        "voice": "zf_xiaobei",
        "kb_id": None,
    },
]


class MockApi:
    """Answers /api/* and the engine's offer URL like the real server would."""

    def __init__(self, page: Any, *, busy: bool = False) -> None:
        self.busy = busy
        self.expired = False
        self.requests: list[tuple[str, str]] = []
        self.ended: list[str] = []
        page.route(re.compile(r".*/(api|engine)/.*"), self.handle)

    def handle(self, route: Any) -> None:
        request = route.request
        path = request.url.split("//", 1)[1].split("/", 1)[1]
        path = "/" + path.split("?", 1)[0]
        self.requests.append((request.method, path))
        if path == "/api/auth/login":
            body = json.loads(request.post_data or "{}")
            if body.get("password") == "right":
                return self.json(
                    route, {"access_token": "tok", "token_type": "bearer", "expires_in": 1800}
                )
            return self.error(route, 401, "invalid_credentials", "wrong email or password")
        if self.expired or request.headers.get("authorization") != "Bearer tok":
            if path.startswith("/api/"):
                return self.error(route, 401, "unauthorized", "token expired")
        if path == "/api/auth/me":
            return self.json(
                route, {"id": 7, "email": "s@example.com", "role": "student", "display_name": "Sam"}
            )
        if path == "/api/tutors":
            return self.json(route, TUTORS)
        if path == "/api/student/sessions" and request.method == "POST":
            if self.busy:
                return self.error(
                    route, 503, "unavailable", "engine full", headers={"Retry-After": "30"}
                )
            origin = request.url.split("/api/", 1)[0]
            return self.json(
                route,
                {
                    "session_id": "s1",
                    "engine_url": f"{origin}/engine/calls",
                    "engine_token": "et",
                    "status": "active",
                },
                status=201,
            )
        if path == "/api/student/sessions":
            return self.json(route, [SESSION])
        if path == "/api/student/sessions/s1":
            return self.json(route, {**SESSION, "turns": TURNS})
        if path == "/api/student/sessions/s1/end":
            self.ended.append("s1")
            return self.json(route, {"session_id": "s1", "status": "ended"})
        if path == "/engine/calls" and request.method == "POST":
            assert request.headers["authorization"] == "Bearer et"
            assert request.headers["content-type"] == "application/sdp"
            return route.fulfill(
                status=201, body="v=0\r\n", headers={"Location": "/engine/calls/c1"}
            )
        if path == "/engine/calls/c1" and request.method == "DELETE":
            return route.fulfill(status=204)
        return self.error(route, 404, "not_found", path)

    @staticmethod
    def json(route: Any, body: Any, *, status: int = 200) -> None:
        route.fulfill(status=status, body=json.dumps(body), content_type="application/json")

    @staticmethod
    def error(
        route: Any, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        route.fulfill(
            status=status,
            body=json.dumps({"error": {"code": code, "message": message}}),
            content_type="application/json",
            headers=headers or {},
        )


SESSION = {
    "session_id": "s1",
    "tutor_id": 1,
    "tutor_name": "Ada",
    "status": "ended",
    "created_at": "2026-11-24T10:00:00",
    "ended_at": "2026-11-24T10:05:00",
    "end_reason": "hangup",
    "first_question": "What is photosynthesis?",
}
TURNS = [
    {
        "turn_id": 1,
        "role": "user",
        "text": "What is photosynthesis?",
        "source": "spoken",
        "interrupted": False,
        "created_at": "2026-11-24T10:00:05",
        "timings": {},
    },
    {
        "turn_id": 1,
        "role": "assistant",
        "text": "Plants make sugar from light.",
        "source": "generated",
        "interrupted": True,
        "created_at": "2026-11-24T10:00:07",
        "timings": {"total_ms": 812},
        "sources": [{"title": "Science notes for Ada", "location": "Photosynthesis"}],
    },
]


def open_client(
    browser: Any, site: str, *, scripts: tuple[str, ...] = (), **options: Any
) -> tuple[Any, MockApi]:
    busy = options.pop("busy", False)
    page = new_page(browser, **options)
    for script in (FAKE_ENGINE, *scripts):
        page.add_init_script(script)
    api = MockApi(page, busy=busy)
    page.goto(site + "/")
    return page, api


def log_in(page: Any, password: str = "right") -> None:
    page.get_by_label("Email").fill("s@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def start_call(page: Any, tutor: str = "Ada") -> None:
    page.get_by_role("button", name=f"Start a call with {tutor}").click()
    page.wait_for_function("__tutor.state.connection === 'connected'")


def test_wrong_password_is_explained(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site)
    log_in(page, password="wrong")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Password")).to_be_focused()
    close_page(page)


def test_call_shows_every_engine_event(browser: Any, static_site: str) -> None:
    page, api = open_client(browser, static_site)
    log_in(page)
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()
    expect(page.locator(".tutor")).to_have_count(2)
    start_call(page)
    assert page.evaluate("__fakeEngine.channel.label") == "chat"
    assert page.evaluate("__fakeEngine.pc.transceivers[0].init.direction") == "sendrecv"
    assert page.evaluate("__fakeEngine.pc.config.iceServers.length") == 0

    emit = lambda message: page.evaluate("m => __fakeEngine.emit(m)", message)  # noqa: E731
    emit({"type": "vad", "state": "speech_start", "turn_id": 2})
    emit({"type": "transcription", "partial": True, "content": "uh", "turn_id": 2})
    expect(page.locator(".turn--partial")).to_have_count(1)
    emit({"type": "vad", "state": "speech_end", "turn_id": 2})
    # Noise: no final transcript for turn 2; the next turn's speech removes its partial.
    emit({"type": "vad", "state": "speech_start", "turn_id": 3})
    expect(page.locator(".turn--user")).to_have_count(0)
    expect(page.locator(".call__state")).to_have_text("Listening…")
    emit({"type": "transcription", "partial": True, "content": "What is", "turn_id": 3})
    user = page.locator(".turn--user").last
    expect(user).to_have_class(re.compile("turn--partial"))
    expect(user.locator(".turn__text")).to_have_text("What is")
    emit(
        {
            "type": "transcription",
            "partial": False,
            "content": "What is photosynthesis?",
            "turn_id": 3,
        }
    )
    expect(user).not_to_have_class(re.compile("turn--partial"))
    expect(user.locator(".turn__text")).to_have_text("What is photosynthesis?")
    emit({"type": "unknown_future_event", "turn_id": 3})
    # Sources come first (the reply is grounded on them), then the reply streams.
    emit(
        {
            "type": "sources",
            "turn_id": 3,
            "items": [
                {
                    "document": 4,
                    "title": "biology.pdf",
                    "location": "Photosynthesis",
                    "snippet": "Light energy is converted.",
                }
            ],
        }
    )
    reply = page.locator(".turn--assistant").last
    expect(reply).to_have_class(re.compile("turn--streaming"))
    emit({"type": "text_delta", "role": "assistant", "content": "Plants use ", "turn_id": 3})
    expect(page.locator(".call__state")).to_have_text("Ada is thinking…")
    # A spoken reply is shown as it is heard: the written words wait for their audio.
    expect(reply.locator(".turn__text")).to_have_text("")
    emit({"type": "tts", "state": "start", "turn_id": 3})
    expect(page.locator(".call__state")).to_have_text("Ada is speaking")
    chunk = {"type": "reply_chunk", "turn_id": 3, "text": "Plants use light.", "starts_at_ms": 0}
    emit(chunk)
    emit({"type": "text_delta", "role": "assistant", "content": "light.", "turn_id": 3})
    expect(reply.locator(".turn__text")).to_have_text("Plants use light.")
    expect(page.locator("#conversation")).to_have_attribute("aria-busy", "true")
    emit(
        {
            "type": "text",
            "role": "assistant",
            "content": "Plants use light to make sugar.",
            "turn_id": 3,
        }
    )
    emit({"type": "metrics", "turn_id": 3, "total_ms": 734.6})
    emit({"type": "tts", "state": "interrupted", "turn_id": 3, "heard": "Plants use light"})
    # Interrupted, the reply shows what was heard, as it is stored.
    expect(reply.locator(".turn__text")).to_have_text("Plants use light")
    expect(page.locator(".call__state")).to_have_text("Ada stopped")
    expect(reply.locator(".turn__latency-value")).to_have_text("735 ms")
    expect(reply.locator(".badge--interrupted")).to_have_text("Interrupted")
    expect(page.locator("#conversation")).to_have_attribute("aria-busy", "false")
    reply.get_by_text("Sources (1)").click()
    expect(reply.get_by_text("Light energy is converted.")).to_be_visible()
    expect(reply.locator(".sources li")).to_contain_text("biology.pdf · Photosynthesis")

    page.get_by_label("Message").fill("Can you say that again?")
    page.keyboard.press("Enter")
    expect(page.locator(".turn--user").last.locator(".turn__text")).to_have_text(
        "Can you say that again?"
    )
    assert page.evaluate("__fakeEngine.sent.filter((m) => m.type !== 'ping')") == [
        {"type": "text", "content": "Can you say that again?"}
    ]
    emit(
        {
            "type": "error",
            "code": "llm_unavailable",
            "content": "The tutor cannot answer right now.",
            "turn_id": 4,
        }
    )
    expect(page.locator(".turn--error")).to_contain_text("The tutor cannot answer right now.")
    # Esc, like the Stop talking button, asks the engine to stop the reply being heard.
    emit({"type": "tts", "state": "start", "turn_id": 5})
    expect(page.get_by_role("button", name="Stop talking")).to_be_enabled()
    page.keyboard.press("Escape")
    assert page.evaluate("__fakeEngine.sent.filter((m) => m.type === 'stop')") == [{"type": "stop"}]
    expect(page.locator(".call__state")).to_have_text("Ada stopped")
    expect(page.get_by_role("button", name="Stop talking")).to_be_disabled()

    page.wait_for_function("__tutor.remoteAudioEnergy() > 0.01")
    mute = page.get_by_role("button", name="Mute")
    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_text("Your microphone is muted")).to_be_visible()
    assert page.evaluate("__tutor.state.muted") is True
    save_screenshot(page, "call-mocked.png")

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator(".call__state")).to_have_text("Call ended")
    assert ("DELETE", "/engine/calls/c1") in api.requests
    assert api.ended == ["s1"]
    delete_at = api.requests.index(("DELETE", "/engine/calls/c1"))
    assert api.requests.index(("POST", "/api/student/sessions/s1/end")) > delete_at

    page.get_by_role("link", name="Past sessions").first.click()
    listed = page.locator('.session[data-session-id="s1"]')
    expect(listed.locator(".session__preview")).to_have_text(
        "First question:What is photosynthesis?"
    )
    listed.get_by_role("link", name="View transcript").click()
    expect(page.get_by_role("heading", name="Transcript of the call with Ada")).to_be_visible()
    expect(page.locator(".turn--assistant .badge--interrupted")).to_be_visible()
    expect(page.locator(".turn--assistant .turn__latency-value")).to_have_text("812 ms")
    stored = page.locator(".turn--assistant")
    stored.get_by_text("Sources (1)").click()
    expect(stored.locator(".sources li")).to_have_text("Science notes for Ada · Photosynthesis")
    page.get_by_label("Language").select_option("zh")
    expect(page.locator(".turn--assistant .turn__latency-value")).to_have_text("812 毫秒")
    expect(page.locator(".view--transcript time").first).to_contain_text("2026年")
    page.get_by_label("语言").select_option("en")
    save_screenshot(page, "transcript-mocked.png")
    close_page(page)


def test_denied_microphone_keeps_text_chat(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site, scripts=(DENY_MICROPHONE,))
    log_in(page)
    start_call(page)
    expect(page.locator("#mic-message")).to_contain_text("Microphone access was denied")
    expect(page.get_by_role("button", name="Mute")).to_be_hidden()
    assert page.evaluate("__fakeEngine.pc.transceivers[0].init.direction") == "recvonly"
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    assert page.evaluate("__fakeEngine.sent.filter((m) => m.type !== 'ping')") == [
        {"type": "text", "content": "hello"}
    ]
    close_page(page)


def test_busy_engine_says_when_to_retry(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site, busy=True)
    log_in(page)
    page.get_by_role("button", name="Start a call with Ada").click()
    expect(page.get_by_role("alert")).to_have_text(
        "All tutors are busy right now. Please try again in 30 seconds."
    )
    close_page(page)


def test_unauthorized_answer_returns_to_login(browser: Any, static_site: str) -> None:
    page, api = open_client(browser, static_site)
    log_in(page)
    expect(page.locator(".tutor")).to_have_count(2)
    api.expired = True
    page.get_by_role("link", name="Past sessions").click()
    expect(page.get_by_role("status")).to_have_text("Your session has expired, please log in again")
    expect(page.get_by_label("Email")).to_be_visible()
    assert page.evaluate("localStorage.getItem('vt.token')") is None
    close_page(page)


def test_expired_token_is_not_used(browser: Any, static_site: str) -> None:
    page = new_page(browser)
    page.add_init_script(
        "localStorage.setItem('vt.token',"
        " JSON.stringify({token: 'tok', expiresAt: Date.now() - 1000}))"
    )
    MockApi(page)
    page.goto(static_site + "/")
    expect(page.get_by_role("status")).to_have_text("Your session has expired, please log in again")
    close_page(page)


def test_stays_logged_in_and_logs_out(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site)
    log_in(page)
    expect(page.locator(".tutor")).to_have_count(2)
    page.reload()
    expect(page.locator(".tutor")).to_have_count(2)
    expect(page.locator("#user")).to_have_text("Signed in as Sam")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    close_page(page)


def test_chinese_browser_gets_chinese_and_can_switch(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site, locale="zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("登录")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.get_by_label("电子邮箱").fill("s@example.com")
    page.get_by_label("密码").fill("right")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="选择导师")).to_be_visible()
    expect(page.get_by_role("button", name="与Ada开始通话")).to_be_visible()
    save_screenshot(page, "tutors-zh.png")
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()
    expect(page.get_by_role("button", name="Start a call with Ada")).to_be_visible()
    close_page(page)


def test_phone_width_fits_without_sideways_scrolling(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site, phone=True)
    no_overflow = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_overflow)
    log_in(page)
    expect(page.locator(".tutor")).to_have_count(2)
    assert page.evaluate(no_overflow)
    start_call(page)
    page.evaluate(
        "m => __fakeEngine.emit(m)",
        {"type": "text", "role": "assistant", "content": "x" * 300, "turn_id": 1},
    )
    assert page.evaluate(no_overflow)
    save_screenshot(page, "call-phone-mocked.png")
    close_page(page)


def test_keyboard_reaches_login_in_order(browser: Any, static_site: str) -> None:
    page, _ = open_client(browser, static_site)
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in")).to_be_focused()
    close_page(page)
