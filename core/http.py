"""HTTP pieces shared by the API and the engine: JSON errors, CORS, request body helpers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeGuard

from aiohttp import web

from core.jsontext import JsonTooDeep, loads

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


class JsonHTTPError(web.HTTPError):
    """An HTTP error of any status whose body is `{"error": {"code", "message"}}`."""

    def __init__(
        self, status: int, message: str, *, code: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code = status
        super().__init__(
            text=error_body(code, message),
            content_type="application/json",
            headers=dict(headers or {}),
        )


def error_code(status: int) -> str:
    """The `code` an error of `status` carries when nothing more specific is known."""
    return _CODES.get(status, "error")


def http_error(
    status: int, message: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
) -> web.HTTPException:
    """The error to raise from a handler: JSON body, right status, optional headers."""
    return JsonHTTPError(status, message, code=code or error_code(status), headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as JSON with the right status, unexpected ones as a logged 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status_code < 400 or exc.content_type == "application/json":
            raise
        message = exc.reason if exc.status_code != 405 else "method not allowed"
        raise http_error(exc.status_code, message, headers=_keep_headers(exc)) from None
    except Exception as exc:
        # Domain errors that know their status (auth's AuthError and Forbidden) say so.
        status = getattr(exc, "http_status", None)
        if isinstance(status, int) and 400 <= status < 500:
            headers = getattr(exc, "http_headers", None)
            code = getattr(exc, "error_code", None)
            raise http_error(status, str(exc), code=code, headers=headers) from None
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise http_error(500, "internal server error") from None


def _keep_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = {"allow", "retry-after", "www-authenticate"}
    return {k: v for k, v in exc.headers.items() if k.lower() in keep}


def cors_middleware(origins: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Allow the configured origins ("*" for any) to call the API from a browser."""
    allowed = set(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        ok = origin is not None and ("*" in allowed or origin in allowed)
        if (
            request.method == "OPTIONS"
            and ok
            and "Access-Control-Request-Method" in request.headers
        ):
            response: web.StreamResponse = web.Response(status=204)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = exc
                if ok:
                    _cors_headers(response, origin or "")
                raise
        if ok:
            _cors_headers(response, origin or "")
        return response

    return middleware


def _cors_headers(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Expose-Headers"] = "Location, Retry-After"
    response.headers["Access-Control-Max-Age"] = "600"


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def base_url(
    request: web.Request, *, public_url: str | None, allowed_hosts: tuple[str, ...]
) -> str:
    """Where clients reach this process: PUBLIC_URL, else the URL the request came to, but only
    when its Host is one of `allowed_hosts` or loopback; a forged Host never reaches a client."""
    if public_url:
        return public_url.rstrip("/")
    host = (request.url.host or "").lower().strip("[]").rstrip(".")
    allowed = {h.lower() for h in allowed_hosts} | set(LOOPBACK_HOSTS)
    if host not in allowed and "*" not in allowed:
        log.warning("refused a request for Host %r: not in ALLOWED_HOSTS", host[:100])
        raise http_error(
            400,
            "this server is not reached under that host name; set PUBLIC_URL or ALLOWED_HOSTS",
            code="untrusted_host",
        )
    return str(request.url.origin())


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
"""For responses no browser should render as a page: JSON, SDP."""


def security_headers(csp: str = API_CSP) -> Callable[[web.Request, web.StreamResponse], Any]:
    """An `on_response_prepare` hook: the same security headers on every response, errors and
    static files included, and a `Server` header that names no versions."""

    async def hook(request: web.Request, response: web.StreamResponse) -> None:
        set_security_headers(response, csp)

    return hook


def set_security_headers(response: web.StreamResponse, csp: str = API_CSP) -> None:
    """The headers `security_headers` adds, on one response (a CSP already set is kept)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", csp)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Server"] = "virtual-tutor"


async def read_body(request: web.Request, max_bytes: int, *, what: str = "request body") -> bytes:
    """The request's body, or a 413 as soon as it is known to pass `max_bytes` (a declared
    length is refused before reading; an undeclared one is read one byte past the limit)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise http_error(413, f"{what} is limited to {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise http_error(413, f"{what} is limited to {max_bytes} bytes")
    return raw


async def json_body(request: web.Request, *, max_bytes: int = 65_536) -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says what is wrong."""
    raw = await read_body(request, max_bytes)
    try:
        body = loads(raw)
    except JsonTooDeep as exc:
        raise http_error(400, str(exc)) from None
    except ValueError:
        raise http_error(400, "request body must be JSON") from None
    if not isinstance(body, dict):
        raise http_error(400, "request body must be a JSON object")
    return body


DB_ID_MAX = 2**63 - 1
"""Row ids are signed 64-bit integers in every database this project runs on."""

_PATH_ID = re.compile(r"[1-9][0-9]{0,18}")


def is_db_id(value: object) -> TypeGuard[int]:
    """Whether `value` is an int that can be a row id (1..2^63-1); bools are not ids."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= DB_ID_MAX


def require_id(body: Mapping[str, Any], name: str) -> int:
    """`body[name]` as a row id, or a 422 saying what an id is."""
    value = body.get(name)
    if not is_db_id(value):
        raise http_error(422, f"'{name}' must be an integer id from 1 to {DB_ID_MAX}")
    return value


def path_id(request: web.Request, name: str, *, what: str = "resource") -> int:
    """The path's `{name}` as a row id; anything else names nothing there is (404)."""
    raw = request.match_info[name]
    if _PATH_ID.fullmatch(raw) is None or int(raw) > DB_ID_MAX:
        raise http_error(404, f"no such {what}")
    return int(raw)


def require_str(body: Mapping[str, Any], name: str, *, max_len: int = 10_000) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise http_error(422, f"'{name}' must be a non-empty string")
    if len(value) > max_len:
        raise http_error(422, f"'{name}' is limited to {max_len} characters")
    return value.strip()
