"""Chromium's microphone with DTX: the engine's answer asks for it (`usedtx=1`), and the
browser's Opus encoder for the student's microphone takes it. (How often it then leaves
silence out is the encoder's own choice: README, Load.)"""

from __future__ import annotations

from typing import Any

import pytest
from browser_support import close_page
from test_client_live import call_english_tutor, log_in

pytestmark = pytest.mark.browser

KEEP_PEER_CONNECTIONS = """
window.__peerConnections = [];
const RealPeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends RealPeerConnection {
  constructor(...args) {
    super(...args);
    window.__peerConnections.push(this);
  }
};
"""

# The format line of the codec each outbound audio stream is sent with.
SEND_FORMATS = """
async () => {
  const formats = [];
  for (const pc of window.__peerConnections) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "audio" && stats.get(s.codecId)) {
        formats.push(stats.get(s.codecId).mimeType + " " + stats.get(s.codecId).sdpFmtpLine);
      }
    });
  }
  return formats;
}
"""


def test_the_microphone_is_sent_with_dtx(
    quiet_browser: Any, live_server: str, open_page: Any
) -> None:
    page = open_page(quiet_browser)
    page.add_init_script(KEEP_PEER_CONNECTIONS)
    log_in(page, live_server)
    call_english_tutor(page)
    page.wait_for_function(
        "window.__peerConnections.some((pc) => pc.remoteDescription)", timeout=15_000
    )
    page.wait_for_timeout(1_000)  # stats name the send codec once packets went
    formats = page.evaluate(SEND_FORMATS)
    assert formats, "no outbound audio"
    assert all(f.startswith("audio/opus") and "usedtx=1" in f for f in formats), formats
    page.get_by_role("button", name="Hang up").click()
    close_page(page)
