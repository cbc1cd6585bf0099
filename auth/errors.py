"""Authentication errors; messages are safe to show to the caller.

Each carries the HTTP status it maps to, so the web layer's error middleware can answer it
without knowing this package.
"""


class AuthError(Exception):
    """Missing, malformed, expired or forged credentials (HTTP 401)."""

    http_status = 401
    http_headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(Exception):
    """Valid credentials that do not allow the action (HTTP 403)."""

    http_status = 403
    http_headers: dict[str, str] = {}
