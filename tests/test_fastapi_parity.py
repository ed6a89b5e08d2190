"""A FastAPI app and its Tiercel port answer the same requests the same way: one set of handlers, registered on
FastAPI (driven by its own TestClient) and on Tiercel (a real server), compared response by response, field by
field: models, nested models, lists, optional fields, enums, datetimes, UUIDs, constraints, markers, embedded
bodies, forms, response models and status codes, and every refusal's 422."""


import datetime
import enum
import uuid
from typing import Annotated, Any, Literal

import fastapi
import httpx
import pydantic
import pytest
from fastapi.testclient import TestClient as FastAPIClient

import tiercel


class Kind(str, enum.Enum):
    BOOK = "book"
    PEN = "pen"


class Dimensions(pydantic.BaseModel):
    width: float = pydantic.Field(gt=0)
    height: float = pydantic.Field(gt=0)


class Item(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1, max_length=20)
    kind: Kind
    price: float = pydantic.Field(ge=0)
    tags: list[str] = []
    size: Dimensions | None = None
    added: datetime.datetime
    ref: uuid.UUID


class ItemOut(pydantic.BaseModel):
    name: str
    kind: Kind
    added: datetime.datetime
    ref: uuid.UUID


class Coupon(pydantic.BaseModel):
    code: str

    @pydantic.field_validator("code")
    @classmethod
    def known(cls, code: str) -> str:
        if not code.startswith("TC-"):
            raise ValueError("unknown coupon")
        return code


class Login(pydantic.BaseModel):
    user: str = pydantic.Field(min_length=2)
    remember: bool = False


def build(app: Any, m: Any) -> Any:
    """The handlers, on `app` (a FastAPI or a Tiercel app), with `m` the module of its markers."""

    @app.post("/items", status_code=201, response_model=ItemOut)
    def create(item: Item):
        return item

    @app.post("/items/bulk")
    def bulk(items: list[Item]) -> list[ItemOut]:
        return items  # type: ignore[return-value]

    @app.put("/items/{item_id}")
    def update(item_id: int, item: Item, note: Annotated[str, m.Body(max_length=10)], notify: bool = False):
        return {"item_id": item_id, "name": item.name, "note": note, "notify": notify}

    @app.post("/embed")
    def embed(item: Annotated[Item, m.Body(embed=True)]) -> ItemOut:
        return item  # type: ignore[return-value]

    @app.get("/search")
    def search(
        q: Annotated[str, m.Query(min_length=2, max_length=8, pattern="^[a-z]+$")],
        page: Annotated[int, m.Query(ge=1, le=100, alias="page-size")] = 10,
        kind: Kind | None = None,
        order: Literal["asc", "desc"] = "asc",
        ratio: Annotated[float, m.Query(gt=0, lt=1)] = 0.5,
        ids: Annotated[list[int] | None, m.Query()] = None,
        x_token: Annotated[str | None, m.Header()] = None,
        session: Annotated[str | None, m.Cookie()] = None,
    ):
        return {"q": q, "page": page, "kind": kind, "order": order, "ratio": ratio, "ids": ids,
                "token": x_token, "session": session}  # fmt: skip

    @app.get("/users/{user_id}")
    def user(user_id: Annotated[int, m.Path(gt=0)], when: datetime.date | None = None, ref: uuid.UUID | None = None):
        return {"user_id": user_id, "when": when, "ref": ref}

    @app.post("/coupons")
    def coupon(coupon: Coupon):
        return {"code": coupon.code}

    @app.post("/login")
    def login(data: Annotated[Login, m.Form()]):
        return {"user": data.user, "remember": data.remember}

    @app.post("/signup")
    def signup(user: Annotated[str, m.Form(min_length=3)], age: Annotated[int, m.Form(ge=18)]):
        return {"user": user, "age": age}

    return app


ITEM = {
    "name": "pen",
    "kind": "pen",
    "price": 2.5,
    "tags": ["a"],
    "size": {"width": 1, "height": 2},
    "added": "2026-12-07T10:00:00Z",
    "ref": "8c5f1b7e-3d2a-4f6b-9a1c-2e4d6f8a0b1c",
    "secret": "dropped",
}

# (method, url, keyword arguments of the request)
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/items", {"json": ITEM}),
    ("POST", "/items", {"json": {**ITEM, "name": "", "price": -1, "kind": "cup"}}),
    ("POST", "/items", {"json": {**ITEM, "size": {"width": 0}}}),
    ("POST", "/items", {"json": {**ITEM, "added": "yesterday", "ref": "not-a-uuid"}}),
    ("POST", "/items", {"json": {"name": "pen"}}),
    ("POST", "/items", {"json": [ITEM]}),
    ("POST", "/items", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/items", {"content": b""}),
    ("POST", "/items/bulk", {"json": [ITEM, ITEM]}),
    ("POST", "/items/bulk", {"json": [ITEM, {**ITEM, "price": "free"}]}),
    ("PUT", "/items/7?notify=true", {"json": {"item": ITEM, "note": "hello"}}),
    ("PUT", "/items/7", {"json": {"item": ITEM, "note": "far too long a note"}}),
    ("PUT", "/items/seven?notify=maybe", {"json": {"note": "x"}}),
    ("POST", "/embed", {"json": {"item": ITEM}}),
    ("POST", "/embed", {"json": ITEM}),
    ("GET", "/search?q=abc", {}),
    ("GET", "/search?q=abc&page-size=5&kind=book&order=desc&ratio=0.25&ids=1&ids=2", {}),
    ("GET", "/search?q=abc", {"headers": {"x-token": "t1"}, "cookies": {"session": "s1"}}),
    ("GET", "/search?q=a&page-size=0&kind=cup&order=up&ratio=1&ids=1&ids=x", {}),
    ("GET", "/search?q=ABC&page-size=many", {}),
    ("GET", "/search?q=abcdefghijk", {}),
    ("GET", "/search", {}),
    ("GET", "/users/3?when=2026-12-07&ref=8c5f1b7e-3d2a-4f6b-9a1c-2e4d6f8a0b1c", {}),
    ("GET", "/users/0", {}),
    ("GET", "/users/x?when=tomorrow&ref=nope", {}),
    ("POST", "/coupons", {"json": {"code": "TC-1"}}),
    ("POST", "/coupons", {"json": {"code": "nope"}}),  # a validator's ValueError: ctx {"error": {}}
    ("POST", "/login", {"data": {"user": "ann", "remember": "yes"}}),
    ("POST", "/login", {"data": {"user": "a", "remember": "perhaps"}}),
    ("POST", "/signup", {"data": {"user": "bob", "age": "30"}}),
    ("POST", "/signup", {"data": {"user": "bo", "age": "12"}}),
    ("POST", "/signup", {"data": {"age": "x"}}),
]


@pytest.fixture(scope="module")
def clients():
    from conftest import RunningServer

    fast = FastAPIClient(build(fastapi.FastAPI(), fastapi))
    server = RunningServer(build(tiercel.Tiercel(__file__), tiercel), "asyncio").start()
    try:
        with httpx.Client(base_url=server.url) as ours:
            yield fast, ours
    finally:
        server.stop()


def comparable(r: httpx.Response) -> tuple[int, Any]:
    content_type = r.headers.get("content-type", "")
    return r.status_code, r.json() if content_type.startswith("application/json") else r.text


@pytest.mark.parametrize("method, url, kwargs", REQUESTS, ids=[f"{m} {u}" for m, u, _ in REQUESTS])
def test_tiercel_answers_as_fastapi_does(clients, method, url, kwargs):
    fast, ours = clients
    cookies = kwargs.pop("cookies", None)
    if cookies:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        kwargs["headers"] = {**kwargs.get("headers", {}), "cookie": cookie}
    expected = comparable(fast.request(method, url, **kwargs))
    got = comparable(ours.request(method, url, **kwargs))
    assert got == expected


def test_the_cases_cover_successes_and_refusals(clients):
    """Control: the table holds both kinds of answers, so the comparison cannot pass on errors alone."""
    fast, _ = clients
    statuses = {fast.request(m, u, **{k: v for k, v in kw.items() if k != "cookies"}).status_code
                for m, u, kw in REQUESTS}  # fmt: skip
    assert {200, 201, 422} <= statuses
