"""Serving an app: aiohttp's runner with one change, and the loop the CLI's servers run in.

aiohttp answers a request its HTTP parser rejects (a request line or header over 8190 bytes,
too many headers, a malformed request line) itself, before any middleware runs: a `text/plain`
400 whose body repeats the parser's message, and with it part of the request. Those answers
come from `RequestHandler.handle_error`, so the runner here builds its connections with a
handler whose errors are the project's JSON (`{"error": {"code", "message"}}`), carry the
security headers, and repeat nothing of what was sent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from core.http import error_body, error_code, set_security_headers

log = logging.getLogger(__name__)


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's HTTP protocol, answering what it cannot handle as JSON without an echo."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        else:
            # The parser's message quotes the request: name the error, not what was sent.
            log.info("malformed HTTP request from %s: %s", request.remote, type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started; the connection is broken")
        text = "malformed HTTP request" if status == 400 else HTTPStatus(status).phrase.lower()
        response = web.Response(
            status=status,
            text=error_body(error_code(status), text),
            content_type="application/json",
        )
        set_security_headers(response)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        # web.Server builds aiohttp's own handler by name; this is its body with ours.
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """`web.AppRunner` whose connections use `JsonErrorRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The application builds its web.Server itself (web.Application cannot be subclassed);
        # the subclass adds no state, only the protocol factory.
        server.__class__ = _JsonErrorServer
        return server


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    on_ready: Callable[[], None] | None = None,
    shutdown_timeout: float = 5.0,
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut it down in order (cleanup contexts run
    before the loop's tasks are cancelled). `on_ready` runs once the socket listens."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = AppRunner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        if on_ready is not None:
            on_ready()
        await stop.wait()
    finally:
        await runner.cleanup()
