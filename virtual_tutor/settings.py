"""Settings, read once from the environment (and `.env`) into one typed object."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True, kw_only=True)
class VoiceSettings:
    """Turn-taking and model options of the voice pipeline."""

    vad_threshold: float = 0.5
    """Speech probability above which a 32 ms window counts as speech."""
    min_speech_ms: int = 200
    """Speech shorter than this is ignored (a cough, a click)."""
    end_silence_ms: int = 500
    """Silence that ends a turn."""
    max_utterance_s: float = 20.0
    """A turn longer than this is cut, so endless speech cannot grow buffers."""
    asr_beam_size: int = 1
    """Beam size of the final transcript (partials always use greedy decoding)."""
    asr_threads: int = 2
    """CPU threads for faster-whisper."""
    asr_compute_type: str = "int8"
    """CTranslate2 compute type."""
    partial_interval_ms: int = 500
    """How often a partial transcript is attempted while the student speaks."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of the server and the engine."""

    database_url: str
    """SQLAlchemy URL; SQLite under var/ by default, PostgreSQL when it grows."""
    secret_key: str
    """Signs access, engine and service tokens; shared by signaling and engines."""
    secret_key_generated: bool = False
    """True when no SECRET_KEY was given and a development key was made."""
    algorithm: str = "HS256"
    """JWT signing algorithm."""
    access_token_expire_minutes: int = 30
    """Lifetime of a login token."""
    engine_token_expire_seconds: int = 120
    """Lifetime of the token that lets a client open one call."""
    engine_url: str | None = None
    """Base URL of a separate engine; unset runs the engine in-process."""
    public_url: str | None = None
    """The URL clients reach this process at (for engine_url); defaults to http://HOST:PORT."""
    max_sessions: int = 10
    """Calls one engine serves at once."""
    session_timeout_seconds: int = 3600
    """A call is ended after this long."""
    connect_timeout_seconds: float = 30.0
    """A call that does not connect within this time is closed and its slot released."""
    enable_llm: bool = True
    """False makes every reply an explicit error event."""
    ollama_base_url: str | None = None
    """When set, replies come from this Ollama server instead of the embedded model."""
    default_llm_model: str = "qwen2.5:0.5b"
    """Model name asked of Ollama."""
    llm_threads: int = 2
    """CPU threads for the embedded llama.cpp model."""
    llm_context: int = 4096
    """Context window of the embedded model."""
    llm_max_tokens: int = 256
    """Longest reply, in tokens."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from a browser."""
    host: str = "127.0.0.1"
    port: int = 8000
    admin_email: str = "admin@example.com"
    admin_password: str | None = None
    demo_student_email: str = "student@example.com"
    demo_student_password: str | None = None
    var_dir: Path = Path("var")
    """Where the database, generated secrets and logs live."""
    models_dir: Path = Path("var/models")
    """Where `virtual-tutor models` assembles the model files."""
    load_voice_models: bool = True
    """Load VAD/ASR/TTS at start; off for a text-only engine."""
    max_message_bytes: int = 16_384
    """Largest data-channel message accepted."""
    max_sdp_bytes: int = 65_536
    """Largest SDP offer accepted."""
    voice: VoiceSettings = field(default_factory=VoiceSettings)

    @property
    def in_process_engine(self) -> bool:
        return not self.engine_url

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Read settings from `environ` (default: os.environ) over the values in `env_file`."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return _parse(values)


def _parse(env: Mapping[str, str]) -> Settings:
    def get(name: str, default: str | None = None) -> str | None:
        raw = env.get(name)
        return default if raw is None or raw == "" else raw

    var_dir = Path(get("VAR_DIR", "var") or "var")
    secret, generated = _secret_key(get("SECRET_KEY"), var_dir)
    algorithm = get("ALGORITHM", "HS256") or "HS256"
    if algorithm not in {"HS256", "HS384", "HS512"}:
        raise SettingsError(f"ALGORITHM must be HS256, HS384 or HS512, got {algorithm!r}")
    origins = tuple(o.strip() for o in (get("CORS_ORIGINS", "") or "").split(",") if o.strip())
    voice = VoiceSettings(
        vad_threshold=_float("VAD_THRESHOLD", get("VAD_THRESHOLD", "0.5") or "0.5"),
        min_speech_ms=_int("VAD_MIN_SPEECH_MS", get("VAD_MIN_SPEECH_MS", "200") or "200"),
        end_silence_ms=_int("VAD_END_SILENCE_MS", get("VAD_END_SILENCE_MS", "500") or "500"),
        max_utterance_s=_float("MAX_UTTERANCE_SECONDS", get("MAX_UTTERANCE_SECONDS", "20") or "20"),
        asr_beam_size=_int("ASR_BEAM_SIZE", get("ASR_BEAM_SIZE", "1") or "1", minimum=1),
        asr_threads=_int("ASR_THREADS", get("ASR_THREADS", "2") or "2", minimum=1),
        asr_compute_type=get("ASR_COMPUTE_TYPE", "int8") or "int8",
        partial_interval_ms=_int(
            "PARTIAL_INTERVAL_MS", get("PARTIAL_INTERVAL_MS", "500") or "500", minimum=100
        ),
    )
    return Settings(
        database_url=get("DATABASE_URL", f"sqlite:///{var_dir}/tutor.db") or "",
        secret_key=secret,
        secret_key_generated=generated,
        algorithm=algorithm,
        access_token_expire_minutes=_int(
            "ACCESS_TOKEN_EXPIRE_MINUTES",
            get("ACCESS_TOKEN_EXPIRE_MINUTES", "30") or "30",
            minimum=1,
        ),
        engine_token_expire_seconds=_int(
            "ENGINE_TOKEN_EXPIRE_SECONDS",
            get("ENGINE_TOKEN_EXPIRE_SECONDS", "120") or "120",
            minimum=1,
        ),
        engine_url=(get("ENGINE_URL") or "").rstrip("/") or None,
        public_url=(get("PUBLIC_URL") or "").rstrip("/") or None,
        max_sessions=_int("MAX_SESSIONS", get("MAX_SESSIONS", "10") or "10", minimum=1),
        session_timeout_seconds=_int(
            "SESSION_TIMEOUT_SECONDS", get("SESSION_TIMEOUT_SECONDS", "3600") or "3600", minimum=1
        ),
        connect_timeout_seconds=_float(
            "CONNECT_TIMEOUT_SECONDS", get("CONNECT_TIMEOUT_SECONDS", "30") or "30"
        ),
        enable_llm=_bool("ENABLE_LLM", get("ENABLE_LLM", "true") or "true"),
        ollama_base_url=(get("OLLAMA_BASE_URL") or "").rstrip("/") or None,
        default_llm_model=get("DEFAULT_LLM_MODEL", "qwen2.5:0.5b") or "qwen2.5:0.5b",
        llm_threads=_int("LLM_THREADS", get("LLM_THREADS", "2") or "2", minimum=1),
        llm_context=_int("LLM_CONTEXT", get("LLM_CONTEXT", "4096") or "4096", minimum=256),
        llm_max_tokens=_int("LLM_MAX_TOKENS", get("LLM_MAX_TOKENS", "256") or "256", minimum=1),
        cors_origins=origins,
        host=get("HOST", "127.0.0.1") or "127.0.0.1",
        port=_int("PORT", get("PORT", "8000") or "8000"),
        admin_email=get("ADMIN_EMAIL", "admin@example.com") or "admin@example.com",
        admin_password=get("ADMIN_PASSWORD"),
        demo_student_email=get("DEMO_STUDENT_EMAIL", "student@example.com") or "",
        demo_student_password=get("DEMO_STUDENT_PASSWORD"),
        var_dir=var_dir,
        models_dir=Path(get("MODELS_DIR", str(var_dir / "models")) or ""),
        load_voice_models=_bool("LOAD_VOICE_MODELS", get("LOAD_VOICE_MODELS", "true") or "true"),
        voice=voice,
    )


def _secret_key(given: str | None, var_dir: Path) -> tuple[str, bool]:
    """Use SECRET_KEY, or make a development key once and keep it under var/.

    Keeping it on disk lets an engine started beside the server on the same machine verify the
    server's tokens, and keeps users logged in across restarts.
    """
    if given:
        if len(given) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters")
        return given, False
    path = var_dir / "dev_secret_key"
    if path.is_file():
        return path.read_text().strip(), True
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key, True
