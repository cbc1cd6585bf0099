"""Accounts: logging in with email and password, the per-request account check, reading one's
own profile and changing one's own password."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from auth import (
    Principal,
    Role,
    TokenIssuer,
    hash_password,
    password_problem,
    verify_password,
)
from signaling.errors import Refused
from storage import Database, User


class InvalidCredentials(Exception):
    """Unknown email or wrong password; the client is deliberately not told which.

    `user_id` is the account's id when the email exists (for the log), None when it does not.
    """

    def __init__(self, user_id: int | None) -> None:
        super().__init__("invalid credentials")
        self.user_id = user_id


class AccountDisabled(Exception):
    """The password was right, but the account is disabled."""


def _principal(user: User) -> Principal:
    return Principal(user.id, user.email, Role(user.role), user.token_version)


class AccountService:
    def __init__(self, db: Database, issuer: TokenIssuer, *, token_ttl_s: int) -> None:
        self._db = db
        self._issuer = issuer
        self._ttl_s = token_ttl_s

    def _token(self, user: User) -> dict[str, Any]:
        token = self._issuer.access_token(_principal(user), ttl_s=self._ttl_s)
        return {"access_token": token, "token_type": "bearer", "expires_in": self._ttl_s}

    async def login(self, email: str, password: str) -> dict[str, Any]:
        """A bearer access token for the account, or InvalidCredentials / AccountDisabled."""
        async with self._db.session() as s:
            user = await s.scalar(
                select(User).where(
                    func.lower(User.email) == email.lower(), User.deleted_at.is_(None)
                )
            )
        # verify_password costs the same whether or not the user exists; argon2 is deliberately
        # slow, so it runs off the event loop.
        matches = await asyncio.to_thread(
            verify_password, user.password_hash if user else None, password
        )
        if not matches or user is None:
            raise InvalidCredentials(user.id if user else None)
        if user.disabled:
            raise AccountDisabled(user.id)
        return self._token(user)

    async def current(self, claimed: Principal) -> Principal | None:
        """The account behind a verified token as it is now (its role may have changed), or
        None when it is disabled, deleted, or its password changed after the token was made.

        One primary-key read per request: disabling an account ends its tokens at once."""
        async with self._db.session() as s:
            user = await s.get(User, claimed.user_id)
        if (
            user is None
            or user.disabled
            or user.deleted_at is not None
            or user.token_version != claimed.token_version
        ):
            return None
        return _principal(user)

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

    async def change_password(self, who: Principal, current: str, new: str) -> dict[str, Any]:
        """Set a new password after checking the current one; every older token of the account
        stops working, and a fresh token for the caller is returned."""
        async with self._db.session() as s:
            user = await s.get(User, who.user_id)
        if user is None:
            raise Refused("this account no longer exists", status=401)
        if not await asyncio.to_thread(verify_password, user.password_hash, current):
            raise Refused("the current password is wrong", status=403, code="wrong_password")
        if problem := password_problem(new, email=user.email):
            raise Refused(problem, code="weak_password")
        if new == current:
            raise Refused("the new password must differ from the current one", code="weak_password")
        password_hash = await asyncio.to_thread(hash_password, new)
        async with self._db.session() as s, s.begin():
            user = await s.get(User, who.user_id)
            if user is None:
                raise Refused("this account no longer exists", status=401)
            user.password_hash = password_hash
            user.token_version += 1
        return self._token(user)
