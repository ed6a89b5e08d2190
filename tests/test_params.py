"""Handler parameters by name, by annotation and by type, filled by the engine from a plan made at start-up;
dependency injection (inject_global / inject)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Optional

import httpx
import pydantic
import pytest

from tiercel import Headers, HTTPException, QueryParams, Request, Tiercel, Url


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


def test_parameters_by_name(serve):
    app = Tiercel(__file__)

    @app.post("/echo/:item")
    def echo(request, query_params, headers, path_params, body, method, url, ip_addr, cookies, raw_body):
        assert isinstance(request, Request)
        return {
            "q": query_params.get("q"),
            "h": headers.get("x-h"),
            "p": path_params,
            "body": body,
            "raw": raw_body.decode(),
            "method": method,
            "path": url.path,
            "ip": ip_addr,
            "cookies": cookies,
        }

    s = serve(app)
    r = httpx.post(s.url + "/echo/a%20b?q=1", content=b"hello", headers={"x-h": "v", "cookie": "c=d"})
    assert r.status_code == 200
    assert r.json() == {
        "q": "1",
        "h": "v",
        "p": {"item": "a b"},
        "body": "hello",
        "raw": "hello",
        "method": "POST",
        "path": "/echo/a b",
        "ip": "127.0.0.1",
        "cookies": {"c": "d"},
    }


def test_parameters_by_annotation_any_name(serve):
    app = Tiercel(__file__)

    @app.get("/ann")
    async def ann(r: Request, qp: QueryParams, hd: Headers, u: Url):
        return [r.method, qp.get("x"), hd.get("x-y"), u.path]

    s = serve(app)
    assert httpx.get(s.url + "/ann?x=1", headers={"x-y": "2"}).json() == ["GET", "1", "2", "/ann"]


def test_lone_bare_parameter_is_the_request(serve):
    app = Tiercel(__file__)

    @app.get("/req")
    def handler(req):
        return req.path

    s = serve(app)
    assert httpx.get(s.url + "/req").text == "/req"


def test_typed_path_and_query_parameters(serve):
    app = Tiercel(__file__)

    @app.get("/users/:user_id")
    def user(
        user_id: int,
        q: Optional[str] = None,  # noqa: UP045 (the typing spelling works too)
        page: int = 1,
        ratio: float = 0.5,
        verbose: bool = False,
        tags: list[str] | None = None,
        ids: list[int] | None = None,
        color: Color = Color.RED,
        level: Level | None = None,
    ):
        return {
            "user_id": user_id,
            "q": q,
            "page": page,
            "ratio": ratio,
            "verbose": verbose,
            "tags": tags,
            "ids": ids,
            "color": color.value,
            "level": level,
        }

    @app.get("/typed/:when")
    async def typed(when: datetime.date, key: uuid.UUID, amount: decimal.Decimal, *, at: datetime.datetime):
        return {"when": when.isoformat(), "key": str(key), "amount": str(amount + 1), "at": at.isoformat()}

    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        assert c.get("/users/42").json() == {
            "user_id": 42,
            "q": None,
            "page": 1,
            "ratio": 0.5,
            "verbose": False,
            "tags": None,
            "ids": None,
            "color": "red",
            "level": None,
        }
        r = c.get(
            "/users/-7",
            params=[
                ("q", "caf\u00e9"),
                ("page", "3"),
                ("ratio", "2.5e1"),
                ("verbose", "yes"),
                ("tags", "a"),
                ("tags", "b c"),
                ("ids", "1"),
                ("ids", "2"),
                ("color", "green"),
                ("level", "2"),
            ],
        )
        assert r.json() == {
            "user_id": -7,
            "q": "caf\u00e9",
            "page": 3,
            "ratio": 25.0,
            "verbose": True,
            "tags": ["a", "b c"],
            "ids": [1, 2],
            "color": "green",
            "level": 2,
        }
        key = uuid.uuid4()
        r = c.get(f"/typed/2026-11-26?key={key}&amount=1.10&at=2026-11-26T10:00:00")
        assert r.json() == {"when": "2026-11-26", "key": str(key), "amount": "2.10", "at": "2026-11-26T10:00:00"}


@pytest.mark.parametrize(
    "url, message",
    [
        ("/users/abc", "path parameter 'user_id' must be an integer, got 'abc'"),
        ("/users/1?page=2.5", "query parameter 'page' must be an integer, got '2.5'"),
        ("/users/1?page=", "query parameter 'page' must be an integer, got ''"),
        ("/users/1?page=1_000", "query parameter 'page' must be an integer, got '1_000'"),
        ("/users/1?ratio=nan", "query parameter 'ratio' must be a finite number, got 'nan'"),
        ("/users/1?ratio=%201", "query parameter 'ratio' must be a finite number, got ' 1'"),
        ("/users/1?verbose=maybe", "query parameter 'verbose' must be a boolean"),
        ("/users/1?color=blue", "query parameter 'color' must be one of 'red', 'green', got 'blue'"),
        ("/users/1?ids=1&ids=x", "query parameter 'ids' must be an integer, got 'x'"),
        ("/users/1?key=nope", "query parameter 'key' must be a UUID, got 'nope'"),
        ("/users/1", "missing query parameter 'key'"),
        ("/users/1?key=" + "9" * 100, "got '" + "9" * 64 + "...'"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(serve, url, message):
    app = Tiercel(__file__)

    @app.get("/users/:user_id")
    def user(user_id: int, key: uuid.UUID, page: int = 1, ratio: float = 1.0, verbose: bool = False,
             color: Color = Color.RED, ids: list[int] | None = None):  # fmt: skip
        return "reached"

    s = serve(app)
    if "key=" not in url and url != "/users/1":
        url += ("&" if "?" in url else "?") + "key=" + str(uuid.uuid4())
    r = httpx.get(s.url + url)
    assert r.status_code == 400
    assert message in r.text
    assert r.headers["content-type"].startswith("text/plain")


def test_parameter_error_goes_through_exception_handlers(serve):
    app = Tiercel(__file__)

    @app.exception(HTTPException)
    def as_json(error):
        return {"error": error.detail, "parameter": getattr(error, "parameter", None)}, error.status_code

    @app.get("/n")
    async def n(count: int):
        return str(count * 2)

    s = serve(app)
    r = httpx.get(s.url + "/n?count=x")
    assert r.status_code == 400
    assert r.json() == {"error": "query parameter 'count' must be an integer, got 'x'", "parameter": "count"}
    assert httpx.get(s.url + "/n?count=21").text == "42"


def test_unannotated_defaults_are_left_alone(serve):
    app = Tiercel(__file__)
    made = []
    for name in ("a", "b"):

        @app.get("/" + name)
        def handler(request, name=name, retries=3):
            made.append((name, retries))
            return name

    s = serve(app)
    assert httpx.get(s.url + "/a?name=evil&retries=9").text == "a"
    assert httpx.get(s.url + "/b").text == "b"
    assert made == [("a", 3), ("b", 3)]


def test_keyword_only_and_parameters_after_a_default(serve):
    app = Tiercel(__file__)

    @app.get("/k/:id")
    def k(request, flag=True, *, id: int, q: str = "none"):
        return [request.path, flag, id, q]

    s = serve(app)
    assert httpx.get(s.url + "/k/5?q=z").json() == ["/k/5", True, 5, "z"]


def test_bad_annotations_fail_at_start(serve):
    app = Tiercel(__file__)

    @app.get("/x")
    def x(thing: dict):
        return "x"

    with pytest.raises(TypeError, match="parameter 'thing' of .*cannot convert a path or query value to"):
        serve(app)

    app = Tiercel(__file__)

    @app.get("/y/:a")
    def y(a: list[int]):
        return "y"

    with pytest.raises(TypeError, match="a path parameter holds one value"):
        serve(app)

    app = Tiercel(__file__)

    @app.get("/c", const=True)
    def c(q: int):
        return "c"

    with pytest.raises(TypeError, match="const route GET /c"):
        serve(app)


def test_dependency_injection(serve):
    app = Tiercel(__file__, dependencies={"config": {"debug": True}})
    pool = object()
    app.inject_global(pool=pool)
    app.inject(name="app-router")

    @app.get("/di")
    def di(request, global_dependencies, router_dependencies, pool, config, name):
        return {
            "global": sorted(global_dependencies),
            "router": router_dependencies,
            "pool": pool is global_dependencies["pool"],
            "config": config,
            "name": name,
        }

    # Dependencies injected after the route is declared count too: plans are made at start-up.
    app.inject_global(late="yes")

    @app.get("/late")
    async def late(late):
        return late

    s = serve(app)
    assert httpx.get(s.url + "/di").json() == {
        "global": ["config", "late", "pool"],
        "router": {"name": "app-router"},
        "pool": True,
        "config": {"debug": True},
        "name": "app-router",
    }
    assert httpx.get(s.url + "/late").text == "yes"


@dataclasses.dataclass
class Settings:
    greeting: str = "Hello"


class Store(pydantic.BaseModel):
    name: str = "main"


def test_an_injected_name_wins_over_a_type_that_looks_like_a_body(serve):
    # FastAPI users annotate a dependency with its class: a dataclass, a model or a dict of models is still the
    # injected object when the parameter's name is a dependency's, not a body to read from the request.
    app = Tiercel(__file__)
    app.inject_global(settings=Settings(), models={1: Store()})
    app.inject(store=Store(name="router"))

    @app.get("/greet")
    def greet(settings: Settings, store: Store, models: dict[int, Store]):
        return {"greeting": settings.greeting, "store": store.name, "models": [m.name for m in models.values()]}

    @app.post("/stores")
    def add(store_in: Store, settings: Settings):  # a model not injected is still the body
        return {"name": store_in.name, "greeting": settings.greeting}

    s = serve(app)
    assert httpx.get(s.url + "/greet").json() == {"greeting": "Hello", "store": "router", "models": ["main"]}
    assert httpx.post(s.url + "/stores", json={"name": "new"}).json() == {"name": "new", "greeting": "Hello"}
    assert httpx.post(s.url + "/stores", json={"name": 3}).status_code == 422


def test_typed_parameters_on_a_hooked_route(serve):
    app = Tiercel(__file__)

    @app.before_request("/h/:n")
    def before(request):
        request.headers.set("x-b", "1")
        return request

    @app.get("/h/:n")
    def h(n: int, headers):
        return {"n": n, "b": headers.get("x-b")}

    s = serve(app)
    assert httpx.get(s.url + "/h/3").json() == {"n": 3, "b": "1"}
    r = httpx.get(s.url + "/h/x")
    assert r.status_code == 400 and "path parameter 'n'" in r.text
