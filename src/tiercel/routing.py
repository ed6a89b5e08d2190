"""Route registration: what a decorator records, checked once, before any request.

>>> r = Route("GET", "/users/:id", lambda request: "x", const=False)
>>> r.nargs
1
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")

Handler = Callable[..., Any]


def positional_count(fn: Callable[..., Any], most: int = 1, what: str = "handler", usage: str = "") -> int:
    """How many positional arguments the engine passes to `fn`: as many as it takes, up to `most`."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return most  # builtins and C callables without a signature get every argument
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_positional = any(p.kind is p.VAR_POSITIONAL for p in params)
    required = [p for p in positional if p.default is p.empty]
    if len(required) > most:
        names = ", ".join(p.name for p in required)
        usage = usage or "Tiercel calls a handler with the request only: use `def handler(request)`"
        raise TypeError(
            f"{what} {getattr(fn, '__qualname__', fn)!s}({names}) requires {len(required)} arguments; "
            f"{usage} or give the other parameters defaults"
        )
    return most if var_positional else min(len(positional), most)


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """True for `async def` functions and for objects whose `__call__` is one."""
    call = type(fn).__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))


def normalize_path(path: str) -> str:
    """The route pattern as the router compares it: one trailing slash dropped (except from "/" and "...//")."""
    if not isinstance(path, str):
        raise TypeError(f"the path must be a str, got {path!r}")
    if not path.startswith("/"):
        raise ValueError(f"a path must start with '/', got {path!r}")
    if len(path) > 1 and path.endswith("/") and not path.endswith("//"):
        return path[:-1]
    return path


def normalize_prefix(prefix: str) -> str:
    """A router prefix: "" or "/api" (no trailing slash)."""
    if not isinstance(prefix, str):
        raise TypeError(f"a router prefix must be a str, got {prefix!r}")
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/"):
        raise ValueError(f"a router prefix must start with '/', got {prefix!r}")
    return prefix.rstrip("/")


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    const: bool = False
    auth_required: bool = False
    blocking: bool = False
    stream_body: bool = False
    is_async: bool = field(init=False)
    nargs: int = field(init=False)

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise TypeError(f"the handler for {self.method} {self.path} must be callable, got {self.handler!r}")
        self.is_async = is_async_callable(self.handler)
        if self.blocking and self.is_async:
            raise TypeError(
                f"{self.method} {self.path}: blocking=True runs a sync handler in a thread; "
                f"{getattr(self.handler, '__qualname__', self.handler)} is async (await instead of blocking)"
            )
        if self.blocking and self.const:
            raise TypeError(f"{self.method} {self.path}: a const route runs once at start-up; it cannot be blocking")
        if self.stream_body and (self.const or not self.is_async):
            raise TypeError(
                f"{self.method} {self.path}: stream_body=True needs an async handler, which reads the body with "
                f"`async for chunk in request.stream()` or `await request.form()`; "
                f"{getattr(self.handler, '__qualname__', self.handler)} is {'const' if self.const else 'sync'}"
            )
        # The fast path passes the request to a handler that takes one positional parameter; other signatures
        # get their arguments from the plan tiercel.params makes at start-up.
        try:
            self.nargs = positional_count(self.handler)
        except TypeError:
            self.nargs = 1


@dataclass
class Hook:
    """A before- or after-request hook; `path` None means every route."""

    kind: str  # "before" or "after"
    fn: Callable[..., Any]
    path: str | None
    is_async: bool = field(init=False)
    nargs: int = field(init=False)

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"a {self.kind}-request hook must be callable, got {self.fn!r}")
        self.is_async = is_async_callable(self.fn)
        if self.kind == "before":
            usage = "a before-request hook is called with the request: use `def hook(request)`"
            self.nargs = positional_count(self.fn, 1, "before-request hook", usage)
        else:
            usage = (
                "an after-request hook is called with the response, or the request and the response: "
                "use `def hook(response)` or `def hook(request, response)`"
            )
            self.nargs = positional_count(self.fn, 2, "after-request hook", usage)


def normalize_method(method: str) -> str:
    m = method.upper() if isinstance(method, str) else method
    if m not in HTTP_METHODS:
        raise ValueError(f"unknown HTTP method {method!r}; use one of {', '.join(HTTP_METHODS)}")
    return m
