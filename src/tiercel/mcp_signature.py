"""A function's parameters as JSON Schema, and JSON values turned back into those parameters' types.

What the MCP endpoint tells a client about a tool (its `inputSchema`), and how it checks the arguments the client
sends, both come from the handler's type hints, read once at registration. `int`, `float`, `str`, `bool`, `None`,
`Optional`/unions, `list[T]`/`tuple[T, ...]`/`set[T]`, `dict[str, T]`, `Literal` and `Enum` are handled here; any
other type (a pydantic model, a dataclass, a TypedDict, `datetime`, ...) goes through pydantic's `TypeAdapter`.

>>> def add(a: int, b: float = 1.5) -> float:
...     '''Adds two numbers.
...
...     Args:
...         a: the first one
...     '''
>>> sig = Signature(add)
>>> sig.schema["properties"]["a"], sig.schema["required"]
({'type': 'integer', 'description': 'the first one'}, ['a'])
>>> sig.bind({"a": 2})
{'a': 2}
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from tiercel.optional import require

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_SEQUENCES = (list, tuple, set, frozenset)
_ARGS_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:\s*$")
_GOOGLE_ARG = re.compile(r"^\s+(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_ARG = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|Notes?)\s*:\s*$")


class ArgumentError(ValueError):
    """An argument the client sent does not fit the parameter (the message says which and why)."""


def describe(fn: Callable[..., Any]) -> tuple[str | None, dict[str, str]]:
    """(summary, {parameter: description}) from `fn`'s docstring: the text before its first section, and the
    entries of a Google-style `Args:` section or Sphinx `:param name:` lines."""
    doc = inspect.getdoc(fn)
    if not doc:
        return None, {}
    summary: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None  # the parameter whose description a continuation line extends
    section: str | None = None  # None (the summary), "args" or "other"
    arg_indent: int | None = None
    for line in doc.splitlines():
        if m := _SPHINX_ARG.match(line):
            section, current = "other", m.group(1)
            params[current] = m.group(2).strip()
        elif _SECTION.match(line) or line.lstrip().startswith(":"):
            section, current, arg_indent = ("args" if _ARGS_SECTION.match(line) else "other"), None, None
        elif section is None:
            summary.append(line)
        elif (
            section == "args" and (m := _GOOGLE_ARG.match(line)) and (arg_indent is None or _indent(line) == arg_indent)
        ):
            arg_indent, current = _indent(line), m.group(1).lstrip("*")
            params[current] = m.group(3).strip()
        elif current is not None and line.strip():
            params[current] = f"{params[current]} {line.strip()}".strip()
    text = "\n".join(summary).strip()
    return text or None, params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _adapter(tp: Any) -> Any:
    pydantic = require("pydantic", "pydantic", f"a tool or prompt parameter of type {tp!r}")
    return pydantic.TypeAdapter(tp)


def _strip_annotated(tp: Any) -> tuple[Any, str | None]:
    """(type, description) of `Annotated[T, "description", ...]`; other types come back as they are."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *extras = typing.get_args(tp)
        text = next((e for e in extras if isinstance(e, str)), None)
        return base, text
    return tp, None


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of values of type `tp`; definitions a pydantic schema refers to go into `defs`.

    >>> type_schema(list[int] | None, {})
    {'anyOf': [{'type': 'array', 'items': {'type': 'integer'}}, {'type': 'null'}]}
    """
    tp, _ = _strip_annotated(tp)
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(origin):
        return {"anyOf": [type_schema(a, defs) for a in args]}
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([m.value for m in tp])
    if tp in _SEQUENCES or origin in _SEQUENCES:
        schema: dict[str, Any] = {"type": "array"}
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            schema["items"] = type_schema(args[0], defs)
        elif origin is tuple and args:
            schema.update(prefixItems=[type_schema(a, defs) for a in args], minItems=len(args), maxItems=len(args))
        elif args:
            schema["items"] = type_schema(args[0], defs)
        if origin in (set, frozenset) or tp in (set, frozenset):
            schema["uniqueItems"] = True
        return schema
    if (tp is dict or origin is dict) and (not args or args[0] is str):
        return {"type": "object", **({"additionalProperties": type_schema(args[1], defs)} if args else {})}
    schema = dict(_adapter(tp).json_schema(ref_template="#/$defs/{model}"))
    defs.update(schema.pop("$defs", {}))
    return schema


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {_SIMPLE.get(type(v)) for v in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    return schema


def convert(tp: Any, value: Any, name: str, from_text: bool = False) -> Any:
    """`value` (decoded JSON, or a str when `from_text`: a URI template variable or a prompt argument) as an
    instance of `tp`; ArgumentError naming `name` when it does not fit.

    >>> convert(int, "42", "user_id", from_text=True)
    42
    """
    tp, _ = _strip_annotated(tp)
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(origin):
        if value is None and type(None) in args:
            return None
        for arm in args:
            try:
                return convert(arm, value, name, from_text)
            except ArgumentError:
                continue
        raise ArgumentError(f"{name}: {value!r} is none of {_type_name(tp)}")
    if from_text and isinstance(value, str) and tp in (int, float, bool):
        return _from_text(tp, value, name)
    if tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is type(None):
        if value is None:
            return None
    elif origin is typing.Literal:
        if from_text and isinstance(value, str):
            value = next((a for a in args if str(a) == value), value)
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ArgumentError(f"{name}: {value!r} is not one of {', '.join(map(repr, args))}")
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if member.value == value or (from_text and str(member.value) == value):
                return member
        raise ArgumentError(f"{name}: {value!r} is not one of {', '.join(repr(m.value) for m in tp)}")
    elif tp in _SEQUENCES or origin in _SEQUENCES:
        if isinstance(value, list):
            item = args[0] if args and (origin is not tuple or args[-1] is Ellipsis) else Any
            if origin is tuple and args and args[-1] is not Ellipsis:
                if len(value) != len(args):
                    raise ArgumentError(f"{name}: expected {len(args)} items, got {len(value)}")
                return tuple(convert(a, v, f"{name}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
            items = [convert(item, v, f"{name}[{i}]") for i, v in enumerate(value)]
            return (origin or tp)(items) if (origin or tp) is not list else items
    elif (tp is dict or origin is dict) and (not args or args[0] is str):
        if isinstance(value, dict):
            return {k: convert(args[1], v, f"{name}.{k}") for k, v in value.items()} if args else value
    else:
        pydantic = require("pydantic", "pydantic", f"a parameter of type {tp!r}")
        try:
            return _adapter(tp).validate_python(value)
        except pydantic.ValidationError as e:
            raise ArgumentError(f"{name}: {e.errors()[0].get('msg', e)}") from None
    raise ArgumentError(f"{name}: expected {_type_name(tp)}, got {_json_type(value)}")


def _from_text(tp: type, text: str, name: str) -> Any:
    if tp is bool:
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
    else:
        try:
            return tp(text)
        except ValueError:
            pass
    raise ArgumentError(f"{name}: {text!r} is not {'a number' if tp is not bool else 'true or false'}")


def _type_name(tp: Any) -> str:
    return _SIMPLE.get(tp) or getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


class Signature:
    """A function's parameters read once: their JSON Schema (`schema`), and `bind(arguments)` turning the
    arguments a client sent into keyword arguments for the function."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.summary, descriptions = describe(fn)
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as e:  # a hint naming something undefined: a registration mistake
            raise TypeError(f"{getattr(fn, '__qualname__', fn)}: cannot resolve its type hints ({e})") from None
        self.params: dict[str, tuple[Any, bool]] = {}  # name -> (type, required)
        self.takes_any = False
        defs: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for p in inspect.signature(fn).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                self.takes_any = True
                continue
            if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
                raise TypeError(
                    f"{getattr(fn, '__qualname__', fn)}: parameter {p.name!r} cannot be given by name; MCP passes "
                    "arguments by name"
                )
            tp = hints.get(p.name, Any)
            prop = type_schema(tp, defs)
            text = _strip_annotated(tp)[1] or descriptions.get(p.name)
            if text:
                prop["description"] = text
            if p.default is not p.empty:
                default = p.default.value if isinstance(p.default, enum.Enum) else p.default
                with contextlib.suppress(TypeError):  # a default JSON cannot spell is left out of the schema
                    prop["default"] = orjson.loads(orjson.dumps(default))
            else:
                required.append(p.name)
            properties[p.name] = prop
            self.params[p.name] = (tp, p.default is p.empty)
        self.schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            self.schema["required"] = required
        if defs:
            self.schema["$defs"] = defs

    def bind(self, arguments: Mapping[str, Any], from_text: bool = False) -> dict[str, Any]:
        """Keyword arguments for the function; ArgumentError for a missing, unknown or ill-typed one."""
        missing = [n for n, (_, req) in self.params.items() if req and n not in arguments]
        if missing:
            raise ArgumentError(f"missing required argument{'s' * (len(missing) > 1)}: {', '.join(missing)}")
        unknown = [n for n in arguments if n not in self.params]
        if unknown and not self.takes_any:
            raise ArgumentError(f"unexpected argument{'s' * (len(unknown) > 1)}: {', '.join(unknown)}")
        return {n: convert(self.params[n][0], v, n, from_text) if n in self.params else v for n, v in arguments.items()}


__all__ = ["ArgumentError", "Signature", "convert", "describe", "type_schema"]
