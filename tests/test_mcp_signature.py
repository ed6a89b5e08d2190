"""JSON Schema from type hints and docstrings, and JSON arguments converted back to the hinted types
(tiercel.mcp_signature, what MCP tools, resources and prompts are described and called with)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, Optional

import pydantic
import pytest

from tiercel.mcp_signature import ArgumentError, Signature, convert, describe, type_schema


class Size(enum.Enum):
    SMALL = 1
    LARGE = 2


class Address(pydantic.BaseModel):
    street: str
    number: int = 1


class Order(pydantic.BaseModel):
    item: str
    ship_to: Address


@dataclasses.dataclass
class Point:
    x: float
    y: float


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045 (the spelling under test)
        (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        (list[str], {"type": "array", "items": {"type": "string"}}),
        (list, {"type": "array"}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            tuple[int, str],
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
        ),
        (set[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (dict, {"type": "object"}),
        (Literal["a", "b"], {"enum": ["a", "b"], "type": "string"}),
        (Literal[1, "x"], {"enum": [1, "x"]}),
        (Size, {"enum": [1, 2], "type": "integer"}),
        (Annotated[int, "ignored here"], {"type": "integer"}),
    ],
)
def test_type_schema(hint: Any, schema: dict[str, Any]) -> None:
    assert type_schema(hint, {}) == schema


def test_pydantic_types_and_their_definitions() -> None:
    defs: dict[str, Any] = {}
    schema = type_schema(Order, defs)
    assert schema["properties"]["ship_to"] == {"$ref": "#/$defs/Address"}
    assert defs["Address"]["properties"]["number"]["default"] == 1
    assert type_schema(Point, {})["required"] == ["x", "y"]

    def ship(order: Order, where: Point | None = None) -> str:
        return order.item

    sig = Signature(ship)
    order = sig.schema["properties"]["order"]
    assert order["required"] == ["item", "ship_to"] and order["properties"]["ship_to"] == {"$ref": "#/$defs/Address"}
    assert set(sig.schema["$defs"]) == {"Address"}  # a nested model's definition, where the $ref points
    assert sig.schema["properties"]["where"]["anyOf"][1] == {"type": "null"}
    bound = sig.bind({"order": {"item": "pen", "ship_to": {"street": "Main"}}, "where": {"x": 1, "y": 2}})
    assert bound["order"] == Order(item="pen", ship_to=Address(street="Main"))
    assert bound["where"] == Point(1.0, 2.0)
    with pytest.raises(ArgumentError, match="order"):
        sig.bind({"order": {"item": "pen"}})


def test_signature_from_hints_defaults_and_docstring() -> None:
    def search(query: str, limit: int = 10, exact: bool = False, size: Size = Size.SMALL, *, tags: list[str]) -> list:
        """Searches the catalogue.

        More text about searching.

        Args:
            query: what to look for,
                over several lines
            limit (int): at most this many
            **kwargs: never mind

        Returns:
            the hits
        """
        return []

    sig = Signature(search)
    assert sig.summary == "Searches the catalogue.\n\nMore text about searching."
    props = sig.schema["properties"]
    assert props["query"] == {"type": "string", "description": "what to look for, over several lines"}
    assert props["limit"] == {"type": "integer", "description": "at most this many", "default": 10}
    assert props["size"] == {"enum": [1, 2], "type": "integer", "default": 1}
    assert sig.schema["required"] == ["query", "tags"]


def test_sphinx_docstrings_and_annotated_descriptions() -> None:
    def f(a: int, b: Annotated[str, "from Annotated"] = "x") -> None:
        """Does f.

        :param a: the a
        :param str b: overridden by Annotated
        :returns: nothing
        """

    assert describe(f) == ("Does f.", {"a": "the a", "b": "overridden by Annotated"})
    props = Signature(f).schema["properties"]
    assert props["a"]["description"] == "the a" and props["b"]["description"] == "from Annotated"
    assert describe(lambda: None) == (None, {})


def test_bind_refuses_what_does_not_fit() -> None:
    def f(n: int, ratio: float = 1.0, mode: Literal["a", "b"] = "a", ids: list[int] | None = None) -> None: ...

    sig = Signature(f)
    assert sig.bind({"n": 3.0, "ratio": 2, "ids": [1, 2]}) == {"n": 3, "ratio": 2.0, "ids": [1, 2]}
    assert sig.bind({"n": 1, "ids": None}) == {"n": 1, "ids": None}
    for args, message in [
        ({}, "missing required argument: n"),
        ({"n": 1, "x": 2, "y": 3}, "unexpected arguments: x, y"),
        ({"n": True}, "n: expected integer, got a boolean"),
        ({"n": 1.5}, "n: expected integer, got a number"),
        ({"n": 1, "mode": "c"}, "mode: 'c' is not one of 'a', 'b'"),
        ({"n": 1, "ids": [1, "2"]}, r"ids: .* is none of"),
        ({"n": "1"}, "n: expected integer, got a string"),
    ]:
        with pytest.raises(ArgumentError, match=message):
            sig.bind(args)

    def g(**rest: Any) -> None: ...

    assert Signature(g).bind({"anything": 1}) == {"anything": 1}


def test_text_values_convert_to_their_hints() -> None:
    assert convert(int, "42", "n", from_text=True) == 42
    assert convert(float, "2.5", "x", from_text=True) == 2.5
    assert convert(bool, "true", "b", from_text=True) is True
    assert convert(Size, "2", "s", from_text=True) is Size.LARGE
    assert convert(Literal[1, 2], "2", "l", from_text=True) == 2
    assert convert(int | None, "7", "o", from_text=True) == 7
    with pytest.raises(ArgumentError, match="'x' is not a number"):
        convert(int, "x", "n", from_text=True)
    with pytest.raises(ArgumentError, match="not true or false"):
        convert(bool, "maybe", "b", from_text=True)
    with pytest.raises(ArgumentError, match="n: expected integer, got a string"):
        convert(int, "42", "n")  # JSON arguments are not text: "42" is not 42


def test_signatures_mcp_cannot_call_are_refused() -> None:
    def positional(a: int, /) -> None: ...

    with pytest.raises(TypeError, match="cannot be given by name"):
        Signature(positional)

    def undefined(a: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="cannot resolve its type hints"):
        Signature(undefined)
