"""The password policy: what a new password must be, in messages a person can act on."""

from __future__ import annotations

import secrets

MIN_LENGTH = 10
MAX_LENGTH = 256

# The most common passwords of at least MIN_LENGTH characters in public breach lists; shorter
# ones are already refused for their length.
COMMON = frozenset(
    {
        "1234567890",
        "0123456789",
        "12345678910",
        "123456789a",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "asdfghjkl;",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "abcdefghij",
        "abc1234567",
        "football123",
        "baseball123",
        "1111111111",
        "0000000000",
        "letmein123",
        "welcome123",
        "changeme123",
        "administrator",
        "qazwsxedcrfv",
        "trustno1234",
        "monkey12345",
        "dragon12345",
        "sunshine123",
    }
)


def password_problem(password: str, *, email: str) -> str | None:
    """Why `password` may not be used by the account `email`; None when it may."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"the password must be at most {MAX_LENGTH} characters long"
    lowered = password.strip().lower()
    if lowered == email.strip().lower() or lowered == email.split("@")[0].strip().lower():
        return "the password must not be the email address"
    if lowered in COMMON or len(set(lowered)) == 1:
        return "this password is too common; choose one that is harder to guess"
    return None


def one_time_password() -> str:
    """A generated password (16 URL-safe characters, 96 random bits), shown once."""
    return secrets.token_urlsafe(12)
