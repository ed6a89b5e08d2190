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


def _positional_count(handler: Handler) -> int:
    """How many positional arguments the engine passes: 1 (the request) or 0."""
    try:
        sig = inspect.signature(handler)
    except (TypeError, ValueError):
        return 1  # builtins and C callables without a signature get the request
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_positional = any(p.kind is p.VAR_POSITIONAL for p in params)
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 1:
        names = ", ".join(p.name for p in required)
        raise TypeError(
            f"handler {handler.__qualname__}({names}) requires {len(required)} arguments; "
            "Tiercel calls a handler with the request only: use `def handler(request)` "
            "or give the other parameters defaults"
        )
    return 1 if positional or var_positional else 0


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    const: bool = False
    is_async: bool = field(init=False)
    nargs: int = field(init=False)

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise TypeError(f"the handler for {self.method} {self.path} must be callable, got {self.handler!r}")
        self.is_async = inspect.iscoroutinefunction(self.handler)
        self.nargs = _positional_count(self.handler)


def normalize_method(method: str) -> str:
    m = method.upper() if isinstance(method, str) else method
    if m not in HTTP_METHODS:
        raise ValueError(f"unknown HTTP method {method!r}; use one of {', '.join(HTTP_METHODS)}")
    return m
