"""Routers: what an app and a SubRouter share (route decorators, middleware, dependencies, authentication,
WebSockets, static directories), and the compilation of a router tree into the routes the engine gets.

>>> api = SubRouter(__file__, prefix="/api")
>>> @api.get("/items/:id")
... def item(id: int):
...     return {"id": id}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload

from tiercel import _core
from tiercel.authentication import AuthenticationHandler
from tiercel.interfaces import ASGI, describe, interface_of
from tiercel.routing import (
    Handler,
    Hook,
    Route,
    RouteDocs,
    duplicate_route,
    normalize_method,
    normalize_path,
    normalize_prefix,
    positional_count,
    route_docs,
    route_pattern,
)
from tiercel.websockets import WebSocketRoute, check_hook, websocket_route

H = TypeVar("H", bound=Callable[..., Any])


class Decorator(Protocol):
    """What `@app.get(path)` and the like return: it registers a function and gives it back as it was (its type
    too, for a type checker)."""

    def __call__(self, handler: H, /) -> H: ...


class Router:
    """What an app and a SubRouter share: route decorators, middleware and injected dependencies."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = normalize_prefix(prefix)
        self.routes: list[Route] = []
        self.hooks: list[Hook] = []
        self.dependencies: dict[str, Any] = {}  # `router_dependencies`
        self.global_dependencies: dict[str, Any] = {}  # `global_dependencies` (an included router's win for its routes)
        self.authentication_handler: AuthenticationHandler | None = None  # None: the enclosing router's
        self.routers: list[SubRouter] = []
        self.static_directories: list[tuple[str, str, str, bool]] = []  # (path, directory, index, listing)
        self.websocket_routes: list[tuple[str, WebSocketRoute]] = []
        self.mounted_asgi: list[tuple[str, Any]] = []  # (path, ASGI application)
        self.tags: list[str] = []  # OpenAPI tags of every route of this router (and of those it includes)
        # A scratch engine checks each route as it is registered, so mistakes fail at the decorator.
        self._checker = _core.RouteChecker()

    # ---- registration ------------------------------------------------------------------------
    def add_route(
        self,
        route_type: str,
        endpoint: str,
        handler: Handler,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Handler:
        """Registers `handler` for `route_type` (an HTTP method) on `endpoint`; returns the handler.
        `blocking=True`: a sync handler that may block (file or database I/O without asyncio) runs in a thread
        pool (`blocking_threads` threads), so it cannot stall the event loop.
        `stream_body=True`: an async handler gets the body as it arrives, `async for chunk in request.stream()` or
        `await request.form()`, up to `max_stream_body` bytes instead of `max_body`, never held whole in memory.
        Other options (FastAPI's and Robyn's): `status_code` (the default success status), `response_model`
        (what the answer is serialised as; the return annotation when omitted, None for none), `responses`,
        `deprecated`, `include_in_schema`, `summary`, `description`, `tags` / `openapi_tags`, `openapi_name`,
        `operation_id`, `response_description`, `openapi_extra`: see tiercel.routing.RouteDocs."""
        method = normalize_method(route_type)
        if not isinstance(endpoint, str):
            raise TypeError(f"the path must be a str, got {endpoint!r}")
        endpoint = route_pattern(endpoint)  # FastAPI's /items/{item_id} is /items/:item_id
        route = Route(
            method, endpoint, handler, const=const, auth_required=auth_required, blocking=blocking,
            stream_body=stream_body, docs=RouteDocs(**route_docs(options)),
        )  # fmt: skip
        # The checker only validates the pattern: it keeps no handler, so it holds no reference cycle
        # (handler -> module globals -> app -> checker) that native objects would keep alive at exit.
        try:
            self._checker.add(method, endpoint)
        except ValueError as e:
            earlier = ((r.method, r.path, r.handler) for r in self.routes)
            raise ValueError(duplicate_route(method, endpoint, handler, earlier) or str(e)) from None
        self.routes.append(route)
        return handler

    def _decorator(
        self,
        method: str,
        endpoint: str,
        const: bool,
        auth_required: bool,
        blocking: bool,
        stream_body: bool,
        options: dict[str, Any],
    ) -> Decorator:
        if isinstance(endpoint, str):
            route_pattern(endpoint)  # a malformed path is refused at `@app.get(path)` already
        docs = route_docs(options)  # a bad status_code or response_model is refused here too

        def register(handler: H) -> H:
            self.add_route(method, endpoint, handler, const, auth_required, blocking, stream_body, **docs)
            return handler

        return register

    def get(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.get(endpoint)`: the decorated function answers GET requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("GET", endpoint, const, auth_required, blocking, stream_body, options)

    def post(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.post(endpoint)`: the decorated function answers POST requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("POST", endpoint, const, auth_required, blocking, stream_body, options)

    def put(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.put(endpoint)`: the decorated function answers PUT requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("PUT", endpoint, const, auth_required, blocking, stream_body, options)

    def delete(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.delete(endpoint)`: the decorated function answers DELETE requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("DELETE", endpoint, const, auth_required, blocking, stream_body, options)

    def patch(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.patch(endpoint)`: the decorated function answers PATCH requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("PATCH", endpoint, const, auth_required, blocking, stream_body, options)

    def head(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.head(endpoint)`: the decorated function answers HEAD requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("HEAD", endpoint, const, auth_required, blocking, stream_body, options)

    def options(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.options(endpoint)`: the decorated function answers OPTIONS requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("OPTIONS", endpoint, const, auth_required, blocking, stream_body, options)

    def connect(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.connect(endpoint)`: the decorated function answers CONNECT requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("CONNECT", endpoint, const, auth_required, blocking, stream_body, options)

    def trace(
        self,
        endpoint: str,
        const: bool = False,
        auth_required: bool = False,
        blocking: bool = False,
        stream_body: bool = False,
        **options: Any,
    ) -> Decorator:
        """`@app.trace(endpoint)`: the decorated function answers TRACE requests to `endpoint` (options as in
        `add_route`)."""
        return self._decorator("TRACE", endpoint, const, auth_required, blocking, stream_body, options)

    # ---- WebSockets and static files ------------------------------------------------------------
    def websocket(
        self,
        endpoint: str,
        on_connect: Callable[..., Any] | None = None,
        on_close: Callable[..., Any] | None = None,
    ) -> Decorator:
        """`@app.websocket("/ws/:room")` over `async def handler(websocket, ...)`, as in Robyn: returns the handler,
        with `@handler.on_connect` and `@handler.on_close` decorators on it (or give the hooks as keywords). The
        upgrade is checked in C++ (a bad one, or a refused typed parameter, is a 400 that accepts nothing), then
        on_connect runs (sync or async; what it returns is the client's first message: str, bytes, dict/list as
        JSON; raising refuses with close 1008), then the handler, with a WebSocket (receive_text/bytes/json,
        send/send_text/bytes/json, close, broadcast, id, path_params, query_params). `on_close` runs when the
        connection is over; when the handler returns, the connection is closed with 1000. The handler and its hooks
        take parameters as HTTP handlers do (tiercel.websockets). On a SubRouter the path is relative to its
        prefix."""
        path = normalize_path(endpoint)
        check_hook("on_connect", on_connect)
        check_hook("on_close", on_close)

        def register(handler: H) -> H:
            route = websocket_route(path, handler, on_connect, on_close)
            self._checker.add("GET", path)
            self.websocket_routes.append((path, route))
            return handler

        return register

    def serve_directory(
        self, route: str, directory_path: str, index_file: str | None = None, show_files_listing: bool = False
    ) -> None:
        """Serves the files under `directory_path` at `route` (GET and HEAD), from C++: Content-Type by extension,
        ETag / Last-Modified with 304s, Range requests, precompressed .br/.gz siblings for clients that accept them.
        Paths that would leave the directory (.., encoded or not, symlinks pointing outside) are answered 404.
        `index_file` is served for a directory; without one, `show_files_listing` lists it. On a SubRouter the
        route is relative to its prefix."""
        path = normalize_path(route)
        directory = os.path.abspath(directory_path)
        if not os.path.isdir(directory):
            raise ValueError(f"serve_directory: {directory_path!r} is not a directory")
        if index_file is not None and ("/" in index_file or index_file in ("", ".", "..")):
            raise ValueError(f"index_file is a file name such as 'index.html', got {index_file!r}")
        self.static_directories.append((path, directory, index_file or "", bool(show_files_listing)))

    def mount(self, path: str, app: Callable[..., Any]) -> None:
        """Serves an ASGI 3 application (FastAPI, Starlette, Litestar, ...) under `path`: a request to `path` or below
        it, whatever its method, goes to `app`, with `scope["root_path"]` set to `path` and `scope["path"]` the
        whole path, as the ASGI spec says; everything else stays with this app's own routes, which win over the
        mount where both match. Its receive() and send() are native: serving it runs no framework Python. On a
        SubRouter, `path` is relative to its prefix. WSGI applications cannot be mounted yet."""
        kind = interface_of(app)
        if kind != ASGI:
            raise TypeError(
                f"mount() takes an ASGI 3 application (async def app(scope, receive, send)); {app!r} is "
                + (describe(app) if callable(app) else "not callable")
            )
        self.mounted_asgi.append((normalize_path(path), app))

    # ---- middleware, dependencies, sub-routers ---------------------------------------------------
    @overload
    def before_request(self, endpoint: H) -> H: ...
    @overload
    def before_request(self, endpoint: str | None = None) -> Decorator: ...
    def before_request(self, endpoint: str | Callable[..., Any] | None = None) -> Any:
        """`@app.before_request()` (every route) or `@app.before_request("/path")` (that route, every method).

        The hook gets the request and returns it (or None) to go on, or returns a response (anything a handler
        may return) to answer at once; the after-request hooks still run on that answer. On a SubRouter, the
        hook covers that router's routes (and the path is relative to its prefix)."""
        return self._hook("before", endpoint)

    @overload
    def after_request(self, endpoint: H) -> H: ...
    @overload
    def after_request(self, endpoint: str | None = None) -> Decorator: ...
    def after_request(self, endpoint: str | Callable[..., Any] | None = None) -> Any:
        """`@app.after_request()` / `@app.after_request("/path")`: the hook gets the response (or the request
        and the response) and returns the response to send, or None to send it as it is."""
        return self._hook("after", endpoint)

    def _hook(self, kind: str, endpoint: str | Callable[..., Any] | None) -> Any:
        if callable(endpoint):  # used bare: @app.before_request
            self.hooks.append(Hook(kind, endpoint, None))
            return endpoint
        path = None if endpoint is None else normalize_path(endpoint)

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.hooks.append(Hook(kind, fn, path))
            return fn

        return register

    def inject(self, **dependencies: Any) -> None:
        """Dependencies for this router's handlers: each is passed to a parameter of its name, and all of them
        as `router_dependencies` (a dict)."""
        self.dependencies.update(dependencies)

    def inject_global(self, **dependencies: Any) -> None:
        """Dependencies passed to a parameter of their name, and all of them as `global_dependencies` (a dict): on
        the app, for every handler; on a SubRouter, for its own routes (and those it includes), where they
        override the app's of the same name (as in Robyn)."""
        self.global_dependencies.update(dependencies)

    def configure_authentication(self, handler: AuthenticationHandler) -> None:
        """Routes declared with `auth_required=True` run `handler.authenticate(request)` first: None answers
        `handler.unauthorized_response` (401 with WWW-Authenticate), anything else becomes `request.identity`.
        A SubRouter's handler serves its own routes (and those it includes); the app's serves every other."""
        if not isinstance(handler, AuthenticationHandler):
            raise TypeError(f"configure_authentication takes an AuthenticationHandler, got {handler!r}")
        usage = "authenticate is called with the request: use `def authenticate(self, request)`"
        positional_count(handler.authenticate, 1, "authenticate", usage)
        self.authentication_handler = handler

    def include_router(self, router: SubRouter) -> None:
        """Mounts `router` (its prefix after this router's own); its routes, hooks and dependencies come along.
        Routes added to it later are included too."""
        if not isinstance(router, SubRouter):
            raise TypeError(f"include_router takes a SubRouter, got {router!r}")
        if router is self or self in _all_routers(router):
            raise ValueError("a router cannot include itself, directly or through another router")
        self.routers.append(router)
        check = _core.RouteChecker()
        try:
            compiled = compile_routes(self, "", [], {}, {}, None)
            for i, r in enumerate(compiled):
                try:
                    check.add(r.route.method, r.path)
                except ValueError as e:
                    earlier = ((c.route.method, c.path, c.route.handler) for c in compiled[:i])
                    message = duplicate_route(r.route.method, r.path, r.route.handler, earlier)
                    raise ValueError(message or str(e)) from None
            for ws_path, *_ in mounted(self, "", "websocket_routes"):
                check.add("GET", ws_path)
        except ValueError:
            self.routers.pop()
            raise


class SubRouter(Router):
    """A group of routes under a common prefix, with its own middleware and dependencies; mounted with
    `app.include_router(router)`. Same names as Robyn's `SubRouter`."""

    def __init__(
        self,
        file_object: str = "",
        prefix: str = "",
        config: Any = None,
        openapi: Any = None,
        tags: list[str] | None = None,
    ) -> None:
        """`tags`: OpenAPI tags given to each of its routes (after those of the routers that include it), as in
        Robyn. The prefix alone adds none."""
        if not prefix and _looks_like_prefix(file_object):
            file_object, prefix = "", file_object  # SubRouter("/api"): the prefix alone
        super().__init__(prefix)
        self.file_path = file_object
        if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
            raise TypeError(f"SubRouter(tags=...) is a list of str, got {tags!r}")
        self.tags = list(tags or [])


def _looks_like_prefix(text: str) -> bool:
    """ "/api" rather than a __file__ such as "/srv/app/routes.py"."""
    return isinstance(text, str) and text.startswith("/") and not text.endswith(".py") and not os.path.exists(text)


@dataclass
class CompiledRoute:
    """A route as the engine gets it: full path, the hooks that apply (in the order they run), dependencies and
    the authentication handler of the nearest router that has one."""

    route: Route
    path: str
    before: list[Hook]
    after: list[Hook]
    router_dependencies: dict[str, Any]
    global_dependencies: dict[str, Any]
    authentication_handler: AuthenticationHandler | None
    tags: list[str] = field(default_factory=list)  # the OpenAPI tags of the routers it is in, outermost first


def _all_routers(router: Router) -> list[Router]:
    out: list[Router] = []
    for child in router.routers:
        out.append(child)
        out.extend(_all_routers(child))
    return out


def compile_routes(
    router: Router,
    outer: str,
    chain: list[tuple[str, Router]],
    deps: dict[str, Any],
    global_deps: dict[str, Any],
    auth: AuthenticationHandler | None,
) -> list[CompiledRoute]:
    """Every route of `router` and the routers it includes, with full paths. `chain` holds the enclosing routers
    with their full prefixes: unscoped hooks of each, outermost first, then the scoped ones that match.
    Dependencies and the authentication handler of an inner router win over the outer ones'."""
    prefix = outer + router.prefix
    chain = [*chain, (prefix, router)]
    deps = {**deps, **router.dependencies}
    global_deps = {**global_deps, **router.global_dependencies}
    auth = router.authentication_handler or auth
    tags = list(dict.fromkeys(t for _, r in chain for t in r.tags))
    out = []
    for route in router.routes:
        path = normalize_path(prefix + route.path) if prefix else route.path
        hooks = [h for _, r in chain for h in r.hooks if h.path is None]
        hooks += [h for p, r in chain for h in r.hooks if h.path is not None and normalize_path(p + h.path) == path]
        out.append(
            CompiledRoute(
                route,
                path,
                [h for h in hooks if h.kind == "before"],
                [h for h in hooks if h.kind == "after"],
                deps,
                global_deps,
                auth,
                tags,
            )
        )
    for child in router.routers:
        out.extend(compile_routes(child, prefix, chain, deps, global_deps, auth))
    return out


def mounted(router: Router, outer: str, attr: str) -> list[tuple[Any, ...]]:
    """The entries of `router.<attr>` (websocket_routes, static_directories, mounted_asgi) and of the routers it
    includes, each
    with its path made full."""
    prefix = outer + router.prefix
    out = [(normalize_path(prefix + entry[0]) if prefix else entry[0], *entry[1:]) for entry in getattr(router, attr)]
    for child in router.routers:
        out.extend(mounted(child, prefix, attr))
    return out


__all__ = ["CompiledRoute", "Router", "SubRouter", "compile_routes", "mounted"]
