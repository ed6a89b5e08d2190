"""Errors Tiercel raises for bad client input: request.json() on a body that is not JSON answers 400 with a JSON
body naming the problem (JSONBodyError, a ValueError and an HTTPException); such errors keep their 4xx under a
catch-all `@app.exception`, which sees only the app's own errors."""

from __future__ import annotations

import logging

import httpx

from tiercel import HTTPException, Response, Tiercel
from tiercel.exceptions import ClientError, JSONBodyError
from tiercel.params import ParameterError


def json_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.post("/j")
    def parse(request):
        return {"got": request.json()}

    @app.post("/async")
    async def parse_async(request):
        return {"got": request.json()}

    @app.post("/caught")
    def caught(request):
        try:
            return {"got": request.json()}
        except ValueError as e:
            return {"caught": str(e), "http": isinstance(e, HTTPException), "status": e.status_code}

    return app


def test_bad_json_is_a_400_naming_the_problem(serve, caplog):
    s = serve(json_app())
    with caplog.at_level(logging.ERROR, logger="tiercel"), httpx.Client(base_url=s.url) as c:
        assert c.post("/j", content=b'{"a": 1}').json() == {"got": {"a": 1}}
        for path in ("/j", "/async"):
            for body, problem in ((b'{"a":', "unexpected"), (b"", "the body is empty"), (b'"\xff"', "UTF-8")):
                r = c.post(path, content=body)
                assert r.status_code == 400, (path, body)
                assert r.headers["content-type"] == "application/json"
                error = r.json()["error"]
                assert error.startswith("Invalid JSON body: ") and problem in error, error
    assert caplog.records == []  # the client's fault: nothing logged


def test_json_error_is_a_value_error_the_handler_may_catch(serve):
    s = serve(json_app())
    r = httpx.post(s.url + "/caught", content=b"not json")
    assert r.status_code == 200
    assert r.json()["caught"].startswith("Invalid JSON body: ") and r.json()["http"] is True
    assert r.json()["status"] == 400
    assert issubclass(JSONBodyError, ValueError) and issubclass(JSONBodyError, ClientError)


# ---------------------------------------------------------------------------------------------------
# Which exception handlers see the framework's client errors


def handled_app(exc_type: type[BaseException] | None) -> Tiercel:
    """Routes raising the framework's client errors and the app's own; one exception handler for `exc_type`
    (None: a bare `@app.exception`) answering 599 with what it saw."""
    app = Tiercel(__file__)

    def on_error(e):
        return Response(599, {}, type(e).__name__)

    if exc_type is None:
        app.exception(on_error)
    else:
        app.exception(exc_type)(on_error)

    @app.get("/items")
    def items(page: int):
        return {"page": page}

    @app.post("/json")
    def parse(request):
        return request.json()

    @app.get("/own/value")
    def own_value():
        raise ValueError("the app's own")

    @app.get("/own/http")
    def own_http():
        raise HTTPException(404, "the app's own")

    return app


def answers(s) -> dict[str, tuple[int, str]]:
    with httpx.Client(base_url=s.url) as c:
        rs = {
            "param": c.get("/items", params={"page": "abc"}),
            "json": c.post("/json", content=b"{"),
            "own_value": c.get("/own/value"),
            "own_http": c.get("/own/http"),
        }
    return {k: (r.status_code, r.text) for k, r in rs.items()}


def test_catch_all_handler_sees_only_the_apps_own_errors(serve, caplog):
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        got = answers(serve(handled_app(None)))
    assert got["param"] == (400, "query parameter 'page' must be an integer, got 'abc'")
    assert got["json"][0] == 400 and got["json"][1].startswith('{"error":"Invalid JSON body: ')
    assert got["own_value"] == (599, "ValueError")
    assert got["own_http"] == (599, "HTTPException")  # raised by the app's own code: the app's
    assert caplog.records == []


def test_handlers_for_http_exception_or_a_subclass_see_client_errors(serve):
    got = answers(serve(handled_app(HTTPException)))
    assert (got["param"], got["json"], got["own_http"]) == (
        (599, "ParameterError"),
        (599, "JSONBodyError"),
        (599, "HTTPException"),
    )
    got = answers(serve(handled_app(ClientError)))
    assert (got["param"], got["json"], got["own_http"][0]) == ((599, "ParameterError"), (599, "JSONBodyError"), 404)
    got = answers(serve(handled_app(ParameterError)))
    assert (got["param"], got["json"][0]) == ((599, "ParameterError"), 400)


def test_value_error_handler_does_not_see_bad_json(serve, caplog):
    """JSONBodyError is a ValueError for the handler's `except`, but a handler registered for ValueError is not
    one for HTTPException: the client's bad JSON keeps its 400."""
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        got = answers(serve(handled_app(ValueError)))
    assert got["json"][0] == 400 and got["own_value"] == (599, "ValueError")
