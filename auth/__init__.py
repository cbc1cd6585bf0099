"""Users' credentials, roles and tokens."""

from auth.errors import AuthError, Forbidden
from auth.passwords import hash_password, verify_password
from auth.policy import one_time_password, password_problem
from auth.principal import Principal, Role
from auth.tokens import TokenIssuer

__all__ = [
    "AuthError",
    "Forbidden",
    "Principal",
    "Role",
    "TokenIssuer",
    "hash_password",
    "one_time_password",
    "password_problem",
    "verify_password",
]
