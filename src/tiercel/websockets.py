"""WebSocket routes as Robyn writes them, and the arguments their handlers and hooks get.

`@app.websocket(path)` returns the handler itself, with `.on_connect` and `.on_close` decorators on it:

>>> app = tiercel.Tiercel(__file__)  # doctest: +SKIP
>>> @app.websocket("/chat")  # doctest: +SKIP
... async def chat(websocket, room: str = "lobby"):
...     while True:
...         await websocket.broadcast(await websocket.receive_text())
>>> @chat.on_connect  # doctest: +SKIP
... def hello(websocket, room: str = "lobby"):
...     return f"welcome to {room}"  # sent to the client as its first message

The handler and its hooks take parameters as HTTP handlers do (params.handler_plan: `query_params`, `headers`,
`global_dependencies`, `router_dependencies`, injected dependencies by name, typed path and query parameters),
plus the connection: the parameter annotated `WebSocket`, else the one named `websocket` or `ws`, else the first
one when it is bare (`def h(conn)`), which is where Robyn passes it. The plans are made once, when the engine is
built; per connection, C++ fills the arguments from the upgrade request (a refused value answers the handshake
with 400 naming the parameter, before anything is accepted).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tiercel import _core
from tiercel.params import BACKGROUND_TASKS, BY_NAME, SESSION, Arg, _type_hints, handler_plan, path_param_names
from tiercel.routing import is_async_callable, normalize_path

if TYPE_CHECKING:
    from tiercel.app import App
    from tiercel.routers import Router

WEBSOCKET = 19  # the engine's ArgSource::kWebSocket: the connection itself
CONNECTION_NAMES = ("websocket", "ws")
HOOKS = ("on_connect", "on_close")


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", fn))


def check_hook(kind: str, fn: Any) -> None:
    """A hook is callable (sync or async); None means no hook."""
    if fn is not None and not callable(fn):
        raise TypeError(f"{kind} must be callable, got {fn!r}")


@dataclass
class WebSocketRoute:
    """One `@app.websocket(path)`: the handler and its hooks, given by keyword or added by decorator."""

    path: str
    handler: Callable[..., Any]
    on_connect: Callable[..., Any] | None = None
    on_close: Callable[..., Any] | None = None

    def add_on_connect(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`@handler.on_connect`: runs when a client has connected, before the handler; what it returns is the
        client's first message (str as text, bytes as binary, dict/list as JSON, None nothing)."""
        return self._add("on_connect", fn)

    def add_on_close(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`@handler.on_close`: runs when the connection is closed; what it returns is not sent (it is closed)."""
        return self._add("on_close", fn)

    def _add(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        check_hook(kind, fn)
        current = getattr(self, kind)
        if current is not None and current is not fn:
            raise ValueError(f"the WebSocket route {self.path} already has an {kind} hook, {_name(current)}")
        setattr(self, kind, fn)
        return fn


def websocket_route(
    path: str, handler: Callable[..., Any], on_connect: Callable[..., Any] | None, on_close: Callable[..., Any] | None
) -> WebSocketRoute:
    """The route for `handler`, whose `.on_connect` / `.on_close` become its hooks' decorators (as in Robyn)."""
    if not is_async_callable(handler):
        raise TypeError(f"a WebSocket handler is async: `async def {getattr(handler, '__name__', 'h')}(websocket)`")
    route = WebSocketRoute(path, handler, on_connect, on_close)
    for kind, add in (("on_connect", route.add_on_connect), ("on_close", route.add_on_close)):
        with contextlib.suppress(AttributeError, TypeError):  # a bound method takes none: keywords remain
            setattr(handler, kind, add)
    return route


@dataclass
class MountedWebSocket:
    """A WebSocket route as the engine gets it: full path and the dependencies of the routers around it."""

    path: str
    route: WebSocketRoute
    router_dependencies: dict[str, Any]
    global_dependencies: dict[str, Any]


def websocket_mounts(
    router: Router,
    outer: str = "",
    deps: Mapping[str, Any] | None = None,
    global_deps: Mapping[str, Any] | None = None,
) -> list[MountedWebSocket]:
    """Every WebSocket route of `router` and the routers it includes, with full paths, router dependencies and
    global dependencies (an inner router's override an outer one's, as for HTTP routes)."""
    prefix = outer + router.prefix
    merged = {**(deps or {}), **router.dependencies}
    merged_global = {**(global_deps or {}), **router.global_dependencies}
    out = [
        MountedWebSocket(normalize_path(prefix + path) if prefix else path, route, merged, merged_global)
        for path, route in router.websocket_routes
    ]
    for child in router.routers:
        out.extend(websocket_mounts(child, prefix, merged, merged_global))
    return out


def connection_parameter(fn: Callable[..., Any], taken: set[str]) -> str | None:
    """The parameter of `fn` that gets the connection, or None: annotated `WebSocket`, else named `websocket` or
    `ws`, else the first one when it is positional, bare (no annotation, no default) and not in `taken` (path
    parameters, dependencies) nor a name with a meaning of its own (`request`, `query_params`, ...)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    hints = _type_hints(fn) if any(p.annotation is not p.empty for p in params) else {}
    for p in params:
        if hints.get(p.name) is _core.WebSocket:
            return p.name
    for p in params:
        if p.name in CONNECTION_NAMES:
            return p.name
    if params:
        p = params[0]
        bare = p.annotation is p.empty and p.default is p.empty and p.kind is not p.KEYWORD_ONLY
        if bare and p.name not in taken and p.name not in BY_NAME:
            return p.name
    return None


def websocket_plan(
    fn: Callable[..., Any], path_params: set[str], router_deps: Mapping[str, Any], global_deps: Mapping[str, Any]
) -> list[Arg] | None:
    """The arguments of a WebSocket handler or hook, or None (no signature to read: called with the connection).

    >>> async def h(websocket, room: str, limit: int = 10): ...
    >>> [(a[0], a[1]) for a in websocket_plan(h, {"room"}, {}, {})]
    [(19, 'websocket'), (10, 'room'), (11, 'limit')]
    """
    taken = path_params | set(router_deps) | set(global_deps) | {"global_dependencies", "router_dependencies"}
    name = connection_parameter(fn, taken)
    return handler_plan(fn, path_params, router_deps, global_deps, {name: WEBSOCKET} if name else {})


def add_websocket_routes(engine: Any, app: App) -> None:
    """Adds every WebSocket route of `app` to `engine`, with the argument plans of its handler and hooks."""
    for mounted in websocket_mounts(app):
        route, names = mounted.route, path_param_names(mounted.path)
        callables = (route.handler, route.on_connect, route.on_close)
        plans = [
            None
            if fn is None
            else websocket_plan(fn, names, mounted.router_dependencies, mounted.global_dependencies)
            for fn in callables
        ]
        for fn, plan in zip(callables, plans, strict=True):
            if plan and any(arg[0] == BACKGROUND_TASKS for arg in plan):
                raise TypeError(
                    f"WebSocket {mounted.path}: {_name(fn)} takes BackgroundTasks, which run after an HTTP answer; "
                    "a WebSocket handler can start its own work with asyncio.create_task"
                )
            if app.sessions is None and plan and any(arg[0] == SESSION for arg in plan):
                raise ValueError(
                    f"WebSocket {mounted.path}: {_name(fn)} takes `session` but the app has no sessions: "
                    "call app.configure_sessions(secret_key) first"
                )
        engine.add_websocket_route(mounted.path, *callables, *plans)


__all__ = ["WebSocketRoute", "add_websocket_routes", "websocket_mounts", "websocket_plan", "websocket_route"]
