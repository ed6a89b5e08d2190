"""JSON Schemas for the OpenAPI document, gathered under `#/components/schemas`.

Plain types (the path, query, header and cookie parameters, form fields, Robyn's TypedDicts) are described here,
so a handler with typed parameters needs neither pydantic nor msgspec; models are described by their own library,
all of one library in a single pass, so that a model used by several routes is one component.

>>> book = SchemaBook()
>>> book.plain(list[int])
{'type': 'array', 'items': {'type': 'integer'}}
"""

from __future__ import annotations

import datetime
import decimal
import enum
import logging
import types
import typing
import uuid
from typing import Any

from tiercel.models import PYDANTIC
from tiercel.optional import require

logger = logging.getLogger("tiercel")
REF = "#/components/schemas/"
SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    bytes: {"type": "string", "format": "binary"},
    dict: {"type": "object"},
    list: {"type": "array"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    decimal.Decimal: {"anyOf": [{"type": "number"}, {"type": "string"}]},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
}
# A parameter marker's rules as JSON Schema keywords (for text, numbers).
RULES = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum",
         "min_length": "minLength", "max_length": "maxLength", "pattern": "pattern"}  # fmt: skip


def jsonable(value: Any) -> Any:
    """A default value as JSON shows it (an Enum member as its value, a date as ISO 8601); None when it has no
    JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (list, tuple)):
        items = [jsonable(v) for v in value]
        return items if all(i is not None or v is None for i, v in zip(items, value, strict=True)) else None
    return None


def with_rules(schema: dict[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a marker's rules (gt, ge, lt, le, min_length, max_length, pattern) as its keywords."""
    return {**schema, **{RULES[k]: v for k, v in rules.items() if k in RULES}}


def _enum_type(values: list[Any]) -> dict[str, Any]:
    """The `type` pydantic gives a set of enum values when they share one."""
    for tp, name in ((bool, "boolean"), (str, "string"), (int, "integer"), (float, "number")):
        if values and all(type(v) is tp for v in values):
            return {"type": name}
    return {}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two schemas of one component name describe the same thing (an enum: the same values, whoever wrote it)."""
    return a == b or ("enum" in a and a.get("enum") == b.get("enum"))


def _renamed(node: Any, renames: dict[str, str]) -> Any:
    """`node` with every `$ref` to a renamed component pointing at its new name."""
    if isinstance(node, dict):
        out = {k: _renamed(v, renames) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF) and ref[len(REF) :] in renames:
            out["$ref"] = REF + renames[ref[len(REF) :]]
        return out
    if isinstance(node, list):
        return [_renamed(v, renames) for v in node]
    return node


class SchemaBook:
    """The document's `components.schemas`, filled as schemas are made. A name already taken by a different
    schema (two models called `Item` in two modules) gets a suffix, and the references to it follow."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def add(self, defs: dict[str, Any], *schemas: Any) -> list[Any]:
        """Adds the components `defs` (which `schemas` may refer to); returns `schemas` with their references
        following any renaming."""
        renames: dict[str, str] = {}
        for name, schema in defs.items():
            if name in self.schemas and not _same(self.schemas[name], schema):
                n = 2
                while f"{name}{n}" in self.schemas or f"{name}{n}" in defs:
                    n += 1
                renames[name] = f"{name}{n}"
        for name, schema in defs.items():
            self.schemas.setdefault(renames.get(name, name), _renamed(schema, renames))
        return [_renamed(s, renames) for s in schemas]

    def ref(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """A reference to `schema`, added under `name` (or a free variant of it)."""
        ref: dict[str, Any] = self.add({name: schema}, {"$ref": REF + name})[0]
        return ref

    def plain(self, tp: Any) -> dict[str, Any]:
        """The schema of a plain type: str, int, float, bool, bytes, UUID, Decimal, date, datetime, time, an Enum
        (a component, as pydantic makes it), Literal, list[T], dict[str, T], Optional[T], a TypedDict; {} (any
        value) for what it cannot tell."""
        if tp in SCALARS:
            return dict(SCALARS[tp])
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return self.plain(args[0])
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [{"type": "null"} if a is type(None) else self.plain(a) for a in args]}
        if origin is typing.Literal:
            return {"enum": [jsonable(v) for v in args], **_enum_type(list(args))}
        if origin in (list, set, frozenset, tuple) and args:
            return {"type": "array", "items": self.plain(args[0])}
        if origin is dict and len(args) == 2:
            return {"type": "object", "additionalProperties": self.plain(args[1])}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            values = [m.value for m in tp]
            return self.ref(tp.__name__, {"enum": values, "title": tp.__name__, **_enum_type(values)})
        if isinstance(tp, type) and typing.is_typeddict(tp):
            return self.ref(tp.__name__, self.object_of(tp, getattr(tp, "__required_keys__", set())))
        return {}

    def object_of(self, tp: type, required: set[str] | None = None) -> dict[str, Any]:
        """An object schema with a member per annotation of `tp` (Robyn's TypedDicts and annotated classes);
        `required`: the members that must be there (None: all)."""
        try:
            hints = typing.get_type_hints(tp)
        except Exception:  # a forward reference that does not resolve: the members stay undescribed
            hints = {}
        properties = {name: {**self.plain(t), "title": title(name)} for name, t in hints.items()}
        must = [n for n in hints if required is None or n in required]
        return {"properties": properties, "type": "object", **({"required": must} if must else {}),
                "title": tp.__name__}  # fmt: skip

    def models(self, wanted: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """The schemas of the types in `wanted` ((library, type) pairs), by their libraries, in order. A type
        its library cannot describe gets {} and a warning naming it."""
        out: list[dict[str, Any]] = [{} for _ in wanted]
        for library in {lib for lib, _ in wanted}:
            places = [i for i, (lib, _) in enumerate(wanted) if lib == library]
            tps = [wanted[i][1] for i in places]
            try:
                schemas = self._batch(library, tps)
            except Exception:
                schemas = []
                for tp in tps:  # find the one the library refuses, describe the others
                    try:
                        schemas.extend(self._batch(library, [tp]))
                    except Exception as e:
                        logger.warning("OpenAPI: %s cannot describe %r (%s); documented as any value", library, tp, e)
                        schemas.append({})
            for i, schema in zip(places, schemas, strict=True):
                out[i] = schema
        return out

    def _batch(self, library: str, tps: list[Any]) -> list[dict[str, Any]]:
        if library == PYDANTIC:
            pydantic = require("pydantic", "pydantic", "the OpenAPI document")
            inputs = [(i, "validation", pydantic.TypeAdapter(tp)) for i, tp in enumerate(tps)]
            found, defs = pydantic.TypeAdapter.json_schemas(inputs, ref_template=REF + "{model}")
            return self.add(defs.get("$defs", {}), *(found[(i, "validation")] for i in range(len(tps))))
        msgspec = require("msgspec", "msgspec", "the OpenAPI document")
        found, components = msgspec.json.schema_components(tps, ref_template=REF + "{name}")
        return self.add(components, *found)


def title(name: str) -> str:
    """FastAPI's title of a parameter or member: `item_id` -> "Item Id"."""
    return name.replace("_", " ").title()


__all__ = ["REF", "SchemaBook", "jsonable", "title", "with_rules"]
