"""Validated models: pydantic v2 models, msgspec Structs and dataclasses (and `list[...]`, `dict[str, ...]` of them)
as request bodies and response models.

At registration each type gets a `Codec` made of the library's own native callables (pydantic's validator and
serializer, msgspec's Decoder, Encoder and convert); per request C++ calls those directly, so no framework Python
runs between the bytes and the handler, or between its result and the bytes sent. Only a failure comes back here,
to be described in FastAPI's shape (`errors`).

>>> import dataclasses
>>> @dataclasses.dataclass
... class Point:
...     x: int
>>> codec("pydantic", Point).decode(b'{"x": 1}')
Point(x=1)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

import orjson

from tiercel.optional import installed, require

MAX_INPUT_CHARS = 256  # of a refused input quoted back in a 422 (text, or the JSON of a larger value)
PYDANTIC, MSGSPEC = "pydantic", "msgspec"
# pydantic's error types that validating JSON gives where validating the parsed value (FastAPI's way) gives another
JSON_MODE_ONLY = frozenset({"model_type", "dataclass_type"})
_SHOWN_AS_IS = (int, float, bool)  # input and ctx values a 422 quotes unchanged (and short text)


def _is_pydantic_model(tp: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _is_struct(tp: Any) -> bool:
    msgspec = sys.modules.get("msgspec")
    return msgspec is not None and isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def kind_of(tp: Any) -> str | None:
    """"pydantic", "msgspec", "dataclass" for a model type or a list/dict/Optional of one; None otherwise."""
    if _is_pydantic_model(tp):
        return PYDANTIC
    if _is_struct(tp):
        return MSGSPEC
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "dataclass"
    origin = typing.get_origin(tp)
    if origin in (list, dict, typing.Union, types.UnionType, typing.Annotated):
        args = typing.get_args(tp)[:1] if origin is typing.Annotated else typing.get_args(tp)
        for arg in args:
            kind = kind_of(arg)
            if kind is not None:
                return kind
    return None


def library_for(tps: list[Any], where: str) -> str:
    """The library that validates `tps` together: msgspec for Structs, pydantic for its models; a dataclass or a
    plain type uses pydantic when it is installed, else msgspec. A ModuleNotFoundError naming the extra to install when
    neither is."""
    kinds = {kind_of(tp) for tp in tps} - {None, "dataclass"}
    if len(kinds) > 1:
        raise TypeError(f"{where}: a handler's body cannot mix pydantic models and msgspec Structs")
    if kinds:
        library = kinds.pop()
        assert library is not None
    elif installed("pydantic"):
        library = PYDANTIC
    elif installed("msgspec"):
        library = MSGSPEC
    else:
        require("pydantic", "pydantic", f"{where}: a validated body or response model")
        library = PYDANTIC
    require(library, library, f"{where}: a validated body or response model")
    return library


@dataclasses.dataclass
class Codec:
    """What Tiercel calls for one type: `decode` (JSON bytes -> value), `validate` (a Python object -> value, as
    FastAPI validates: from attributes too), `encode` (value -> JSON bytes). All native callables."""

    library: str
    type: Any
    decode: Callable[[bytes], Any]
    validate: Callable[[Any], Any]
    encode: Callable[[Any], bytes]
    members: bool = False  # a JSON object of several body parameters: each is validated as a value of its own

    def schema(self, ref_template: str = "#/components/schemas/{model}") -> dict[str, Any]:
        """The type's JSON Schema (for OpenAPI and MCP)."""
        if self.library == PYDANTIC:
            adapter = require("pydantic", "pydantic", "a JSON Schema").TypeAdapter(self.type)
            return dict(adapter.json_schema(ref_template=ref_template))
        msgspec = require("msgspec", "msgspec", "a JSON Schema")
        return dict(msgspec.json.schema(self.type, ref_template=ref_template))

    def errors(self, exc: BaseException, data: Any, prefix: tuple[str | int, ...]) -> list[dict[str, Any]] | None:
        """`exc`, the library's validation or decoding error, as FastAPI's error list (each `loc` after `prefix`);
        None when `exc` is not one of them (a bug to report as such)."""
        if self.library == PYDANTIC:
            found = _pydantic_errors(exc, data, prefix, self._python_mode_errors)
        else:
            found = _msgspec_errors(exc, data, prefix)
        if found is not None and self.members:
            for e in found:  # FastAPI validates each member alone: a missing one has no input
                if e["type"] == "missing" and len(e["loc"]) == len(prefix) + 1:
                    e["input"] = None
        return found

    def _python_mode_errors(self, data: bytes | str) -> list[dict[str, Any]] | None:
        """FastAPI parses the JSON first, then validates the Python value: where that reads otherwise than
        validating the JSON directly (an array where an object belongs), its errors are the ones to give."""
        try:
            value = orjson.loads(data)
        except ValueError:
            return None
        try:
            self.validate(value)
        except Exception as python_error:
            errors = getattr(python_error, "errors", None)
            return errors(include_url=False) if errors is not None else None
        return None


def codec(library: str, tp: Any) -> Codec:
    """The Codec of `tp` with `library` ("pydantic" or "msgspec")."""
    if library == PYDANTIC:
        pydantic = require("pydantic", "pydantic", "a validated model")
        adapter = pydantic.TypeAdapter(tp)
        validator, serializer = adapter.validator, adapter.serializer
        return Codec(
            PYDANTIC,
            tp,
            validator.validate_json,
            functools.partial(validator.validate_python, from_attributes=True),
            functools.partial(serializer.to_json, by_alias=True),
        )
    msgspec = require("msgspec", "msgspec", "a validated model")
    return Codec(
        MSGSPEC,
        tp,
        msgspec.json.Decoder(tp).decode,
        functools.partial(msgspec.convert, type=tp, strict=False, from_attributes=True),
        msgspec.json.Encoder().encode,
    )


def annotated_with_rules(library: str, tp: Any, rules: dict[str, Any]) -> Any:
    """`tp` with a marker's rules (gt, ge, lt, le, min_length, max_length, pattern) attached as `library`
    understands them: validated, and shown in its JSON Schema."""
    if not rules:
        return tp
    if library == PYDANTIC:
        return typing.Annotated[tp, require("pydantic", "pydantic", "Body rules").Field(**rules)]
    return typing.Annotated[tp, require("msgspec", "msgspec", "Body rules").Meta(**rules)]


def bounded(value: Any) -> Any:
    """`value` as a 422 quotes it: JSON-able, and never more than MAX_INPUT_CHARS of text (a larger container is
    replaced by the start of its JSON)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= MAX_INPUT_CHARS else value[:MAX_INPUT_CHARS] + "..."
    if value is None or isinstance(value, (bool, int, float)):
        return value
    try:
        text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError):
        return bounded(str(value))
    if len(text) <= MAX_INPUT_CHARS:
        return orjson.loads(text)
    return text[:MAX_INPUT_CHARS].decode("utf-8", "ignore") + "..."


def _jsonable(value: Any) -> Any:
    """A value of an error's `ctx` as FastAPI's jsonable_encoder leaves it (an exception becomes {})."""
    if isinstance(value, BaseException):
        return {}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def json_invalid(data: bytes | str, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """FastAPI's error for a body that is not JSON: the position and the problem as Python's json module says."""
    try:
        json.loads(data)
        pos, problem = 0, "Invalid JSON"
    except json.JSONDecodeError as e:
        pos, problem = e.pos, e.msg
    except (UnicodeDecodeError, ValueError) as e:
        pos, problem = 0, str(e)
    return [{"type": "json_invalid", "loc": [*prefix, pos], "msg": "JSON decode error", "input": {},
             "ctx": {"error": problem}}]  # fmt: skip


def _pydantic_errors(
    exc: BaseException,
    data: Any,
    prefix: tuple[str | int, ...],
    python_mode: Callable[[bytes | str], list[dict[str, Any]] | None],
) -> list[dict[str, Any]] | None:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(exc, pydantic.ValidationError):
        return None
    found: list[dict[str, Any]] = exc.errors(include_url=False)
    if len(found) == 1 and found[0]["type"] == "json_invalid" and not found[0]["loc"]:
        return json_invalid(data, prefix)
    if isinstance(data, (bytes, str)) and any(e["type"] in JSON_MODE_ONLY for e in found):
        found = python_mode(data) or found
    for e in found:  # pydantic's own dicts (made for this call), in FastAPI's shape: type, loc, msg, input, ctx
        e["loc"] = [*prefix, *e["loc"]]
        value = e["input"]
        if not (value is None or type(value) in _SHOWN_AS_IS or (type(value) is str and len(value) <= MAX_INPUT_CHARS)):
            e["input"] = bounded(value)
        ctx = e.get("ctx")
        if ctx is not None and not all(type(v) in _SHOWN_AS_IS or type(v) is str for v in ctx.values()):
            e["ctx"] = {k: _jsonable(v) for k, v in ctx.items()}
    return found


_MSGSPEC_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>.*)`)?$", re.S)
_MSGSPEC_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")
_MSGSPEC_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def _msgspec_errors(exc: BaseException, data: Any, prefix: tuple[str | int, ...]) -> list[dict[str, Any]] | None:
    msgspec = sys.modules.get("msgspec")
    if msgspec is None:
        return None
    if isinstance(exc, msgspec.ValidationError):
        if isinstance(data, (bytes, str)):
            try:  # msgspec checks types as it reads: a type error may come before the JSON's own error
                data = orjson.loads(data)
            except ValueError:
                return json_invalid(data, prefix)
        match = _MSGSPEC_AT.match(str(exc))
        assert match is not None
        loc: list[str | int] = []
        for m in _MSGSPEC_STEP.finditer(match["path"] or ""):
            loc.append(m[1] if m[1] is not None else int(m[2]) if m[2] is not None else "...")
        message = match["msg"]
        missing = _MSGSPEC_MISSING.match(message)
        if missing:
            return [{"type": "missing", "loc": [*prefix, *loc, missing["field"]], "msg": "Field required",
                     "input": bounded(_at(data, loc))}]  # fmt: skip
        kind = "type_error" if message.startswith("Expected `") and "got `" in message else "value_error"
        return [{"type": kind, "loc": [*prefix, *loc], "msg": message, "input": bounded(_at(data, loc))}]
    if isinstance(exc, msgspec.DecodeError):
        return json_invalid(data, prefix)
    return None


def _at(data: Any, loc: list[str | int]) -> Any:
    """The part of the input (parsed JSON, or a form) at `loc`, or None when it cannot be found."""
    for step in loc:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


__all__ = ["Codec", "annotated_with_rules", "bounded", "codec", "json_invalid", "kind_of", "library_for"]
