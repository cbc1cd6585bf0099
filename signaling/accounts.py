"""Accounts: logging in with email and password, and reading one's own profile."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from auth import Principal, Role, TokenIssuer, verify_password
from storage import Database, User


class InvalidCredentials(Exception):
    """Unknown email or wrong password; the client is deliberately not told which.

    `user_id` is the account's id when the email exists (for the log), None when it does not.
    """

    def __init__(self, user_id: int | None) -> None:
        super().__init__("invalid credentials")
        self.user_id = user_id


class AccountService:
    def __init__(self, db: Database, issuer: TokenIssuer, *, token_ttl_s: int) -> None:
        self._db = db
        self._issuer = issuer
        self._ttl_s = token_ttl_s

    async def login(self, email: str, password: str) -> dict[str, Any]:
        """A bearer access token for the account, or InvalidCredentials."""
        async with self._db.session() as s:
            user = await s.scalar(select(User).where(func.lower(User.email) == email.lower()))
        # verify_password costs the same whether or not the user exists; argon2 is deliberately
        # slow, so it runs off the event loop.
        matches = await asyncio.to_thread(
            verify_password, user.password_hash if user else None, password
        )
        if not matches or user is None:
            raise InvalidCredentials(user.id if user else None)
        token = self._issuer.access_token(
            Principal(user.id, user.email, Role(user.role)), ttl_s=self._ttl_s
        )
        return {"access_token": token, "token_type": "bearer", "expires_in": self._ttl_s}

    async def profile(self, user_id: int) -> dict[str, Any] | None:
        """The account's public fields; None when it has been deleted since its token was made."""
        async with self._db.session() as s:
            user = await s.get(User, user_id)
        if user is None:
            return None
        return {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "display_name": user.display_name,
        }
