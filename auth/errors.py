"""Authentication errors; messages are safe to show to the caller."""


class AuthError(Exception):
    """Missing, malformed, expired or forged credentials (HTTP 401)."""


class Forbidden(Exception):
    """Valid credentials that do not allow the action (HTTP 403)."""
