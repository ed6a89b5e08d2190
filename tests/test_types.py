"""Robyn's parameter marker types (tiercel.types): a parameter annotated with one receives that part of the
request, whatever its name; `r` and `req` unannotated are the request. Through the TestClient (the same native
argument filling as a socket)."""

from __future__ import annotations

from typing import TypedDict

import pytest

import tiercel
from tiercel import TestClient, Tiercel
from tiercel.types import Body, Files, FormData, IPAddress, JsonBody, Method, PathParams, QueryParams


class Item(TypedDict):
    name: str
    qty: int


class ItemBody(JsonBody):
    name: str


class Filters(QueryParams):
    pass


def _app() -> Tiercel:
    app = Tiercel(__file__)

    @app.post("/markers/:kind")
    def markers(anything: Body, where: PathParams, verb: Method, peer: IPAddress, q: Filters):
        return {"body": anything, "path": where, "method": verb, "ip": peer, "q": q.get("q")}

    @app.post("/json")
    def json_body(payload: JsonBody):
        return {"got": payload}

    @app.post("/json-sub")
    def json_sub(payload: ItemBody, verb: Method):
        return {"got": payload, "method": verb}

    @app.post("/typed")
    def typed(item: Item):
        return {"total": item["qty"] * 2, "name": item["name"]}

    @app.post("/form")
    def form(fields: FormData, uploads: Files):
        return {"fields": dict(fields), "files": sorted(uploads)}

    @app.get("/short/:id")
    def short(r, id: int):
        return {"path": r.path, "id": id}

    @app.get("/req")
    def req_name(req, page: int = 1):
        return {"method": req.method, "page": page}

    return app


def test_markers_by_annotation_whatever_the_name() -> None:
    with TestClient(_app()) as client:
        r = client.post("/markers/box?q=red", content="raw text")
        assert r.status_code == 200, r.text
        expected = {"body": "raw text", "path": {"kind": "box"}, "method": "POST", "ip": "testclient", "q": "red"}
        assert r.json() == expected


def test_json_body_and_typed_dict_get_the_parsed_json() -> None:
    with TestClient(_app()) as client:
        assert client.post("/json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}
        assert client.post("/json-sub", json={"name": "x"}).json() == {"got": {"name": "x"}, "method": "POST"}
        assert client.post("/typed", json={"name": "bolt", "qty": 4}).json() == {"total": 8, "name": "bolt"}


@pytest.mark.parametrize("path", ["/json", "/json-sub", "/typed"])
@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_a_400_before_the_handler(path: str, body: bytes) -> None:
    with TestClient(_app()) as client:
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"].startswith("Invalid JSON body: ")


def test_form_markers() -> None:
    with TestClient(_app()) as client:
        r = client.post("/form", data={"a": "1"})
        assert r.json() == {"fields": {"a": "1"}, "files": []}


def test_r_and_req_are_the_request() -> None:
    with TestClient(_app()) as client:
        assert client.get("/short/5").json() == {"path": "/short/5", "id": 5}
        assert client.get("/req?page=3").json() == {"method": "GET", "page": 3}


def test_robyn_top_level_names() -> None:
    for name in ("JsonBody", "RequestMethod", "RequestBody", "RequestURL"):
        assert getattr(tiercel, name) is getattr(tiercel.types, name)
