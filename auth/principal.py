"""Who is calling, and what they may do."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from auth.errors import Forbidden


class Role(enum.StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """An authenticated user, as carried by an access token."""

    user_id: int
    email: str
    role: Role
    token_version: int = 0
    """The account's token version when the token was made; a newer one in the database
    (the password changed since) ends the token."""

    def require(self, *roles: Role) -> None:
        """Raise Forbidden unless this principal has one of `roles`."""
        if self.role not in roles:
            raise Forbidden(f"this action needs the role {' or '.join(r.value for r in roles)}")
