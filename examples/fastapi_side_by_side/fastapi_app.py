"""A small FastAPI app, to read beside its Tiercel port, tiercel_app.py: the same API, line for line.

It shows path and query parameters with rules, a pydantic body that is validated, a dependency, an HTTPException
404 and a response model that leaves a field out. Run it with uvicorn:

    uvicorn fastapi_app:app --app-dir examples/fastapi_side_by_side

then `curl '127.0.0.1:8000/items?limit=1'`.
"""

from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    price: float = Field(gt=0)
    tags: list[str] = []


class Item(ItemIn):
    id: int
    cost: float  # what we paid: kept out of answers by the response model


class ItemOut(BaseModel):
    id: int
    name: str
    price: float
    tags: list[str]


class Store:
    """The items; a real app talks to its database here."""

    def __init__(self) -> None:
        self.items = {1: Item(id=1, name="kettle", price=25.0, cost=11.0, tags=["kitchen"])}

    def add(self, item: ItemIn) -> Item:
        new = Item(id=max(self.items) + 1, cost=round(item.price * 0.6, 2), **item.model_dump())
        self.items[new.id] = new
        return new


STORE = Store()


def get_store() -> Store:
    return STORE


app = FastAPI()


@app.get("/items", response_model=list[ItemOut])
def list_items(
    store: Annotated[Store, Depends(get_store)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    tag: str | None = None,
):
    found = [item for item in store.items.values() if tag is None or tag in item.tags]
    return found[:limit]


@app.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: int, store: Annotated[Store, Depends(get_store)]):
    if item_id not in store.items:
        raise HTTPException(status_code=404, detail="Item not found")
    return store.items[item_id]


@app.post("/items", status_code=201, response_model=ItemOut)
def create_item(item: ItemIn, store: Annotated[Store, Depends(get_store)]):
    return store.add(item)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8000)
