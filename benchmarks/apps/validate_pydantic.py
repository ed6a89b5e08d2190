"""The `validate` scenarios' models in Pydantic (FastAPI, Robyn, Tiercel): the request body `Order` (10 typed fields,
constraints, a nested list of `Item`) and the response model `OrderOut`. `validate_msgspec.py` is the same in msgspec.
"""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class Item(BaseModel):
    sku: str
    quantity: int = Field(ge=1)
    price: float = Field(gt=0)


class Order(BaseModel):
    id: int
    customer: str = Field(min_length=1, max_length=100)
    email: str
    age: int = Field(ge=0, le=150)
    total: float
    paid: bool
    created: datetime
    ref: UUID
    tags: list[str]
    items: list[Item]


class OrderOut(BaseModel):
    id: int
    customer: str
    total: float
    items: int
    created: datetime


def summary(order: Order) -> OrderOut:
    """What POST /validate answers for a valid order."""
    o = order
    return OrderOut(id=o.id, customer=o.customer, total=o.total, items=len(o.items), created=o.created)
