"""ICE servers for reaching students behind NAT: STUN and TURN, with short-lived TURN
credentials made the standard coturn way (the "TURN REST API", coturn's `use-auth-secret`).

The username is `<expiry>:<user>` (expiry in Unix seconds) and the password is
base64(HMAC-SHA1(TURN_SECRET, username)). coturn checks both with the secret it shares with
us and refuses the credentials once the expiry has passed, so nothing per user is stored in
coturn and a leaked credential dies on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class IceServer:
    """One entry of RTCConfiguration.iceServers (the W3C shape, which aiortc also takes)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
            out["credential"] = self.credential
        return out


def turn_credentials(
    secret: str, user: str, ttl_s: float, now: float | None = None
) -> tuple[str, str]:
    """(username, password) valid for `ttl_s` seconds from `now`."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(
    urls: tuple[str, ...], *, secret: str | None, user: str, ttl_s: float
) -> list[IceServer]:
    """The STUN servers as they are, and the TURN servers (`turn:`/`turns:` URLs) with fresh
    credentials for `user` when `secret` is set (without it, a TURN server cannot be used)."""
    stun = tuple(u for u in urls if u.startswith("stun:") or u.startswith("stuns:"))
    turn = tuple(u for u in urls if u.startswith("turn:") or u.startswith("turns:"))
    servers = [IceServer(urls=stun)] if stun else []
    if turn and secret:
        username, password = turn_credentials(secret, user, ttl_s)
        servers.append(IceServer(urls=turn, username=username, credential=password))
    return servers
