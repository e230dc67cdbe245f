"""The HTTP face: routes, the API key, client lanes, and serving it with uvicorn."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.http_api.answer import Answer, answer
from ghostwright.server.http_api.comment_route import comment_to_code
from ghostwright.server.http_api.fields import MAX_BODY_BYTES, BadRequest, parse_json
from ghostwright.server.http_api.host import Host
from ghostwright.server.http_api.infill import infill_response, parse_infill, select_fields
from ghostwright.server.http_api.openai_completions import (
    completion_events,
    completion_response,
    parse_completion,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

API_KEY_ENV = "GHOSTWRIGHT_API_KEY"
DEFAULT_PORT = 8012  # llama.vim's and llama.vscode's default endpoint
# A client that names itself keeps its own newest-wins lane; others get one per address.
CLIENT_HEADER = "x-client-id"
DISCONNECT_POLL_S = 0.1
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    503: "unavailable_error",
}


def build_app(host: Host, api_key: str = "") -> Starlette:
    """The routes over `host`; every route but /health needs `api_key` when one is set."""

    async def infill(request: Request) -> Response:
        parsed = parse_infill(await _body(request), _client(request))
        if parsed.warm_up:
            content = infill_response(_nothing(), [], _model(host))
        else:
            got = await _unless_gone(request, answer(host.engine, parsed.request))
            if got is None:
                return Response(status_code=499)
            content = infill_response(got, parsed.stops, _model(host))
        fields = (await _body(request)).get("response_fields")
        if isinstance(fields, list) and fields:
            content = select_fields(content, fields)
        return _json(content)

    async def completions(request: Request) -> Response:
        parsed = parse_completion(await _body(request), _client(request))
        got = await _unless_gone(request, answer(host.engine, parsed.request))
        if got is None:
            return Response(status_code=499)
        if parsed.stream:
            events = completion_events(got, parsed.stops, _model(host))
            return StreamingResponse(events, media_type="text/event-stream")
        return _json(completion_response(got, parsed.stops, _model(host)))

    async def comment(request: Request) -> Response:
        body = await _body(request)
        work = comment_to_code(host.engine, body, _client(request))
        result = await _unless_gone(request, work)
        return Response(status_code=499) if result is None else _json(result)

    async def health(request: Request) -> Response:
        state = host.engine.state
        if host.engine.ready:
            return _json({"status": "ok", "model": _model(host), "index": host.index_status()})
        message = "Loading model" if state in ("not loaded", "loading") else f"model {state}"
        return _error(503, message)

    async def models(request: Request) -> Response:
        status = host.engine.status()
        meta = {"format": status["format"], "adapter": status["adapter"], "state": status["state"]}
        entry = {"id": _model(host), "object": "model", "created": 0, "owned_by": "ghostwright"}
        return _json({"object": "list", "data": [{**entry, "meta": meta}]})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await host.start()
        try:
            yield
        finally:
            await host.stop()

    routes = [
        Route("/infill", _guarded(infill, api_key), methods=["POST"]),
        Route("/v1/completions", _guarded(completions, api_key), methods=["POST"]),
        Route("/ghostwright/comment-to-code", _guarded(comment, api_key), methods=["POST"]),
        Route("/health", _guarded(health, ""), methods=["GET"]),
        Route("/v1/models", _guarded(models, api_key), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_exception_handler(404, _not_found)
    app.add_exception_handler(405, _not_allowed)
    return app


def _guarded(
    route: Callable[[Request], Awaitable[Response]], api_key: str
) -> Callable[[Request], Awaitable[Response]]:
    """The key checked in constant time; a bad request becomes its one-line 4xx, an unexpected
    failure a 500 with one line (the traceback goes to the log), never a dropped connection."""

    async def handler(request: Request) -> Response:
        if api_key and not _key_matches(request, api_key):
            return _error(401, "Invalid API Key")
        try:
            return await route(request)
        except BadRequest as exc:
            return _error(exc.status, exc.message)
        except Exception as exc:  # noqa: BLE001 - the server stays up for the next request
            logger.exception("request failed")
            return _error(500, f"internal error: {exc}")

    return handler


def _key_matches(request: Request, api_key: str) -> bool:
    given = request.headers.get("authorization", "")
    given = (
        given[7:] if given.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    )
    return hmac.compare_digest(given.strip().encode(), api_key.encode())


async def _body(request: Request) -> dict[str, Any]:
    """The JSON body, read once (at most MAX_BODY_BYTES) and kept on the request."""
    kept = getattr(request.state, "ghostwright_body", None)
    if kept is not None:
        return kept
    too_large = BadRequest(f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MiB", 413)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise too_large
    request.state.ghostwright_body = parse_json(bytes(raw))
    return request.state.ghostwright_body


def _client(request: Request) -> str:
    named = request.headers.get(CLIENT_HEADER, "")
    return named or (request.client.host if request.client else "")


async def _unless_gone(request: Request, work: Awaitable[T]) -> T | None:
    """`work`'s result; None once the client has hung up (llama.vim stops its curl job when the
    user types on): the work is cancelled, which stops the model at its next token."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
        if done:
            return task.result()
        if await request.is_disconnected():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None


def _nothing() -> Answer:
    """The answer to a warm-up request (llama.vim sends its context ahead with n_predict 0)."""
    return Answer(None, "nothing was asked (n_predict is 0)")


def _model(host: Host) -> str:
    return host.engine.status()["model"] or host.engine.settings.model


def _json(content: Any, status: int = 200) -> Response:
    # Compact separators: llama.vim checks the raw text for `"content":"` before decoding it.
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    kind = ERROR_TYPES.get(status, "server_error")
    return _json({"error": {"code": status, "message": message, "type": kind}}, status)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, f"no route {request.url.path} (see `ghostwright http --help`)")


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error(405, f"{request.method} is not allowed on {request.url.path}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one line saying why not (a port in use, a bad address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise GhostwrightError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise GhostwrightError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def run(host: Host, address: str, port: int, api_key: str) -> int:
    """Serve until interrupted."""
    import uvicorn

    if not is_loopback(address) and not api_key:
        raise GhostwrightError(
            f"listening on {address} (beyond this machine) needs an API key: "
            f"--api-key KEY or the {API_KEY_ENV} environment variable"
        )
    sock = listen(address, port)
    bound = sock.getsockname()[1]
    print(
        f"ghostwright: serving http://{address}:{bound} for {host.root} "
        f"(routes /infill, /v1/completions, /ghostwright/comment-to-code, /health, /v1/models)",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        build_app(host, api_key), log_level="warning", lifespan="on", access_log=False
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0
