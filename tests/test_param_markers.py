"""FastAPI's parameter markers (tiercel.fields) through the plan (tiercel.params) and the engine's checks
(bindings/arguments): where each value is read, its rules, and how Robyn's forms keep their meaning."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import httpx
import pytest

from tiercel import Body, Cookie, Header, Path, Query, Tiercel
from tiercel.params import handler_plan


class Size(enum.Enum):
    S = "s"
    M = "m"


def markers_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/headers")
    def headers(
        user_agent: Annotated[str, Header()],
        x_raw_name: Annotated[str | None, Header(convert_underscores=False)] = None,
        session: Annotated[str, Cookie(min_length=2)] = "none",
    ):
        return {"ua": user_agent, "raw": x_raw_name, "session": session}

    @app.get("/old/{n}")
    def old_spelling(n: int = Path(ge=1), q: str = Query("dflt", max_length=4)):
        return {"n": n, "q": q}

    @app.get("/choices")
    def choices(size: Annotated[Size, Query()], mode: Annotated[Literal["a", "b"], Query()] = "a"):
        return {"size": size.value, "mode": mode}

    @app.post("/robyn-body")
    def robyn_body(raw: Body):  # Robyn's bare marker: the body as request.body
        return f"raw {raw}"

    @app.get("/plain/:n")
    def plain(n: int, page: int = 1):  # no marker: refused as Robyn does (400 naming the parameter)
        return {"n": n, "page": page}

    return app


@pytest.fixture
def client(serve):
    with httpx.Client(base_url=serve(markers_app()).url) as c:
        yield c


def test_headers_and_cookies_by_name(client):
    r = client.get("/headers", headers={"user-agent": "probe", "x_raw_name": "r", "cookie": "session=abc"})
    assert r.json() == {"ua": "probe", "raw": "r", "session": "abc"}
    r = client.get("/headers", headers={"user-agent": "probe", "cookie": "session=a"})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert (error["type"], error["loc"], error["ctx"]) == ("string_too_short", ["cookie", "session"], {"min_length": 2})
    assert error["msg"] == "String should have at least 2 characters"


def test_markers_as_defaults_fastapis_older_spelling(client):
    assert client.get("/old/3").json() == {"n": 3, "q": "dflt"}
    r = client.get("/old/0?q=toolong")
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("greater_than_equal", ["path", "n"]),
        ("string_too_long", ["query", "q"]),
    ]


def test_a_long_refused_value_is_quoted_by_its_start(client):
    long = "x" * 300
    r = client.get(f"/old/{long}?q={long}")
    inputs = [(e["loc"], e["input"]) for e in r.json()["detail"]]
    assert inputs == [(["path", "n"], "x" * 256 + "..."), (["query", "q"], "x" * 256 + "...")]
    r = client.get("/old/%C3%A9x")  # a refused value is quoted as the decoded text
    assert [e["input"] for e in r.json()["detail"]] == ["\u00e9x"]


def test_enums_and_literals_name_their_choices(client):
    assert client.get("/choices?size=m&mode=b").json() == {"size": "m", "mode": "b"}
    r = client.get("/choices?size=xl&mode=c")
    assert [(e["type"], e["msg"], e["ctx"]) for e in r.json()["detail"]] == [
        ("enum", "Input should be 's' or 'm'", {"expected": "'s' or 'm'"}),
        ("literal_error", "Input should be 'a' or 'b'", {"expected": "'a' or 'b'"}),
    ]


def test_robyns_forms_keep_their_meaning(client):
    assert client.post("/robyn-body", content=b"hello").text == "raw hello"
    assert client.get("/plain/2?page=3").json() == {"n": 2, "page": 3}
    r = client.get("/plain/x")
    assert (r.status_code, r.text) == (400, "path parameter 'n' must be an integer, got 'x'")


def test_mistakes_in_markers_are_refused_at_registration():
    with pytest.raises(TypeError, match=r"Query\(ge=\.\.\.\) is a number"):
        Query(ge="1")
    with pytest.raises(ValueError, match="is not a valid pattern"):
        Query(pattern="[")

    def h(n: Annotated[int, Path()]):
        return n

    with pytest.raises(TypeError, match="the route has none called 'n'"):
        handler_plan(h, set(), {}, {})

    def two(n: Annotated[int, Query(), Header()]):
        return n

    with pytest.raises(TypeError, match="takes one of Query, Path"):
        handler_plan(two, set(), {}, {})
