"""The application as declared: its routes and routers, handlers, global headers and settings (CORS, sessions,
compression). What tiercel.compile reads to build an engine; tiercel.start's Tiercel adds start() and server().

>>> app = App(__file__)
>>> @app.get("/")
... def index(request):
...     return "Hello, World!"
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass
from typing import Any

from tiercel import _core
from tiercel.cors import CorsSettings, cors_settings
from tiercel.mcp import MCPApp
from tiercel.openapi import OpenAPI, app_openapi
from tiercel.routers import CompiledRoute, Router, SubRouter, compile_routes, mounted
from tiercel.routing import (
    HTTP_METHODS,
    is_async_callable,
    normalize_path,
    positional_count,
)
from tiercel.startup_errors import report_in_main
from tiercel.state import State, lifecycle_handler
from tiercel.websockets import WebSocketRoute

logger = logging.getLogger("tiercel")
COMPRESSIBLE_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/xhtml+xml",
    "application/manifest+json",
    "image/svg+xml",
)
MIN_SESSION_KEY = 16  # bytes: 128 bits, the usual floor for an HMAC key


@dataclass
class SessionSettings:
    """configure_sessions' settings, in the order the engine's set_sessions takes them."""

    key: bytes
    cookie_name: str
    max_age: int
    path: str
    domain: str | None
    secure: bool
    http_only: bool
    same_site: str | None


class App(Router):
    """An application as declared (the base of tiercel.Tiercel, which adds start() and server()). Same names as
    Robyn's `Robyn` class."""

    def __init__(
        self,
        file_object: str,
        config: Any = None,
        openapi_file_path: str | None = None,
        openapi: OpenAPI | None = None,
        dependencies: Any = None,
    ):
        """`openapi`: the document's title, version and more (tiercel.openapi); `openapi_file_path` (relative to
        the app file's directory), or else an `openapi.json` beside the app file, is served as the document
        instead of the one made from the routes."""
        super().__init__()
        self.file_path = file_object
        self.directory_path = os.path.dirname(os.path.abspath(file_object))
        report_in_main(file_object)  # `python app.py`: a route Tiercel refuses is one line, as under the CLI
        self.openapi = app_openapi(self.directory_path, openapi, openapi_file_path)
        self.config = config
        self.global_dependencies.update(dependencies or {})
        self.exception_handlers: list[tuple[type[BaseException], Callable[..., Any], bool, int]] = []
        # Global headers: (name, value) for responses; (name, value, replace) for requests.
        self.response_headers: list[tuple[str, str]] = []
        self.request_headers: list[tuple[str, str, bool]] = []
        self.excluded_response_header_paths: set[str] = set()
        self.startup_handlers: list[Callable[[], Any]] = []
        self.shutdown_handlers: list[Callable[[], Any]] = []
        self.state = State()
        self.cors: CorsSettings | None = None
        self.sessions: SessionSettings | None = None
        self.compression: tuple[int, list[str], list[str], int] | None = None
        self._mcp: MCPApp | None = None

    @property
    def mcp(self) -> MCPApp:
        """The app's MCP server (Model Context Protocol): `@app.mcp.tool()`, `@app.mcp.resource(uri)`,
        `@app.mcp.prompt()`, served on POST /mcp from the first declaration on (tiercel.mcp)."""
        if self._mcp is None:
            self._mcp = MCPApp(self)
        return self._mcp

    def configure_compression(
        self,
        minimum_size: int = 500,
        content_types: Iterable[str] | None = None,
        codings: Iterable[str] | None = None,
        level: int = 0,
    ) -> None:
        """Compresses responses of at least `minimum_size` bytes whose Content-Type is in `content_types` ("text/"
        for a whole family, or exact types), with the best coding the client accepts among `codings` (default:
        what this build has, best first: br, zstd, gzip). Never applied to a body that has a Content-Encoding,
        to streams, to file ranges or to server-sent events; sent only when it is smaller. Off until called."""
        available = _core.Engine.available_codings()
        chosen = list(codings) if codings is not None else available
        for c in chosen:
            if c not in available:
                raise ValueError(f"this build cannot compress with {c!r}; it has {', '.join(available)}")
        types = list(content_types) if content_types is not None else list(COMPRESSIBLE_TYPES)
        if not isinstance(minimum_size, int) or isinstance(minimum_size, bool) or minimum_size < 0:
            raise ValueError(f"minimum_size is a number of bytes, got {minimum_size!r}")
        if not isinstance(level, int) or not 0 <= level <= 22:
            raise ValueError(f"level is 0 (each coding's default) or a coding level, got {level!r}")
        self.compression = (minimum_size, types, chosen, level)

    def configure_sessions(
        self,
        secret_key: str | bytes,
        *,
        cookie_name: str = "session",
        max_age: int = 14 * 24 * 3600,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        http_only: bool = True,
        same_site: str | None = "lax",
    ) -> None:
        """`request.session`, a dict kept in a cookie signed with HMAC-SHA256 under `secret_key` (at least 16
        bytes, 128 bits; `secrets.token_urlsafe(32)` makes one). A changed session is saved with the response; a
        cookie that was tampered with, or is older than `max_age` seconds since the session last changed, gives an
        empty one. The client can read (not change) what is stored: keep secrets out of it."""
        key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if not isinstance(key, bytes):
            raise TypeError(f"secret_key is a str or bytes, got {type(secret_key).__name__}")
        if len(key) < MIN_SESSION_KEY:
            raise ValueError(
                f"secret_key must be at least {MIN_SESSION_KEY} bytes (got {len(key)}) so that it cannot be guessed; "
                'make one with `python -c "import secrets; print(secrets.token_urlsafe(32))"` and pass it from the '
                "environment (os.environ[...]), not from the source"
            )
        if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age <= 0:
            raise ValueError(f"max_age is a positive number of seconds, got {max_age!r}")
        settings = SessionSettings(key, cookie_name, max_age, path, domain, secure, http_only, same_site)
        _core.Engine().set_sessions(*astuple(settings))  # the engine's own checks, now rather than at start-up
        self.sessions = settings

    def configure_cors(
        self,
        origins: str | Iterable[str] = "*",
        headers: str | Iterable[str] | None = None,
        *,
        credentials: bool = False,
        max_age: int = 600,
        expose_headers: Iterable[str] | None = None,
    ) -> None:
        """CORS for every route: `origins` ("*" or a list such as ["https://app.example"]) may read responses;
        preflights (OPTIONS with Access-Control-Request-Method) are answered by the engine for every path, with
        `headers` allowed in requests (Authorization and Content-Type when None, "*" for any), cached `max_age`
        seconds. `credentials=True` (cookies, Authorization) needs a list of origins."""
        self.cors = cors_settings(origins, headers, credentials, max_age, expose_headers)

    def compiled_routes(self) -> list[CompiledRoute]:
        """Every route of the app and its routers as the engine gets it (full paths, hooks in running order)."""
        return compile_routes(self, "", [], {}, {}, None)

    def mounted_websockets(self) -> list[tuple[str, WebSocketRoute]]:
        """(full path, route) of every WebSocket route of the app and its routers."""
        return mounted(self, "", "websocket_routes")

    def mounted_apps(self) -> list[tuple[str, Any]]:
        """(full path, application) of every app mounted on the app and its routers."""
        return mounted(self, "", "mounted_asgi")

    def mounted_directories(self) -> list[tuple[str, str, str, bool]]:
        """(full route, directory, index file, listing) of every serve_directory of the app and its routers."""
        return mounted(self, "", "static_directories")

    def exception(self, exc_type: Any = Exception) -> Any:
        """`@app.exception(ValueError)` handles that exception type (and its subclasses) from handlers and hooks;
        the most specific handler wins. `@app.exception` alone handles every Exception (as Robyn's does). The
        handler takes (error) or (request, error), sync or async, and returns anything a handler may return."""
        if isinstance(exc_type, type) and issubclass(exc_type, BaseException):

            def register(fn: Callable[..., Any]) -> Callable[..., Any]:
                self._add_exception_handler(exc_type, fn)
                return fn

            return register
        if callable(exc_type):  # used bare: @app.exception
            self._add_exception_handler(Exception, exc_type)
            return exc_type
        raise TypeError(f"@app.exception takes an exception class, got {exc_type!r}")

    def _add_exception_handler(self, exc_type: type[BaseException], fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"an exception handler must be callable, got {fn!r}")
        usage = "an exception handler is called with the error, or the request and the error"
        nargs = positional_count(fn, 2, "exception handler", usage)
        if nargs == 0:
            raise TypeError(f"{usage}: {fn.__qualname__} takes no arguments")
        self.exception_handlers = [h for h in self.exception_handlers if h[0] is not exc_type]
        self.exception_handlers.append((exc_type, fn, is_async_callable(fn), nargs))

    # ---- global headers ----------------------------------------------------------------------
    def add_response_header(self, key: str, value: str) -> None:
        """Adds `key: value` to every response that does not set `key` itself."""
        self.response_headers.append(_response_header(key, value))

    def set_response_header(self, key: str, value: str) -> None:
        """As add_response_header, replacing any global response header of the same name."""
        name, value = _response_header(key, value)
        self.response_headers = [h for h in self.response_headers if h[0].lower() != name.lower()]
        self.response_headers.append((name, value))

    def add_request_header(self, key: str, value: str) -> None:
        """Appends `key: value` to every request's headers (as the handler and the hooks see them)."""
        self.request_headers.append((*_header(key, value), False))

    def set_request_header(self, key: str, value: str) -> None:
        """Sets `key: value` in every request's headers, replacing what the client sent under that name."""
        name, value = _header(key, value)
        self.request_headers = [h for h in self.request_headers if h[0].lower() != name.lower()]
        self.request_headers.append((name, value, True))

    def exclude_response_headers_for(self, paths: str | list[str]) -> None:
        """The global response headers are not added on these routes (route patterns, e.g. "/health")."""
        for path in [paths] if isinstance(paths, str) else paths:
            self.excluded_response_header_paths.add(normalize_path(path))

    def startup_handler(self, handler: Callable[[], Any]) -> Callable[[], Any]:
        """Runs `handler()` (sync or async) once before the server accepts its first connection."""
        self.startup_handlers.append(lifecycle_handler(handler, "startup"))
        return handler

    def shutdown_handler(self, handler: Callable[[], Any]) -> Callable[[], Any]:
        """Runs `handler()` (sync or async) once after the server stopped (Ctrl-C, SIGTERM, `server.stop()`)."""
        self.shutdown_handlers.append(lifecycle_handler(handler, "shutdown"))
        return handler


def _header(key: str, value: str) -> tuple[str, str]:
    _core.check_header(key, value)  # the same rule the engine applies to a handler's response headers
    return key, value


def _response_header(key: str, value: str) -> tuple[str, str]:
    if key.lower() in ("content-length", "transfer-encoding", "connection"):
        raise ValueError(
            f"{key} cannot be a global response header: the server frames each response and manages the "
            "connection itself"
        )
    return _header(key, value)


def ALLOW_CORS(app: App, origins: str | list[str], headers: str | list[str] | None = None) -> None:  # noqa: N802
    """Robyn's name: lets `origins` ("*" or a list) read the app's responses, with `headers` allowed in
    requests (Authorization and Content-Type when None; "*" for any). As in Robyn, listed origins may send
    credentials (cookies, Authorization) and preflights are cached an hour; "*" allows no credentials (browsers
    refuse them with "*" anyway). `app.configure_cors(...)` takes every setting (tiercel.cors)."""
    listed = [origins] if isinstance(origins, str) else list(origins)
    app.configure_cors(listed, headers, credentials="*" not in listed, max_age=3600)


# Router, SubRouter, CompiledRoute: tiercel.routers; State: tiercel.state; HTTP_METHODS: tiercel.routing.
__all__ = ["ALLOW_CORS", "HTTP_METHODS", "App", "CompiledRoute", "Router", "State", "SubRouter"]
