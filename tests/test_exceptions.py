"""The exceptions Tiercel defines share one base, TiercelError (tiercel/exceptions.py)."""

import httpx
import pydantic

from tiercel import (
    HTTPException,
    RequestValidationError,
    Tiercel,
    TiercelError,
    WebSocketDisconnect,
)
from tiercel.exceptions import ClientError, JSONBodyError
from tiercel.params import ParameterError


class Point(pydantic.BaseModel):
    x: int


def test_every_exception_of_tiercels_has_one_base():
    for exc in (HTTPException, ClientError, JSONBodyError, RequestValidationError, ParameterError,
                WebSocketDisconnect):  # fmt: skip
        assert issubclass(exc, TiercelError), exc
    assert issubclass(JSONBodyError, ValueError)  # still caught by `except ValueError` in a handler


def test_a_handler_for_the_base_sees_the_apps_errors_not_the_clients(serve):
    app = Tiercel(__file__)

    @app.exception(TiercelError)
    def any_of_ours(error):
        return f"handled {type(error).__name__}", 418

    @app.get("/missing")
    def missing():
        raise HTTPException(404, "no such thing")

    @app.post("/points")
    def points(point: Point):
        return point.x

    s = serve(app)
    r = httpx.get(s.url + "/missing")
    assert (r.status_code, r.text) == (418, "handled HTTPException")
    r = httpx.post(s.url + "/points", json={"x": "no"})  # the client's mistake keeps its 422
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "x"]
