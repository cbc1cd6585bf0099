"""Settings from the environment, password hashing and tokens."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from auth import AuthError, Principal, Role, TokenIssuer, hash_password, verify_password
from auth.tokens import CallGrant, bearer
from core.settings import Settings, SettingsError

KEY = "k" * 48


def test_defaults_and_names(tmp_path: Path) -> None:
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "SECRET_KEY": KEY}, env_file=None)
    assert (s.algorithm, s.access_token_expire_minutes, s.max_sessions) == ("HS256", 30, 10)
    assert s.session_timeout_seconds == 3600 and s.enable_llm and s.in_process_engine
    assert s.database_url == f"sqlite:///{tmp_path}/tutor.db" and not s.secret_key_generated
    s = Settings.from_env(
        {
            "VAR_DIR": str(tmp_path),
            "SECRET_KEY": KEY,
            "ENABLE_LLM": "false",
            "ENGINE_URL": "http://gpu-1:9000/",
            "CORS_ORIGINS": "http://a, http://b",
            "MAX_SESSIONS": "3",
        },
        env_file=None,
    )
    assert not s.enable_llm and s.engine_url == "http://gpu-1:9000" and not s.in_process_engine
    assert s.cors_origins == ("http://a", "http://b") and s.max_sessions == 3


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"SECRET_KEY={KEY}\nPORT=9001\nMAX_SESSIONS=4\n")
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "MAX_SESSIONS": "5"}, env_file=env)
    assert (s.port, s.max_sessions, s.secret_key) == (9001, 5, KEY)


def test_missing_secret_is_generated_once_and_said(tmp_path: Path) -> None:
    a = Settings.from_env({"VAR_DIR": str(tmp_path)}, env_file=None)
    b = Settings.from_env({"VAR_DIR": str(tmp_path)}, env_file=None)
    assert a.secret_key_generated and a.secret_key == b.secret_key and len(a.secret_key) >= 32


@pytest.mark.parametrize(
    "env",
    [
        {"MAX_SESSIONS": "many"},
        {"MAX_SESSIONS": "0"},
        {"ENABLE_LLM": "perhaps"},
        {"ALGORITHM": "none"},
        {"ALGORITHM": "RS256"},
        {"SECRET_KEY": "short"},
        {"KB_TOP_K": "three"},
        {"KB_MIN_RELEVANCE": "2"},
        {"VAD_THRESHOLD": "1.5"},
        {"PORT": "70000"},
        {"ASR_COMPUTE_TYPE": "float8"},
    ],
)
def test_bad_settings_are_named(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env({"VAR_DIR": str(tmp_path), "SECRET_KEY": KEY, **env}, env_file=None)


def test_a_bad_value_says_what_is_allowed(tmp_path: Path) -> None:
    base = {"VAR_DIR": str(tmp_path), "SECRET_KEY": KEY}
    with pytest.raises(SettingsError, match=r"KB_MIN_RELEVANCE must be between 0 and 1, got 2"):
        Settings.from_env({**base, "KB_MIN_RELEVANCE": "2"}, env_file=None)
    with pytest.raises(SettingsError, match=r"MAX_SESSIONS must be >= 1, got 0"):
        Settings.from_env({**base, "MAX_SESSIONS": "0"}, env_file=None)


def test_knowledge_settings_are_a_group_of_the_one_loader(tmp_path: Path) -> None:
    s = Settings.from_env({"VAR_DIR": str(tmp_path), "SECRET_KEY": KEY}, env_file=None)
    assert (s.knowledge.top_k, s.knowledge.min_relevance, s.knowledge.embeddings) == (3, 0.3, True)
    s = Settings.from_env(
        {
            "VAR_DIR": str(tmp_path),
            "SECRET_KEY": KEY,
            "KB_TOP_K": "5",
            "KB_EMBEDDINGS": "off",
            "KB_MODEL_DIR": "/models/minilm",
            "VAD_END_SILENCE_MS": "300",
        },
        env_file=None,
    )
    assert (s.knowledge.top_k, s.knowledge.embeddings) == (5, False)
    assert s.knowledge.model_dir == Path("/models/minilm") and s.voice.end_silence_ms == 300


def test_passwords() -> None:
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse") and not verify_password(h, "wrong")
    assert not verify_password(None, "anything") and not verify_password("garbage", "x")


def test_tokens_are_bound_to_their_purpose() -> None:
    issuer = TokenIssuer(secret_key=KEY)
    who = Principal(7, "s@example.com", Role.STUDENT)
    access = issuer.access_token(who, ttl_s=60)
    assert issuer.verify_access(access) == who
    call = issuer.engine_token(CallGrant(session_id="abc", user_id=7), ttl_s=60)
    assert issuer.verify_engine(call, session_id="abc").user_id == 7
    with pytest.raises(AuthError):
        issuer.verify_engine(call, session_id="other")
    with pytest.raises(AuthError):
        issuer.verify_engine(access, session_id="abc")
    with pytest.raises(AuthError):
        issuer.verify_access(call)
    with pytest.raises(AuthError):
        issuer.verify_service(access)
    issuer.verify_service(issuer.service_token())
    with pytest.raises(AuthError):
        TokenIssuer(secret_key="z" * 48).verify_access(access)


def test_expired_tokens() -> None:
    issuer = TokenIssuer(secret_key=KEY)
    now = int(time.time())
    claims = {
        "sub": "abc",
        "uid": 1,
        "aud": "virtual-tutor:call",
        "iss": "virtual-tutor",
        "iat": now - 100,
        "exp": now - 50,
    }
    old = jwt.encode(claims, KEY, algorithm="HS256")
    with pytest.raises(AuthError, match="expired"):
        issuer.verify_engine(old, session_id="abc")
    # Hanging up still works with the call's own, now expired, token.
    assert issuer.verify_engine(old, session_id="abc", allow_expired=True).session_id == "abc"
    forged = jwt.encode(claims, "q" * 48, algorithm="HS256")
    with pytest.raises(AuthError):
        issuer.verify_engine(forged, session_id="abc", allow_expired=True)


def test_bearer_header() -> None:
    assert bearer("Bearer abc") == "abc"
    for bad in [None, "", "Bearer", "Basic abc", "Bearer   "]:
        with pytest.raises(AuthError):
            bearer(bad)
