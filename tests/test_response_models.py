"""Response models (tiercel.answers, bindings/answer_model): `response_model=` or the return annotation serialises
what a handler returns, filtered to the model's fields, with `status_code=` as the success status; a response the
handler made itself passes unchanged."""

import dataclasses
import logging

import httpx
import msgspec
import pydantic
import pytest

from tiercel import Response, Tiercel


class User(pydantic.BaseModel):
    id: int
    name: str
    password: str


class PublicUser(pydantic.BaseModel):
    id: int
    name: str


class Pair(msgspec.Struct):
    a: int
    b: int


@dataclasses.dataclass
class Total:
    total: int


def answers_app() -> Tiercel:
    app = Tiercel(__file__)
    user = User(id=1, name="ann", password="secret")

    @app.get("/decorator", response_model=PublicUser)
    def by_decorator():
        return user

    @app.get("/annotation")
    async def by_annotation() -> PublicUser:
        return user  # type: ignore[return-value]

    @app.get("/dict")
    def from_dict() -> PublicUser:
        return {"id": 2, "name": "bob", "password": "x"}  # type: ignore[return-value]

    @app.get("/list")
    def many() -> list[PublicUser]:
        return [user, user]  # type: ignore[list-item]

    @app.post("/created", status_code=201)
    def created() -> PublicUser:
        return user  # type: ignore[return-value]

    @app.post("/status-only", status_code=202)
    def accepted():
        return {"queued": True}

    @app.get("/own-response", response_model=PublicUser)
    def own_response():
        return Response(418, {"x-own": "1"}, "teapot")

    @app.get("/no-model", response_model=None)
    def no_model() -> PublicUser:
        return {"anything": "goes"}  # type: ignore[return-value]

    @app.get("/struct")
    def struct() -> Pair:
        return {"a": 1, "b": 2}  # type: ignore[return-value]

    @app.get("/dataclass")
    def dataclass_total() -> Total:
        return Total(3)

    @app.get("/bad")
    def bad() -> PublicUser:
        return {"id": "not a number"}  # type: ignore[return-value]

    @app.get("/hooked", response_model=PublicUser)
    def hooked():
        return user

    @app.after_request("/hooked")
    def after(response):
        response.headers.set("x-after", "1")
        return response

    return app


@pytest.fixture
def client(serve):
    with httpx.Client(base_url=serve(answers_app()).url) as c:
        yield c


def test_the_model_filters_and_serialises_what_the_handler_returns(client):
    for path in ("/decorator", "/annotation"):
        r = client.get(path)
        assert (r.status_code, r.json(), r.headers["content-type"]) == (200, {"id": 1, "name": "ann"},
                                                                        "application/json")  # fmt: skip
    assert client.get("/dict").json() == {"id": 2, "name": "bob"}
    assert client.get("/list").json() == [{"id": 1, "name": "ann"}] * 2
    assert client.get("/struct").json() == {"a": 1, "b": 2}
    assert client.get("/dataclass").json() == {"total": 3}


def test_status_code_is_the_success_status(client):
    r = client.post("/created")
    assert (r.status_code, r.json()) == (201, {"id": 1, "name": "ann"})
    r = client.post("/status-only")
    assert (r.status_code, r.json()) == (202, {"queued": True})


def test_a_response_of_the_handlers_own_and_response_model_none_pass_unchanged(client):
    r = client.get("/own-response")
    assert (r.status_code, r.text, r.headers["x-own"]) == (418, "teapot", "1")
    assert client.get("/no-model").json() == {"anything": "goes"}


def test_after_hooks_see_the_serialised_answer(client):
    r = client.get("/hooked")
    assert (r.json(), r.headers["x-after"]) == ({"id": 1, "name": "ann"}, "1")


def test_a_value_the_model_refuses_is_a_logged_500(client, caplog):
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        r = client.get("/bad")
    assert r.status_code == 500 and "not a number" not in r.text
    assert "Response model refused" in caplog.text and "GET /bad" in caplog.text
    assert client.get("/decorator").status_code == 200  # the worker goes on


def test_a_bad_status_code_is_refused_at_the_decorator():
    app = Tiercel(__file__)
    with pytest.raises(ValueError, match="status_code is an HTTP status"):
        app.get("/x", status_code=1000)
    with pytest.raises(TypeError, match="unknown route option 'respnse_model'"):
        app.get("/x", respnse_model=PublicUser)
