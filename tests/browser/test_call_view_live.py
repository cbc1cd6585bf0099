"""The call view against the real server and models: its one status line follows the sound the
page plays, captions never come before their audio, Stop talking (and Esc) silences the tutor
and the page shows what is stored, mute says so in words, and the focus ring can be seen.

The page keeps its own record (`__tutor.timeline()`): each state it showed, each sample of the
tutor's audio level as the page played it, and each caption, all on performance.now(). The
screenshots of the README's "The call view" are taken here.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest
from browser_support import STUDENT_EMAIL, STUDENT_PASSWORD, close_page, save_screenshot
from test_client_live import HEARD_OUT_MS, REPLY_TIMEOUT_MS, call_english_tutor, log_in

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

SOUND_LEVEL = 0.004  # web/call-activity.js: RMS above this is sound
# Under load the page's timer may run late; these bound what must happen, never how fast.
SPEAKING_WITHIN_MS = 5000
SILENT_WITHIN_MS = 3000

WATCH_REPLY_TEXT = """() => {
  window.__replyText = [];
  const list = document.getElementById("conversation");
  new MutationObserver(() => {
    const replies = list.querySelectorAll(".turn--assistant .turn__text");
    const text = replies.length ? replies[replies.length - 1].textContent : "";
    const log = window.__replyText;
    if (!log.length || log[log.length - 1].text !== text) {
      log.push({ t: performance.now(), text });
    }
  }).observe(list, { subtree: true, childList: true, characterData: true });
}"""

# For each element focused by Tab: its outline and the colour of what is behind it.
FOCUS_CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  let behind = el.parentElement;
  let bg = [255, 255, 255];
  while (behind) {
    const c = rgb(getComputedStyle(behind).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) { bg = c.slice(0, 3); break; }
    behind = behind.parentElement;
  }
  const ring = rgb(style.outlineColor).slice(0, 3);
  const [hi, lo] = [lum(ring), lum(bg)].sort((a, b) => b - a);
  return {
    name: el.id || el.textContent.trim().slice(0, 30) || el.tagName,
    style: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
    ratio: (hi + 0.05) / (lo + 0.05),
  };
}"""


def timeline(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("__tutor.timeline()")
    return result


def first_time(records: list[dict[str, Any]], state: str, after: float = -1.0) -> float:
    return next(r["t"] for r in records if r["state"] == state and r["t"] > after)


def stored_session(server: str, session_id: str) -> dict[str, Any]:
    def call(path: str, body: dict[str, str] | None = None, token: str = "") -> Any:
        request = urllib.request.Request(
            server + path,
            data=json.dumps(body).encode() if body else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)

    login = {"email": STUDENT_EMAIL, "password": STUDENT_PASSWORD}
    token = call("/api/auth/login", login)["access_token"]
    session: dict[str, Any] = call(f"/api/student/sessions/{session_id}", token=token)
    return session


def test_the_state_and_captions_follow_the_sound_the_page_plays(
    browser: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(browser)
    log_in(page, live_server)
    call_english_tutor(page)
    page.evaluate(WATCH_REPLY_TEXT)
    state = page.locator(".call__state")
    # The fake microphone asks its question: the status line listens, with the level moving.
    page.wait_for_function(
        "__tutor.state.activity === 'listening' && __tutor.state.micLevel > 0.01", timeout=30_000
    )
    save_screenshot(page, "call-listening.png", for_readme=True)
    expect(state).to_have_attribute("data-state", "thinking", timeout=REPLY_TIMEOUT_MS)
    expect(state).to_have_text("Ada is thinking…")
    save_screenshot(page, "call-thinking.png", for_readme=True)
    user = page.locator(".turn--user:not(.turn--partial)").first
    expect(user.locator(".turn__text")).to_contain_text(
        re.compile(r"what is", re.IGNORECASE), timeout=REPLY_TIMEOUT_MS
    )
    # The turn is over: its transcript no longer says "still listening".
    expect(page.locator(".turn--user .badge--partial")).to_have_count(0)
    page.get_by_role("button", name="Mute", exact=True).click()  # a student asks once

    page.wait_for_function(
        "__tutor.state.activity === 'speaking' && __tutor.timeline().captions.length > 0",
        timeout=REPLY_TIMEOUT_MS,
    )
    expect(state).to_have_text("Ada is speaking")
    save_screenshot(page, "call-speaking.png", for_readme=True)
    page.wait_for_function("__tutor.state.lastTts === 'end'", timeout=HEARD_OUT_MS)
    expect(state).to_have_attribute("data-state", "listening", timeout=15_000)

    record = timeline(page)
    states, levels = record["states"], record["levels"]
    thinking = first_time(states, "thinking", after=first_time(states, "listening"))
    speaking = first_time(states, "speaking", after=thinking)
    first_time(states, "listening", after=speaking)  # and back to listening
    sound = next(s["t"] for s in levels if s["level"] > SOUND_LEVEL)
    # Speaking begins with the first sound the page played, never before it.
    assert thinking < sound <= speaking, (thinking, sound, speaking)
    assert speaking - sound < SPEAKING_WITHIN_MS
    # No state said "speaking" while the page had been silent for long.
    for change in (s for s in states if s["state"] == "speaking"):
        heard = [s for s in levels if s["t"] <= change["t"] and s["level"] > SOUND_LEVEL]
        assert heard and change["t"] - heard[-1]["t"] < 1000, change

    # Captions: none before the reply's first sound, each at or after its own time.
    (turn_id, first_sound), *_ = record["firstSound"].items()
    assert first_sound >= sound
    captions = [c for c in record["captions"] if c["turnId"] == turn_id]
    assert captions and all(c["t"] >= first_sound + c["startsAtMs"] for c in captions)
    shown = [r for r in page.evaluate("window.__replyText") if r["text"]]
    assert shown and shown[0]["t"] >= sound, (shown[0], sound)
    reply = page.locator(".turn--assistant").last
    expect(reply.locator(".turn__text")).not_to_be_empty()
    expect(reply).not_to_have_class(re.compile("turn--streaming"))
    page.get_by_role("button", name="Hang up").click()
    expect(state).to_have_text("Call ended", timeout=15_000)
    close_page(page)


def test_stop_silences_the_tutor_and_the_page_shows_what_is_stored(
    quiet_browser: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(quiet_browser)
    log_in(page, live_server)
    call_english_tutor(page)
    expect(page.get_by_text("Message", exact=True)).to_be_visible()  # the box's label

    mute = page.get_by_role("button", name="Mute", exact=True)
    mute.click()
    unmute = page.get_by_role("button", name="Unmute", exact=True)
    expect(unmute).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_text("Your microphone is muted")).to_be_visible()
    unmute.click()
    expect(mute).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_text("Your microphone is muted")).to_be_hidden()
    mute.click()

    stop = page.get_by_role("button", name="Stop talking")
    expect(stop).to_be_disabled()
    page.get_by_label("Message").fill("Explain the water cycle step by step.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".call__state")).to_have_attribute(
        "data-state", "speaking", timeout=REPLY_TIMEOUT_MS
    )
    page.wait_for_timeout(1500)  # a few words are heard
    stop.click()
    page.wait_for_function("__tutor.state.lastTts === 'interrupted'", timeout=15_000)
    stopped_at = page.evaluate("performance.now()")
    expect(page.locator(".call__state")).to_have_text("Ada stopped")
    reply = page.locator(".turn--assistant").last
    expect(reply.locator(".badge--interrupted")).to_be_visible()
    page.wait_for_timeout(SILENT_WITHIN_MS + 1000)
    after = [s for s in timeline(page)["levels"] if s["t"] > stopped_at + SILENT_WITHIN_MS]
    assert after and max(s["level"] for s in after) <= SOUND_LEVEL, "the tutor went on talking"
    shown = reply.locator(".turn__text").text_content()
    session = stored_session(live_server, page.evaluate("__tutor.state.sessionId"))
    (kept,) = [t for t in session["turns"] if t["role"] == "assistant"]
    assert kept["interrupted"] is True and kept["text"] == shown

    # Esc does the same, wherever the focus is.
    page.get_by_label("Message").fill("And what is evaporation?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".call__state")).to_have_attribute(
        "data-state", "speaking", timeout=REPLY_TIMEOUT_MS
    )
    page.keyboard.press("Escape")
    expect(page.locator(".turn--assistant").last.locator(".badge--interrupted")).to_be_visible(
        timeout=15_000
    )

    # The focus ring stands out from whatever it is drawn on (WCAG 2.2: 3:1).
    # From the top of the page (the skip link) through every control, by keyboard.
    page.evaluate("document.querySelector('.skip-link').focus()")
    seen = []
    for _ in range(30):
        focused = page.evaluate(FOCUS_CONTRAST)
        if focused is None:
            break  # past the last element of the page
        seen.append(focused)
        assert focused["style"] != "none" and focused["width"] >= 2, focused
        assert focused["ratio"] >= 3, focused
        page.keyboard.press("Tab")
    assert {"mute", "hangup", "chat-input"} <= {f["name"] for f in seen}, seen

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator(".call__state")).to_have_text("Call ended", timeout=15_000)
    expect(page.get_by_text("Your microphone is muted")).to_be_hidden()
    close_page(page)
