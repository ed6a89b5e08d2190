"""The `validate` scenarios' models as msgspec Structs (Litestar, Tiercel with msgspec): the same fields and constraints
as `validate_pydantic.py`, written the msgspec way (`Annotated[..., Meta(...)]`).
"""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct


class Item(Struct):
    sku: str
    quantity: Annotated[int, Meta(ge=1)]
    price: Annotated[float, Meta(gt=0)]


class Order(Struct):
    id: int
    customer: Annotated[str, Meta(min_length=1, max_length=100)]
    email: str
    age: Annotated[int, Meta(ge=0, le=150)]
    total: float
    paid: bool
    created: datetime
    ref: UUID
    tags: list[str]
    items: list[Item]


class OrderOut(Struct):
    id: int
    customer: str
    total: float
    items: int
    created: datetime


def summary(order: Order) -> OrderOut:
    """What POST /validate answers for a valid order."""
    o = order
    return OrderOut(id=o.id, customer=o.customer, total=o.total, items=len(o.items), created=o.created)
