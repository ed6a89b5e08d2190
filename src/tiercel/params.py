"""Handler parameters: what each parameter of a handler receives, decided once, at registration.

The result is a plan of plain tuples the engine keeps; per request, C++ fills the arguments from it
(no framework Python runs). A handler is given parameters

* by name: `request`, `query_params`, `headers`, `path_params`, `body`, `raw_body`, `method`, `url`,
  `ip_addr`, `cookies`, `identity`, `session`, `form_data`, `files`, `global_dependencies`, `router_dependencies`;
* by annotation: `Request`, `QueryParams`, `Headers`, `Url`, `Identity`, and Robyn's markers from tiercel.types
  (`Body`, `JsonBody` and TypedDicts — the body parsed as JSON —, `PathParams`, `Method`, `FormData`, `Files`,
  `IPAddress`); `r` and `req` unannotated are the request, as in Robyn;
* by the name of an injected dependency (`app.inject(db=pool)` then `def h(db)`);
* by the name of a path parameter (`/users/:user_id` then `def h(user_id: int)`);
* any other annotated parameter, or one without a default, is a query parameter
  (`def h(page: int = 1, tags: list[str] | None = None)`); an unannotated one with a default is left to it.

Values are converted to the annotation (`str`, `int`, `float`, `bool`, an `Enum`, `UUID`, `Decimal`, `date`,
`datetime`, `list[T]`, `Optional[T]`); a missing or unconvertible value is a 400 that names the parameter.

>>> def h(user_id: int, q: str | None = None): ...
>>> [(a[0], a[1]) for a in handler_plan(h, {"user_id"}, {}, {})]
[(10, 'user_id'), (11, 'q')]
"""

from __future__ import annotations

import datetime
import decimal
import difflib
import enum
import inspect
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tiercel import _core
from tiercel import types as types_
from tiercel.exceptions import ClientError

# Where an argument comes from (the engine's ArgSource).
REQUEST, QUERY_PARAMS, HEADERS, PATH_PARAMS, BODY, METHOD, URL, IP_ADDR, COOKIES, VALUE = range(10)
PATH, QUERY, QUERY_LIST, IDENTITY, RAW_BODY, SESSION, FORM_DATA, FILES, JSON = range(10, 19)
# How a path or query value (a str) becomes the argument (the engine's Conversion).
AS_STR, AS_INT, AS_FLOAT, AS_BOOL, BY_CALL, BY_LOOKUP = range(6)

BY_NAME = {
    "request": REQUEST,
    "query_params": QUERY_PARAMS,
    "headers": HEADERS,
    "path_params": PATH_PARAMS,
    "body": BODY,
    "raw_body": RAW_BODY,
    "method": METHOD,
    "url": URL,
    "ip_addr": IP_ADDR,
    "cookies": COOKIES,
    "identity": IDENTITY,
    "session": SESSION,
    "form_data": FORM_DATA,
    "files": FILES,
}
BY_ANNOTATION: dict[Any, int] = {
    _core.Request: REQUEST,
    _core.QueryParams: QUERY_PARAMS,
    _core.Headers: HEADERS,
    _core.Url: URL,
    _core.Identity: IDENTITY,
    types_.PathParams: PATH_PARAMS,
    types_.Method: METHOD,
    types_.FormData: FORM_DATA,
    types_.Files: FILES,
    types_.IPAddress: IP_ADDR,
}
REQUEST_NAMES = ("r", "req")  # Robyn's short names for an unannotated request parameter
# Types converted by calling them (or their parser) with the text: (callable, what the value must be).
CALLED: dict[Any, tuple[Callable[[str], Any], str]] = {
    uuid.UUID: (uuid.UUID, "a UUID"),
    decimal.Decimal: (decimal.Decimal, "a decimal number"),
    datetime.datetime: (datetime.datetime.fromisoformat, "an ISO 8601 date and time"),
    datetime.date: (datetime.date.fromisoformat, "an ISO 8601 date (YYYY-MM-DD)"),
    datetime.time: (datetime.time.fromisoformat, "an ISO 8601 time"),
}
SUPPORTED = "str, int, float, bool, an Enum, UUID, Decimal, date, datetime, time, list[T] or Optional[T]"

# An argument: (source, name, conversion, extra, default, has_default, keyword).
Arg = tuple[int, str, int, Any, Any, bool, bool]


class ParameterError(ClientError):
    """A path or query parameter is missing or has a value its annotation refuses: a 400 that names it."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(400, message)
        self.parameter = parameter


def path_param_names(path: str) -> set[str]:
    """The names of a route pattern's parameters: /users/:id/*rest -> {"id", "rest"}."""
    return {seg[1:] for seg in path.split("/") if seg[:1] in (":", "*") and len(seg) > 1}


def _conversion(annotation: Any, where: str) -> tuple[int, Any, bool]:
    """(conversion, extra, is_list) for a parameter's annotation (Optional already removed)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset) or annotation in (list,):
        args = typing.get_args(annotation)
        if origin is not list and annotation is not list:
            raise TypeError(f"{where}: use list[T] for a repeated query parameter, not {annotation!r}")
        conv, extra, nested = _conversion(args[0] if args else str, where)
        if nested:
            raise TypeError(f"{where}: a list of lists cannot come from a query string")
        return conv, extra, True
    if annotation is inspect.Parameter.empty or annotation is str or annotation is Any:
        return AS_STR, None, False
    if annotation is bool:
        return AS_BOOL, None, False
    if annotation is int:
        return AS_INT, None, False
    if annotation is float:
        return AS_FLOAT, None, False
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        table = {str(m.value): m for m in annotation}
        if len(table) != len(annotation):
            raise TypeError(f"{where}: the values of {annotation.__name__} are not distinct as text")
        return BY_LOOKUP, (table, "one of " + ", ".join(repr(k) for k in table)), False
    if annotation in CALLED:
        return BY_CALL, CALLED[annotation], False
    raise TypeError(f"{where}: cannot convert a path or query value to {annotation!r}; use {SUPPORTED}")


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """(T, True) for Optional[T] / T | None, else (annotation, False)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != len(typing.get_args(annotation)):
            if len(args) != 1:
                raise TypeError(f"a parameter may be Optional of one type, not {annotation!r}")
            return args[0], True
        raise TypeError(f"a path or query parameter cannot be a Union ({annotation!r}); use one type")
    return annotation, False


def _source_of_annotation(ann: Any) -> int | None:
    """The request part a parameter annotated `ann` receives (tiercel.types' markers, Robyn's), or None."""
    source = BY_ANNOTATION.get(ann)
    if source is not None or not inspect.isclass(ann):
        return source
    if issubclass(ann, types_.JsonBody) or typing.is_typeddict(ann):
        return JSON
    if issubclass(ann, types_.Body):
        return BODY
    if issubclass(ann, _core.QueryParams):
        return QUERY_PARAMS
    return None


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn if inspect.isroutine(fn) else type(fn).__call__
    try:
        return typing.get_type_hints(target)
    except Exception as e:  # a name the annotation uses is not importable at run time
        raise TypeError(f"cannot resolve the annotations of {getattr(fn, '__qualname__', fn)}: {e}") from None


def handler_plan(
    fn: Callable[..., Any],
    path_params: set[str],
    router_deps: Mapping[str, Any],
    global_deps: Mapping[str, Any],
    sources: Mapping[str, int] | None = None,
) -> list[Arg] | None:
    """The handler's arguments, or None when it takes at most the request, positionally (the engine's fast
    path). `sources` names parameters whose source the caller decides (a WebSocket handler's connection); with
    it, the plan is always returned."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: called with the request
    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    hints = _type_hints(fn) if any(p.annotation is not p.empty for p in params) else {}
    name = getattr(fn, "__qualname__", repr(fn))
    plan: list[Arg] = []
    skipped = False  # a parameter left to its default: the ones after it are passed by keyword
    for p in params:
        ann = hints.get(p.name, p.empty)
        has_default = p.default is not p.empty
        default = p.default if has_default else None
        keyword = p.kind is p.KEYWORD_ONLY or skipped
        source = sources.get(p.name) if sources else None
        if source is None:
            source = _source_of_annotation(ann)
        if source is None:
            source = BY_NAME.get(p.name)
            if source == BODY and ann is bytes:
                source = RAW_BODY
        if source is None and p.name in REQUEST_NAMES and ann is p.empty and p.name not in path_params:
            source = REQUEST
        if source is not None:
            arg: Arg = (source, p.name, AS_STR, None, default, has_default, keyword)
        elif p.name == "global_dependencies":
            arg = (VALUE, p.name, AS_STR, dict(global_deps), None, False, keyword)
        elif p.name == "router_dependencies":
            arg = (VALUE, p.name, AS_STR, dict(router_deps), None, False, keyword)
        elif p.name in router_deps or p.name in global_deps:
            value = router_deps[p.name] if p.name in router_deps else global_deps[p.name]
            arg = (VALUE, p.name, AS_STR, value, None, False, keyword)
        elif len(params) == 1 and ann is p.empty and not has_default and p.name not in path_params:
            # Robyn's and Flask's `def handler(req)`: a lone, bare parameter is the request, whatever its name.
            arg = (REQUEST, p.name, AS_STR, None, None, False, keyword)
        elif ann is p.empty and has_default and p.name not in path_params:
            # `def h(request, retries=3)` or a closure's `m=m`: not a query parameter unless annotated.
            skipped = True
            continue
        else:
            inner, optional = _strip_optional(ann)
            if optional and not has_default:
                has_default = True  # `q: str | None` means "may be absent"
            where = f"parameter {p.name!r} of {name}"
            conv, extra, is_list = _conversion(inner, where)
            if p.name in path_params:
                if is_list:
                    raise TypeError(f"{where}: a path parameter holds one value, not a list")
                arg = (PATH, p.name, conv, extra, default, has_default, keyword)
            else:
                arg = (QUERY_LIST if is_list else QUERY, p.name, conv, extra, default, has_default, keyword)
        if keyword and p.kind is p.POSITIONAL_ONLY:
            raise TypeError(
                f"{name}: positional-only parameter {p.name!r} follows one Tiercel leaves to its default; "
                "give it a default too, or annotate the earlier one"
            )
        plan.append(arg)
    if sources is not None:
        return plan  # a WebSocket callable: always called by its plan (there is no request-only fast path)
    if not plan:
        return None
    if len(plan) == 1 and plan[0][0] == REQUEST and not plan[0][6]:
        return None
    return plan


def _words(name: str) -> set[str]:
    """`user_id`, `userId` -> {"user", "id"}."""
    return {w.lower() for w in re.split(r"_|(?<=[a-z0-9])(?=[A-Z])", name) if w}


def _looks_alike(parameter: str, path_name: str) -> bool:
    """`user_id` and `id`, `itemId` and `item_id`, `item_di` and `item_id`: one name probably meant as the other."""
    a, b = parameter.lower().replace("_", ""), path_name.lower().replace("_", "")
    return a == b or bool(_words(parameter) & _words(path_name)) or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def misnamed_path_parameters(fn: Callable[..., Any], path_params: set[str], plan: list[Arg] | None) -> list[str]:
    """Warnings for handler parameters that look meant for a path parameter the route names differently
    (`/users/:id` with `def h(user_id: int)`: `user_id` is read from the query string, `id` from nowhere)."""
    if not path_params:
        return []
    if plan is None:  # the request alone: a lone bare parameter named like a path parameter gets the request
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return []
        if len(params) != 1 or params[0].name in BY_NAME or params[0].name in ("req", "r"):
            return []
        candidates = [(params[0].name, "gets the request (a lone parameter without annotation is the request)")]
        unused = set(path_params)
    else:
        unused = path_params - {a[1] for a in plan if a[0] == PATH}
        candidates = [
            (a[1], "is read from the query string" + ("" if a[5] else " (required there)"))
            for a in plan
            if a[0] in (QUERY, QUERY_LIST)
        ]
    out = []
    for parameter, fate in candidates:
        alike = sorted(p for p in unused if _looks_alike(parameter, p))
        if alike:
            names = " or ".join(f"{p!r}" for p in alike)
            out.append(
                f"parameter {parameter!r} {fate}; the path names its parameter {names}: rename one of them if "
                f"{parameter!r} is meant to be the path's"
            )
    return out


__all__ = ["ParameterError", "handler_plan", "misnamed_path_parameters", "path_param_names"]
