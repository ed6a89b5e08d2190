"""Route registration: what a decorator records, checked once, before any request.

>>> r = Route("GET", "/users/:id", lambda request: "x", const=False)
>>> r.nargs
1
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable
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


_BRACE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLASK_PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")  # Flask's <name> and <converter:name>


def route_pattern(path: str) -> str:
    """FastAPI's spelling of path parameters as Tiercel's: `{name}` -> `:name`, `{name:path}` -> `*name` (a
    catch-all); `{name:str}` is `{name}`. A malformed brace is a ValueError naming the path.

    >>> route_pattern("/items/{item_id}/files/{rest:path}")
    '/items/:item_id/files/*rest'
    """
    if not isinstance(path, str):
        return path
    flask = _FLASK_PARAMETER.search(path)
    if flask:  # '<' and '>' cannot appear in a request's path unencoded: such a route could never match
        converter, name = flask.groups()
        typed = f" and annotate the handler's parameter ({name}: {converter})" if converter in ("int", "float") else ""
        raise ValueError(
            f"route path {path!r}: {flask.group(0)!r} is Flask's spelling; write :{name} (or {{{name}}}){typed}"
        )
    if "{" not in path and "}" not in path:
        return path
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if "{" not in seg and "}" not in seg:
            continue
        if seg.count("{") != seg.count("}") or seg.find("{") > seg.find("}"):
            raise ValueError(f"route path {path!r}: unbalanced braces in {seg!r}; write a parameter as {{name}}")
        if not (seg.startswith("{") and seg.endswith("}")) or seg.count("{") != 1:
            raise ValueError(
                f"route path {path!r}: a parameter in braces is a whole segment (/files/{{name}}), "
                f"not part of one as in {seg!r}"
            )
        name, colon, converter = seg[1:-1].partition(":")
        if not _BRACE_NAME.fullmatch(name):
            raise ValueError(
                f"route path {path!r}: {seg!r} needs a parameter name (letters, digits, _), such as {{item_id}}"
            )
        if converter == "path":
            segments[i] = "*" + name
        elif not colon or converter == "str":
            segments[i] = ":" + name
        else:
            raise ValueError(
                f"route path {path!r}: unknown converter {converter!r} in {seg!r}; Tiercel knows {{{name}}} and "
                f"{{{name}:path}} (a catch-all). To get a number, write {{{name}}} and annotate the handler's "
                f"parameter ({name}: int)"
            )
    return "/".join(segments)


def normalize_path(path: str) -> str:
    """The route pattern as the router compares it: FastAPI's braces as `:name` / `*name`, one trailing slash
    dropped (except from "/" and "...//")."""
    if not isinstance(path, str):
        raise TypeError(f"the path must be a str, got {path!r}")
    if not path.startswith("/"):
        raise ValueError(f"a path must start with '/', got {path!r}")
    path = route_pattern(path)
    if len(path) > 1 and path.endswith("/") and not path.endswith("//"):
        return path[:-1]
    return path


def route_shape(path: str) -> str:
    """A pattern with its parameter names erased: two routes of one method and one shape are the same route.

    >>> route_shape("/users/{id}/") == route_shape("/users/:user_id")
    True
    """
    parts = normalize_path(path).split("/")
    return "/".join(p[:1] if p[:1] in (":", "*") else p for p in parts)


def declared_at(fn: Callable[..., Any]) -> str:
    """Where `fn` is defined, as `file:line` (relative to the current directory when under it), or its repr."""
    target = inspect.unwrap(fn) if inspect.isroutine(fn) else type(fn).__call__
    code = getattr(target, "__code__", None)
    if code is None:
        return repr(fn)
    file = code.co_filename
    rel = os.path.relpath(file) if os.path.isabs(file) else file
    return f"{file if rel.startswith('..') else rel}:{code.co_firstlineno}"


def handler_name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(type(fn), "__qualname__", repr(fn)))


def duplicate_route(
    method: str, path: str, handler: Callable[..., Any], earlier: Iterable[tuple[str, str, Callable[..., Any]]]
) -> str | None:
    """The message for `method path` declared again, naming where the first declaration is; None when none of
    `earlier` (method, full path, handler) is the same route."""
    shape = route_shape(path)
    for m, p, fn in earlier:
        if m == method and route_shape(p) == shape:
            spelled = f" (as {m} {p})" if normalize_path(p) != normalize_path(path) else ""
            return (
                f"{method} {path} is already declared{spelled} at {declared_at(fn)} (handler {handler_name(fn)}); "
                f"{handler_name(handler)} at {declared_at(handler)} declares it again: remove one, or give it "
                "another path or method"
            )
    return None


def normalize_prefix(prefix: str) -> str:
    """A router prefix: "" or "/api" (no trailing slash)."""
    if not isinstance(prefix, str):
        raise TypeError(f"a router prefix must be a str, got {prefix!r}")
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/"):
        raise ValueError(f"a router prefix must start with '/', got {prefix!r}")
    return route_pattern(prefix).rstrip("/")


UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()


@dataclass
class RouteDocs:
    """What a route declares about its answers and for the OpenAPI document (FastAPI's and Robyn's decorator
    options). `response_model` UNSET means the handler's return annotation; None means no response model."""

    status_code: int | None = None
    response_model: Any = UNSET
    responses: dict[int | str, Any] | None = None
    deprecated: bool = False
    include_in_schema: bool = True
    summary: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    operation_id: str | None = None
    response_description: str = "Successful Response"
    openapi_extra: dict[str, Any] | None = None  # merged into the operation (FastAPI's), e.g. a "requestBody"


# Robyn's names for RouteDocs' fields, and options accepted for compatibility that change nothing here.
DOC_ALIASES = {"openapi_name": "summary", "openapi_tags": "tags"}
IGNORED_OPTIONS = {"name", "response_class", "dependencies", "callbacks"}


def route_docs(options: dict[str, Any]) -> dict[str, Any]:
    """A decorator's keyword options as RouteDocs fields, checked; an unknown option is a TypeError naming it."""
    known = set(RouteDocs.__dataclass_fields__)
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in IGNORED_OPTIONS:
            continue
        field_name = DOC_ALIASES.get(key, key)
        if field_name not in known:
            choices = ", ".join(sorted(known | set(DOC_ALIASES)))
            raise TypeError(f"unknown route option {key!r}; a route takes const, auth_required, blocking, "
                            f"stream_body and {choices}")
        if key == "openapi_name" and not value:
            continue
        out[field_name] = list(value) if field_name == "tags" and value is not None else value
    extra = out.get("openapi_extra")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"openapi_extra is a dict merged into the route's OpenAPI operation, got {extra!r}")
    status = out.get("status_code")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise ValueError(f"status_code is an HTTP status (100-599), got {status!r}")
    return out


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    const: bool = False
    auth_required: bool = False
    blocking: bool = False
    stream_body: bool = False
    docs: RouteDocs = field(default_factory=RouteDocs)
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
