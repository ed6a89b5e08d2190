"""Handler parameters: what each parameter of a handler receives, decided once, at registration.

The result is a plan of plain tuples the engine keeps; per request, C++ fills the arguments from it
(no framework Python runs). A handler is given parameters

* by name: `request`, `query_params`, `headers`, `path_params`, `body`, `raw_body`, `method`, `url`,
  `ip_addr`, `cookies`, `identity`, `session`, `form_data`, `files`, `global_dependencies`, `router_dependencies`;
* by annotation: `Request`, `QueryParams`, `Headers`, `Url`, `Identity`, `BackgroundTasks` (work to run once the
  answer is written, as in FastAPI), and Robyn's markers from tiercel.types
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
from dataclasses import dataclass
from typing import Any

from tiercel import _core, fields
from tiercel import types as types_
from tiercel.exceptions import ClientError
from tiercel.models import kind_of
from tiercel.optional import installed

# Where an argument comes from (the engine's ArgSource).
REQUEST, QUERY_PARAMS, HEADERS, PATH_PARAMS, BODY, METHOD, URL, IP_ADDR, COOKIES, VALUE = range(10)
PATH, QUERY, QUERY_LIST, IDENTITY, RAW_BODY, SESSION, FORM_DATA, FILES, JSON = range(10, 19)
BACKGROUND_TASKS = 20  # the request's BackgroundTasks (19 is the WebSocket's, tiercel/websockets.py)
# FastAPI's markers and validated models (tiercel.fields, tiercel.body_plan).
MODEL, BODY_FIELD, HEADER, COOKIE, FORM_FIELD, FORM_MODEL, FILE, FILE_LIST = range(21, 29)
# The sources that need the whole body (not on a stream_body route).
WHOLE_BODY = (BODY, RAW_BODY, FORM_DATA, FILES, JSON, MODEL, BODY_FIELD, FORM_FIELD, FORM_MODEL, FILE, FILE_LIST)
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
    _core.BackgroundTasks: BACKGROUND_TASKS,
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

# An argument: (source, name, conversion, extra, default, has_default, keyword, check). `check` is None, or for a
# value validated as FastAPI does (a 422 listing every refusal): {"loc": "query", "key": name in the request, and the
# rules gt/ge/lt/le/min_length/max_length/pattern (with "search", the compiled pattern's search), "explain":
# text -> FastAPI's error list, for conversions by call}.
Arg = tuple[Any, ...]

class ParameterError(ClientError):
    """A plain typed path or query parameter (`def h(page: int)`, Robyn's way) is missing or has a value its
    annotation refuses: a 400 that names it. Parameters declared with FastAPI's markers (Query, Path, ...) and
    validated bodies are refused with a RequestValidationError (a 422 listing every refusal) instead."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(400, message)
        self.parameter = parameter


@dataclass
class ParamInfo:
    """What a handler parameter takes from the request, for the OpenAPI document. `location` is "path", "query",
    "header", "cookie", "body", "form" or "file" (None: a request part, the request itself or a dependency);
    `key` the name the request uses (an alias, a header's dashed name)."""

    name: str
    location: str | None
    key: str
    annotation: Any
    required: bool
    default: Any
    marker: fields.Param | None
    is_list: bool = False


def path_param_names(path: str) -> set[str]:
    """The names of a route pattern's parameters: /users/:id/*rest -> {"id", "rest"}."""
    return {seg[1:] for seg in path.split("/") if seg[:1] in (":", "*") and len(seg) > 1}


def _expected(values: list[Any]) -> str:
    """pydantic's wording of a choice: "'a', 'b' or 'c'"."""
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def conversion(annotation: Any, where: str) -> tuple[int, Any, bool, dict[str, Any]]:
    """(conversion, extra, is_list, what a refusal says) for a parameter's annotation (Optional already removed)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset) or annotation in (list,):
        args = typing.get_args(annotation)
        if origin is not list and annotation is not list:
            raise TypeError(f"{where}: use list[T] for a repeated query parameter, not {annotation!r}")
        conv, extra, nested, refusal = conversion(args[0] if args else str, where)
        if nested:
            raise TypeError(f"{where}: a list of lists cannot come from a query string")
        return conv, extra, True, refusal
    if annotation is inspect.Parameter.empty or annotation is str or annotation is Any:
        return AS_STR, None, False, {}
    if annotation is bool:
        return AS_BOOL, None, False, {}
    if annotation is int:
        return AS_INT, None, False, {}
    if annotation is float:
        return AS_FLOAT, None, False, {}
    if origin is typing.Literal:
        values = list(typing.get_args(annotation))
        table = {str(v).lower() if isinstance(v, bool) else str(v): v for v in values}
        expected = _expected(values)
        return BY_LOOKUP, (table, "one of " + expected), False, {"refused": "literal_error", "expected": expected}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        table = {str(m.value): m for m in annotation}
        if len(table) != len(annotation):
            raise TypeError(f"{where}: the values of {annotation.__name__} are not distinct as text")
        expected = _expected([m.value for m in annotation])
        return BY_LOOKUP, (table, "one of " + ", ".join(repr(k) for k in table)), False, {
            "refused": "enum", "expected": expected}  # fmt: skip
    if annotation in CALLED:
        return BY_CALL, CALLED[annotation], False, {"explain": _explainer(annotation, CALLED[annotation][1])}
    raise TypeError(f"{where}: cannot convert a path or query value to {annotation!r}; use {SUPPORTED}")


def _explainer(tp: Any, description: str) -> Callable[[str], list[dict[str, Any]]]:
    """For a value refused by a conversion by call: FastAPI's error list for it (pydantic's own words when
    pydantic is installed). Runs only when a value is refused."""

    def explain(text: str) -> list[dict[str, Any]]:
        pydantic = installed("pydantic")
        if pydantic is not None:
            try:
                pydantic.TypeAdapter(tp).validate_python(text)
            except pydantic.ValidationError as e:
                return [{k: v for k, v in err.items() if k != "loc"} for err in e.errors(include_url=False)]
        return [{"type": "value_error", "msg": f"Input should be {description}", "input": text}]

    return explain


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """(T, True) for Optional[T] / T | None, else (annotation, False)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != len(typing.get_args(annotation)):
            if len(args) != 1:
                raise TypeError(f"a parameter may be Optional of one type, not {annotation!r}")
            return args[0], True
        if kind_of(annotation) is None:
            raise TypeError(f"a path or query parameter cannot be a Union ({annotation!r}); use one type")
    return annotation, False


def _split_annotated(annotation: Any) -> tuple[Any, fields.Param | None]:
    """(the type, the marker) of `Annotated[T, Query(...)]`; (annotation, None) when it has none."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return annotation, None
    base, *extras = typing.get_args(annotation)
    markers = [e for e in extras if isinstance(e, fields.Param)]
    if len(markers) > 1:
        raise TypeError(f"a parameter takes one of Query, Path, Header, Cookie, Body, Form, File; got {markers}")
    return base, (markers[0] if markers else None)


def _validated(ann: Any) -> bool:
    """A model (or a list/dict/Optional of one) or UploadFile: what FastAPI validates, whatever the name."""
    try:
        inner = _strip_optional(ann)[0]
    except TypeError:
        return False
    return kind_of(inner) is not None or upload_kind(inner)[0]


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
        return typing.get_type_hints(target, include_extras=True)
    except Exception as e:  # a name the annotation uses is not importable at run time
        raise TypeError(f"cannot resolve the annotations of {getattr(fn, '__qualname__', fn)}: {e}") from None


def value_check(location: str, key: str, marker: fields.Param | None, refusal: dict[str, Any]) -> dict[str, Any]:
    """The `check` of a value validated as FastAPI does: where it is, its rules, what a refusal says."""
    check: dict[str, Any] = {"loc": location, "key": key, **refusal}
    if marker is not None:
        check.update(marker.rules())
        if marker.pattern is not None:
            check["search"] = re.compile(marker.pattern).search
    return check


def upload_kind(tp: Any) -> tuple[bool, bool]:
    """(is a file parameter, is a list of them) for UploadFile, list[UploadFile], bytes with File()."""
    if tp is _core.UploadFile:
        return True, False
    if typing.get_origin(tp) is list and typing.get_args(tp) and typing.get_args(tp)[0] is _core.UploadFile:
        return True, True
    return False, False


def describe_parameters(
    fn: Callable[..., Any], path_params: set[str], router_deps: Mapping[str, Any], global_deps: Mapping[str, Any]
) -> list[ParamInfo]:
    """What each parameter of `fn` takes from the request (for the OpenAPI document)."""
    infos: list[ParamInfo] = []
    handler_plan(fn, path_params, router_deps, global_deps, infos=infos)
    return infos


def handler_plan(
    fn: Callable[..., Any],
    path_params: set[str],
    router_deps: Mapping[str, Any],
    global_deps: Mapping[str, Any],
    sources: Mapping[str, int] | None = None,
    infos: list[ParamInfo] | None = None,
) -> list[Arg] | None:
    """The handler's arguments, or None when it takes at most the request, positionally (the engine's fast
    path). `sources` names parameters whose source the caller decides (a WebSocket handler's connection); with
    it, the plan is always returned. `infos`, when given, receives what each parameter takes (ParamInfo)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: called with the request
    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    hints = _type_hints(fn) if any(p.annotation is not p.empty for p in params) else {}
    name = getattr(fn, "__qualname__", repr(fn))
    plan: list[Arg] = []
    bodies: list[tuple[int, ParamInfo]] = []  # the body parameters: their place in the plan, and what they are
    infos = infos if infos is not None else []
    plain: list[int] = []  # typed path and query parameters without a marker
    skipped = False  # a parameter left to its default: the ones after it are passed by keyword
    for p in params:
        ann, marker = _split_annotated(hints.get(p.name, p.empty))
        if marker is None and isinstance(p.default, fields.Param):
            marker = p.default  # FastAPI's older spelling: `q: int = Query(1, ge=0)`
        has_default = p.default is not p.empty
        default = p.default if has_default else None
        if marker is not None and not marker.required:
            has_default, default = True, marker.default
        elif marker is not None and isinstance(p.default, fields.Param):
            has_default, default = False, None  # `q: int = Query()`: required
        keyword = p.kind is p.KEYWORD_ONLY or skipped
        where = f"parameter {p.name!r} of {name}"
        source = sources.get(p.name) if sources else None
        if source is None and marker is None:
            source = _source_of_annotation(ann)
        if source is None and marker is None and not _validated(ann):  # `body: Item` is the validated body
            source = BY_NAME.get(p.name)
            if source == BODY and ann is bytes:
                source = RAW_BODY
        bare = marker is None and ann is p.empty
        if source is None and bare and p.name in REQUEST_NAMES and p.name not in path_params:
            source = REQUEST
        inner, optional = _strip_optional(ann) if ann is not p.empty else (ann, False)
        if optional and not has_default:
            has_default = True  # `q: str | None` means "may be absent"
        location = marker.location if marker is not None else None
        injected = marker is None and (p.name in router_deps or p.name in global_deps)  # its name wins over its type
        modelled = kind_of(inner) is not None or upload_kind(inner)[0]
        if location is None and source is None and not injected and modelled:
            location = "file" if upload_kind(inner)[0] else "body"  # a model (or UploadFile) needs no marker
        if location is None and source is None and p.name in path_params:
            location = "path"
        if source is not None:
            arg: Arg = (source, p.name, AS_STR, None, default, has_default, keyword, None)
        elif location in ("body", "form", "file"):
            key = marker.alias if marker is not None and marker.alias else p.name
            info = ParamInfo(p.name, location, key, inner, not has_default, default, marker)
            arg = (-1, p.name, AS_STR, None, default, has_default, keyword, None)  # filled by body_plan
            bodies.append((len(plan), info))
            infos.append(info)
        elif location is None and p.name == "global_dependencies":
            arg = (VALUE, p.name, AS_STR, dict(global_deps), None, False, keyword, None)
        elif location is None and p.name == "router_dependencies":
            arg = (VALUE, p.name, AS_STR, dict(router_deps), None, False, keyword, None)
        elif location is None and (p.name in router_deps or p.name in global_deps):
            value = router_deps[p.name] if p.name in router_deps else global_deps[p.name]
            arg = (VALUE, p.name, AS_STR, value, None, False, keyword, None)
        elif location is None and len(params) == 1 and ann is p.empty and not has_default:
            # Robyn's and Flask's `def handler(req)`: a lone, bare parameter is the request, whatever its name.
            arg = (REQUEST, p.name, AS_STR, None, None, False, keyword, None)
        elif location is None and ann is p.empty and has_default:
            # `def h(request, retries=3)` or a closure's `m=m`: not a query parameter unless annotated.
            skipped = True
            continue
        else:
            location = location or "query"
            if location == "path" and p.name not in path_params and not (marker and marker.alias in path_params):
                raise TypeError(f"{where}: Path() names a path parameter, and the route has none called {p.name!r}")
            conv, extra, is_list, refusal = conversion(inner, where)
            key = marker.alias if marker is not None and marker.alias else p.name
            if location == "header" and not (marker and marker.alias):
                convert = getattr(marker, "convert_underscores", True)
                key = p.name.replace("_", "-") if convert else p.name
            if location == "path" and is_list:
                raise TypeError(f"{where}: a path parameter holds one value, not a list")
            if is_list and location != "query":
                raise TypeError(f"{where}: only a query parameter may repeat (list[T])")
            src = {"path": PATH, "query": QUERY_LIST if is_list else QUERY, "header": HEADER, "cookie": COOKIE}
            check = value_check(location, key, marker, refusal)
            if marker is None:
                plain.append(len(plan))
            arg = (src[location], p.name, conv, extra, default, has_default, keyword, check)
            infos.append(ParamInfo(p.name, location, key, inner, not has_default, default, marker, is_list))
        if keyword and p.kind is p.POSITIONAL_ONLY:
            raise TypeError(
                f"{name}: positional-only parameter {p.name!r} follows one Tiercel leaves to its default; "
                "give it a default too, or annotate the earlier one"
            )
        plan.append(arg)
    if not bodies and all(info.marker is None for info in infos):
        # A handler written Robyn's way (no marker, no model): its refused values answer 400 naming the first one.
        # One written FastAPI's way answers 422 listing every refusal, its plain parameters included.
        for i in plain:
            plan[i] = (*plan[i][:7], None)
    if bodies:
        from tiercel.body_plan import fill_body_arguments  # it uses this module's sources and conversions

        fill_body_arguments(plan, bodies, name)
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


__all__ = [
    "ParamInfo",
    "ParameterError",
    "describe_parameters",
    "handler_plan",
    "misnamed_path_parameters",
    "path_param_names",
]
