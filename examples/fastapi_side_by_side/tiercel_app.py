"""The Tiercel port of fastapi_app.py, to read side by side: the same API, the same answers.

What changed: the imports; `FastAPI()` became `Tiercel(__file__)`; the dependency is injected by name
(`app.inject_global(store=STORE)` instead of `Depends(get_store)`); HTTPException's detail is the body FastAPI
sends (Tiercel sends a str detail as plain text). One answer differs: a handler without FastAPI's markers or
models, such as get_item, refuses a bad path value Robyn's way (400 naming it) where FastAPI answers 422.
Run it like any Tiercel app:

    tiercel tiercel_app:app --app-dir examples/fastapi_side_by_side

(or `python examples/fastapi_side_by_side/tiercel_app.py`), then `curl '127.0.0.1:8080/items?limit=1'`.
"""

from typing import Annotated

from pydantic import BaseModel, Field

from tiercel import HTTPException, Query, Tiercel


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

app = Tiercel(__file__)
app.inject_global(store=STORE)


@app.get("/items", response_model=list[ItemOut])
def list_items(
    store: Store,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    tag: str | None = None,
):
    found = [item for item in store.items.values() if tag is None or tag in item.tags]
    return found[:limit]


@app.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: int, store: Store):
    if item_id not in store.items:
        raise HTTPException(status_code=404, detail={"detail": "Item not found"})
    return store.items[item_id]


@app.post("/items", status_code=201, response_model=ItemOut)
def create_item(item: ItemIn, store: Store):
    return store.add(item)


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
