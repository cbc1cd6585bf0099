"""JSON Web Tokens: login tokens, per-call engine tokens and the signaling tier's service token.

Each kind carries its own audience, so one kind can never be used as another.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from auth.errors import AuthError
from auth.principal import Principal, Role

ACCESS_AUDIENCE = "virtual-tutor:api"
ENGINE_AUDIENCE = "virtual-tutor:call"
SERVICE_AUDIENCE = "virtual-tutor:engine-admin"
ISSUER = "virtual-tutor"


@dataclass(frozen=True)
class CallGrant:
    """What an engine token allows: opening the call of exactly one session."""

    session_id: str
    user_id: int


class TokenIssuer:
    """Issues and verifies every token the system uses."""

    def __init__(self, *, secret_key: str, algorithm: str = "HS256") -> None:
        self._key = secret_key
        self._algorithm = algorithm

    def _encode(self, claims: dict[str, Any], *, audience: str, ttl_s: float) -> str:
        now = int(time.time())
        payload = {
            **claims,
            "aud": audience,
            "iss": ISSUER,
            "iat": now,
            "exp": now + int(ttl_s),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._key, algorithm=self._algorithm)

    def _decode(self, token: str, *, audience: str, verify_exp: bool = True) -> dict[str, Any]:
        try:
            # `algorithms` is a fixed allow-list: a token saying alg=none or another algorithm
            # is rejected before its signature is even looked at.
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=audience,
                issuer=ISSUER,
                options={
                    "require": ["exp", "iat", "aud", "iss", "sub"],
                    "verify_exp": verify_exp,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired, please log in again") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc
        return claims

    def access_token(self, principal: Principal, *, ttl_s: float) -> str:
        return self._encode(
            {
                "sub": str(principal.user_id),
                "email": principal.email,
                "role": principal.role.value,
                "ver": principal.token_version,
            },
            audience=ACCESS_AUDIENCE,
            ttl_s=ttl_s,
        )

    def verify_access(self, token: str) -> Principal:
        claims = self._decode(token, audience=ACCESS_AUDIENCE)
        try:
            return Principal(
                int(claims["sub"]),
                str(claims["email"]),
                Role(claims["role"]),
                # Tokens made before token versions existed carry none: version 0.
                int(claims.get("ver", 0)),
            )
        except (KeyError, ValueError) as exc:
            raise AuthError("invalid token") from exc

    def engine_token(self, grant: CallGrant, *, ttl_s: float) -> str:
        return self._encode(
            {"sub": grant.session_id, "uid": grant.user_id}, audience=ENGINE_AUDIENCE, ttl_s=ttl_s
        )

    def verify_engine(
        self, token: str, *, session_id: str, allow_expired: bool = False
    ) -> CallGrant:
        """Verify an engine token and that it was issued for `session_id`.

        `allow_expired` is for hanging up: the token only has to open the call in time, and
        the genuine owner of a call must still be able to end it later.
        """
        claims = self._decode(token, audience=ENGINE_AUDIENCE, verify_exp=not allow_expired)
        if claims.get("sub") != session_id:
            raise AuthError("this token does not open that call")
        return CallGrant(session_id=session_id, user_id=int(claims.get("uid", 0)))

    def service_token(self, *, ttl_s: float = 300) -> str:
        return self._encode({"sub": "signaling"}, audience=SERVICE_AUDIENCE, ttl_s=ttl_s)

    def verify_service(self, token: str) -> None:
        self._decode(token, audience=SERVICE_AUDIENCE)


def bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header."""
    if not header:
        raise AuthError("missing Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'")
    return token.strip()
