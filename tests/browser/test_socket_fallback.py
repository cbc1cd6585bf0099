"""The web client falls back to the engine's WebSocket when WebRTC cannot connect: the page's
peer connection is made to never connect, and the spoken question is still answered aloud."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_support import close_page, save_screenshot
from test_client_live import REPLY_TIMEOUT_MS, log_in

pytestmark = pytest.mark.browser
# The server ingests the demo course material while this runs, on the same two cores.
ANSWER_TIMEOUT_MS = 240_000
expect = pytest.importorskip("playwright.sync_api").expect

# The answer is never applied, as if every candidate in it were unreachable: the offer reaches
# the engine, but the peer connection stays "new" until the client gives up on it.
BLOCK_WEBRTC = """
const RealPeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends RealPeerConnection {
  setRemoteDescription() {
    return Promise.resolve();
  }
};
"""


def test_call_falls_back_to_the_websocket_and_is_heard(
    browser: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(browser)
    page.add_init_script(BLOCK_WEBRTC)
    log_in(page, live_server)
    page.locator(".tutor", has_text="English").first.get_by_role("button").click()
    expect(page.locator("#call-transport")).to_contain_text("WebSocket", timeout=30_000)
    page.wait_for_function("__tutor.state.connection === 'connected'", timeout=30_000)
    assert page.evaluate("__tutor.state.transport") == "websocket"
    page.wait_for_function("__tutor.state.chatOpen", timeout=30_000)

    user = page.locator(".turn--user:not(.turn--partial)").first
    expect(user.locator(".turn__text")).to_contain_text(
        re.compile(r"what is", re.IGNORECASE), timeout=REPLY_TIMEOUT_MS
    )
    expect(user.locator(".badge")).to_have_text("spoken")
    # The fake microphone repeats its file; a student asks once and then listens.
    page.get_by_role("button", name="Mute").click()
    try:
        # The tutor's WAV chunks are played on the page: its audio meter hears them.
        page.wait_for_function("__tutor.remoteAudioPeak() > 0.001", timeout=ANSWER_TIMEOUT_MS)
        expect(page.locator(".turn--assistant").last.locator(".turn__text")).not_to_be_empty(
            timeout=ANSWER_TIMEOUT_MS
        )
    finally:
        print("page state:", page.evaluate("__tutor.state"))
    counts = page.evaluate("__tutor.state.eventCounts")
    assert counts.get("tts", 0) >= 1 and counts.get("transcription", 0) >= 1, counts
    save_screenshot(page, "call-websocket.png")
    page.get_by_role("button", name="Hang up").click()
    # Hanging up ends the session through the API, which closes the socket call (its interrupted
    # reply stored first); while the demo material is still being embedded on the same two
    # cores that took 16 s once.
    expect(page.locator(".call__state")).to_have_text("Call ended", timeout=60_000)
    close_page(page)
