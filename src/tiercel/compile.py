"""The app compiled into the engine's tables: routes with their argument plans, hooks, headers, error handling, TLS,
and the answers of const routes. Runs once per engine, at start-up; per request, C++ alone uses what it made.

>>> # engine = await build_engine(app, resolve({}))
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import traceback
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from typing import Any

from tiercel import _core, docs_page
from tiercel.answers import model_of_route
from tiercel.app import App
from tiercel.config import Settings
from tiercel.exceptions import ClientDisconnected, HTTPException, WebSocketDisconnect
from tiercel.openapi_document import build_document
from tiercel.params import (
    SESSION,
    WHOLE_BODY,
    Arg,
    ParameterError,
    handler_plan,
    misnamed_path_parameters,
    path_param_names,
)
from tiercel.routers import CompiledRoute
from tiercel.routing import HTTP_METHODS, declared_at, handler_name, is_async_callable, normalize_path
from tiercel.state import await_call
from tiercel.websockets import add_websocket_routes

logger = logging.getLogger("tiercel")


def close_engine_executor(engine: _core.Engine) -> None:
    """Lets the blocking handlers' threads go (running calls finish on their own; queued ones are dropped)."""
    executor = engine.blocking_executor
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)


def metrics_max_routes(app: App) -> int:
    """An upper bound of the routes an engine of `app` has: its own, a CORS preflight per path, two per served
    directory, the metrics one."""
    routes = len(app.compiled_routes()) + docs_page.ROUTE_COUNT
    mounts = 2 * len(app.mounted_directories()) + 14 * len(app.mounted_apps())  # 7 methods x 2 paths each
    return 2 * routes + mounts + len(app.mounted_websockets()) + 2


def load_tls(engine: _core.Engine, s: Settings) -> None:
    """Gives the engine the TLS settings (when ssl_certfile is set): at start-up, and again to reload them."""
    if not s.ssl_certfile:
        for name in ("ssl_keyfile", "ssl_ca_certs", "ssl_keyfile_password", "ssl_ciphers"):
            if getattr(s, name):
                raise ValueError(f"{name} is set but ssl_certfile is not: TLS needs a certificate")
        if s.ssl_cert_reqs != "none":
            raise ValueError("ssl_cert_reqs is set but ssl_certfile is not: TLS needs a certificate")
        return
    certs = [c.strip() for c in s.ssl_certfile.split(",")]
    keys = [k.strip() for k in s.ssl_keyfile.split(",")] if s.ssl_keyfile else [""] * len(certs)
    if len(keys) != len(certs):
        raise ValueError(f"ssl_keyfile lists {len(keys)} key(s) for {len(certs)} certificate(s) in ssl_certfile")
    if s.ssl_cert_reqs != "none" and not s.ssl_ca_certs:
        raise ValueError(f"ssl_cert_reqs={s.ssl_cert_reqs} needs ssl_ca_certs (the CAs that sign client certificates)")
    password = s.ssl_keyfile_password or ""
    verify = {"none": 0, "optional": 1, "required": 2}[s.ssl_cert_reqs]
    pairs = [(c, k, password) for c, k in zip(certs, keys, strict=True)]
    engine.set_tls(pairs, s.ssl_ca_certs or "", verify, s.ssl_ciphers or "", s.http2)


_warned: weakref.WeakKeyDictionary[App, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def route_plan(app: App, compiled: CompiledRoute) -> list[Arg] | None:
    """The handler's argument plan (None: the request alone), checked against the route; a handler parameter that
    looks meant for a path parameter named differently is logged as a warning (once per app and process tree)."""
    route, path = compiled.route, compiled.path
    where = f"{route.method} {path} ({handler_name(route.handler)} at {declared_at(route.handler)})"
    try:
        plan = handler_plan(
            route.handler, path_param_names(path), compiled.router_dependencies, compiled.global_dependencies
        )
    except TypeError as e:
        raise TypeError(f"{where}: {e}") from None
    warned = _warned.setdefault(app, set())
    for message in misnamed_path_parameters(route.handler, path_param_names(path), plan):
        if (path, message) not in warned:
            warned.add((path, message))
            logger.warning("%s: %s", where, message)
    if plan is None:
        return None
    if app.sessions is None and any(arg[0] == SESSION for arg in plan):
        raise ValueError(
            f"{where}: the handler takes `session` but the app has no sessions: "
            "call app.configure_sessions(secret_key) first"
        )
    if route.const:
        raise TypeError(
            f"const route {where}: its handler runs once, at start-up, so it can take the "
            "request only, not parameters filled per request"
        )
    if route.stream_body and any(arg[0] in WHOLE_BODY for arg in plan):
        raise TypeError(
            f"{where}: a stream_body route cannot take body, raw_body, form_data or files "
            "parameters, validated bodies, forms or files (they need the whole body first): read it with "
            "`async for chunk in request.stream()` or `await request.form()`"
        )
    return plan


def check_app(app: App, settings: Settings) -> None:
    """What build_engine would refuse, found without building one (a supervisor checks before it forks workers,
    so a mistake is one message rather than one per worker)."""
    compiled_routes = app.compiled_routes()
    for compiled in compiled_routes:
        route_plan(app, compiled)
    if not settings.disable_openapi:
        build_document(app.openapi, compiled_routes)  # a document it cannot make (operation_id twice)
    load_tls(_core.Engine(), settings)


def metrics_memory(app: App, blocks: int) -> mmap.mmap:
    """Zeroed memory for `blocks` metrics blocks (shared with children forked later)."""
    return mmap.mmap(-1, blocks * _core.Engine.metrics_block_bytes(metrics_max_routes(app)))


def global_response_headers(app: App, path: str) -> list[tuple[str, str]]:
    """The app's global response headers for the route at `path` (none where the app excludes the path)."""
    if not app.response_headers or normalize_path(path) in app.excluded_response_header_paths:
        return []
    return list(app.response_headers)


async def route_spec(app: App, settings: Settings, compiled: CompiledRoute) -> _core.RouteSpec:
    """What the engine needs of one handler route: its handler and plan, hooks, authentication, response model and
    headers; a const route's result, computed here (its handler runs once)."""
    route, path = compiled.route, compiled.path
    authenticate = unauthorized = None
    if route.auth_required:
        auth = compiled.authentication_handler
        if auth is None:
            raise ValueError(
                f"{route.method} {path} has auth_required=True but neither the app nor its router has an "
                "authentication handler: call app.configure_authentication(handler) (or the router's) first"
            )
        authenticate, unauthorized = auth.authenticate, auth.unauthorized_response
    const_result = None
    if route.const:
        args = (_core.synthetic_request(route.method, path),) if route.nargs else ()
        const_result = await await_call(route.handler, *args)
    return _core.RouteSpec(
        route.method,
        path,
        handler=route.handler,
        is_async=route.is_async,
        nargs=route.nargs,
        plan=route_plan(app, compiled),
        stream_body_limit=settings.max_stream_body if route.stream_body else 0,
        answer=model_of_route(route),
        blocking=route.blocking,
        response_headers=global_response_headers(app, path),
        before=[(h.fn, h.is_async, h.nargs) for h in compiled.before],
        after=[(h.fn, h.is_async, h.nargs) for h in compiled.after],
        authenticate=authenticate,
        authenticate_is_async=authenticate is not None and is_async_callable(authenticate),
        unauthorized=unauthorized,
        is_const=route.const,
        const_result=const_result,
    )


async def build_engine(
    app: App,
    settings: Settings,
    metrics: tuple[mmap.mmap, int, int] | None = None,
    states: Mapping[str, dict[str, Any]] | None = None,
) -> _core.Engine:
    """The app compiled into an engine: routes with their argument plans, hooks, headers, error handling, and the
    results of const routes (their handlers run here, once). `metrics`: (memory, blocks, own block) when a
    supervisor shares the counters of its workers. `states`: by mount path, the lifespan state of each mounted
    ASGI app that took lifespan events (copied into its requests' scopes)."""
    s = settings
    engine = _core.Engine(
        max_request_line=s.max_request_line,
        max_header_bytes=s.max_header_bytes,
        max_header_count=s.max_header_count,
        max_body=s.max_body,
        header_timeout=float(s.header_timeout),
        keepalive_timeout=float(s.timeout_keep_alive),
        write_timeout=float(s.write_timeout),
        max_connections=s.max_connections,
        max_pipelined=s.max_pipelined,
        write_high_watermark=s.write_high_watermark,
        server_header=s.server_header,
    )
    engine.set_error_handling(
        list(app.exception_handlers), HTTPException, traceback.format_exception, s.dev, ParameterError
    )
    _core.set_form_spill_size(s.form_spill_size)
    if s.proxy_headers:
        engine.set_proxy_headers(s.forwarded_allow_ips)
    engine.set_http2(s.http2)
    load_tls(engine, s)
    if app.request_headers:
        engine.set_request_headers(app.request_headers)
    if app.response_headers:
        engine.set_default_headers(app.response_headers)
    cors = app.cors
    if cors is not None:
        engine.set_cors(
            cors.origins, cors.headers, cors.any_header, cors.credentials, cors.max_age, cors.expose_headers
        )
    if app.sessions is not None:
        engine.set_sessions(*astuple(app.sessions))
    if app.compression is not None:
        engine.set_compression(*app.compression)
    compiled_routes = app.compiled_routes()
    compiled_routes += docs_page.docs_routes(app, s, compiled_routes)  # /openapi.json, /docs: const routes, last
    # Threads start on first use: blocking=True handlers and the sync generators of streamed answers.
    executor = ThreadPoolExecutor(max_workers=s.blocking_threads, thread_name_prefix="tiercel-blocking")
    engine.set_executor(executor, asyncio.wrap_future)
    engine.add_routes([await route_spec(app, s, compiled) for compiled in compiled_routes])
    engine.set_websocket(
        WebSocketDisconnect, s.ws_max_message, s.ws_ping_interval, s.ws_ping_timeout, s.ws_idle_timeout
    )
    add_websocket_routes(engine, app)
    for prefix, directory, index, listing in app.mounted_directories():
        engine.add_static_route(prefix, directory, index, listing, global_response_headers(app, prefix))
    for prefix, asgi_app in app.mounted_apps():
        state = (states or {}).get(prefix)
        engine.add_asgi_mount(prefix, asgi_app, ClientDisconnected, global_response_headers(app, prefix), state)
    if cors is not None:
        methods: dict[str, set[str]] = {}
        for compiled in compiled_routes:
            methods.setdefault(compiled.path, set()).add(compiled.route.method)
        for path, allowed in methods.items():
            if "OPTIONS" not in allowed:  # the app's own OPTIONS route answers preflights itself
                allowed |= {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set())
                engine.add_preflight_route(path, ", ".join(m for m in HTTP_METHODS if m in allowed))
    if s.access_log:
        engine.set_access_log(True)
    if s.metrics:
        memory, blocks, own = metrics if metrics is not None else (metrics_memory(app, 2), 2, 1)
        engine.set_metrics(memory, blocks, own, metrics_max_routes(app), s.metrics)
    return engine


__all__ = [
    "build_engine",
    "check_app",
    "close_engine_executor",
    "global_response_headers",
    "load_tls",
    "metrics_max_routes",
    "metrics_memory",
    "route_plan",
    "route_spec",
]
