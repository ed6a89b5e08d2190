"""Errors Tiercel raises for bad client input: request.json() on a body that is not JSON answers 400 with a JSON
body naming the problem (JSONBodyError, a ValueError and an HTTPException); such errors keep their 4xx under a
catch-all `@app.exception`, which sees only the app's own errors."""

from __future__ import annotations

import logging

import httpx

from tiercel import HTTPException, Tiercel
from tiercel.exceptions import ClientError, JSONBodyError


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
                assert error.startswith("invalid JSON body: ") and problem in error, error
    assert caplog.records == []  # the client's fault: nothing logged


def test_json_error_is_a_value_error_the_handler_may_catch(serve):
    s = serve(json_app())
    r = httpx.post(s.url + "/caught", content=b"not json")
    assert r.status_code == 200
    assert r.json()["caught"].startswith("invalid JSON body: ") and r.json()["http"] is True
    assert r.json()["status"] == 400
    assert issubclass(JSONBodyError, ValueError) and issubclass(JSONBodyError, ClientError)
