"""Request bodies validated into pydantic models, msgspec Structs and dataclasses (tiercel.body_plan, models): the
values handlers get, FastAPI's 422 for what is refused, forms into models, uploaded files by field name."""

from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
import sys
import textwrap
import uuid
from typing import Annotated

import httpx
import msgspec
import pydantic
import pytest

from tiercel import Body, File, Form, RequestValidationError, Tiercel, UploadFile


class Tag(pydantic.BaseModel):
    name: str


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(gt=0)
    tags: list[Tag] = []
    created: datetime.datetime | None = None


class Point(msgspec.Struct):
    x: int
    y: int = 0


@dataclasses.dataclass
class Note:
    text: str
    stars: int = 0


def body_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.post("/items")
    def items(item: Item):
        return {"name": item.name, "price": item.price, "tags": [t.name for t in item.tags],
                "created": item.created.isoformat() if item.created else None}  # fmt: skip

    @app.post("/many")
    async def many(items: list[Item]):
        return {"names": [i.name for i in items]}

    @app.post("/by-key")
    def by_key(items: dict[str, Point]):
        return {k: p.x + p.y for k, p in items.items()}

    @app.post("/points")
    def points(point: Point):
        return {"sum": point.x + point.y, "type": type(point).__name__}

    @app.post("/notes")
    def notes(note: Note):
        return {"text": note.text, "stars": note.stars, "type": type(note).__name__}

    @app.post("/embedded")
    def embedded(item: Item, note: Note, count: Annotated[int, Body(ge=1)]):
        return {"item": item.name, "note": note.text, "count": count}

    @app.post("/embed-one")
    def embed_one(item: Annotated[Item, Body(embed=True)]):
        return item.name

    @app.post("/optional")
    def optional(item: Item | None = None):
        return "none" if item is None else item.name

    return app


@pytest.fixture
def client(serve):
    with httpx.Client(base_url=serve(body_app()).url) as c:
        yield c


def test_models_of_each_library_receive_the_validated_body(client):
    r = client.post("/items", json={"name": "pen", "price": "2.5", "tags": [{"name": "a"}],
                                    "created": "2026-01-02T03:04:05"})  # fmt: skip
    assert r.json() == {"name": "pen", "price": 2.5, "tags": ["a"], "created": "2026-01-02T03:04:05"}
    assert client.post("/many", json=[{"name": "a", "price": 1}, {"name": "b", "price": 2}]).json() == {
        "names": ["a", "b"]
    }
    assert client.post("/by-key", json={"a": {"x": 1, "y": 2}, "b": {"x": 5}}).json() == {"a": 3, "b": 5}
    assert client.post("/points", json={"x": 1, "y": 2}).json() == {"sum": 3, "type": "Point"}
    assert client.post("/notes", json={"text": "hi"}).json() == {"text": "hi", "stars": 0, "type": "Note"}


def test_several_body_parameters_are_members_of_one_object(client):
    body = {"item": {"name": "pen", "price": 1}, "note": {"text": "n"}, "count": 2}
    assert client.post("/embedded", json=body).json() == {"item": "pen", "note": "n", "count": 2}
    assert client.post("/embed-one", json={"item": {"name": "cap", "price": 1}}).text == "cap"
    r = client.post("/embedded", json={"item": {"name": "pen", "price": 1}, "count": 0})
    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("missing", ["body", "note"]),
        ("greater_than_equal", ["body", "count"]),
    ]
    r = client.post("/embedded", content=b"")
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "item"], ["body", "note"], ["body", "count"]]


@pytest.mark.parametrize(
    "path, content, headers, expected",
    [
        ("/items", b'{"name": "pen", "price": -1}', {}, [("greater_than", ["body", "price"], -1)]),
        ("/items", b'{"price": "x"}', {}, [("missing", ["body", "name"], {"price": "x"}),
                                            ("float_parsing", ["body", "price"], "x")]),  # fmt: skip
        ("/items", b"", {}, [("missing", ["body"], None)]),
        ("/items", b"{bad", {}, [("json_invalid", ["body", 1], {})]),
        ("/items", b'{"name": "pen", "price": 1}', {"content-type": "text/plain"},
         [("model_attributes_type", ["body"], '{"name": "pen", "price": 1}')]),  # not JSON: validated as bytes
        ("/many", b'[{"name": "a", "price": 1}, {"price": 0}]', {}, [("missing", ["body", 1, "name"], {"price": 0}),
                                                                      ("greater_than", ["body", 1, "price"], 0)]),
        ("/points", b'{"x": "1"}', {}, [("type_error", ["body", "x"], "1")]),
        ("/points", b'{"y": 1}', {}, [("missing", ["body", "x"], {"y": 1})]),
        ("/points", b"[1", {}, [("json_invalid", ["body", 2], {})]),
        ("/notes", b'{"text": 5}', {}, [("string_type", ["body", "text"], 5)]),
    ],
)
def test_refused_bodies_are_a_422_in_fastapis_shape(client, path, content, headers, expected):
    r = client.post(path, content=content, headers={"content-type": "application/json", **headers})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/json"
    detail = r.json()["detail"]
    assert [(e["type"], e["loc"], e["input"]) for e in detail] == expected
    assert all(isinstance(e["msg"], str) and e["msg"] for e in detail)


def test_json_content_types_and_a_missing_one_are_parsed(client):
    for ct in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json", None):
        headers = {"content-type": ct} if ct else {}
        r = client.post("/points", content=b'{"x": 2}', headers=headers)
        assert r.json()["sum"] == 2, (ct, r.text)


def test_an_optional_body_may_be_absent(client):
    assert client.post("/optional", content=b"").text == "none"
    assert client.post("/optional", json={"name": "x", "price": 1}).text == "x"


def test_a_refused_input_is_quoted_only_in_part(client):
    r = client.post("/items", json={"name": "x" * 10_000, "price": 0})
    (error,) = r.json()["detail"]
    assert error["input"] == 0
    r = client.post("/items", json={"price": 1, "blob": "y" * 10_000})
    (error,) = r.json()["detail"]
    assert error["type"] == "missing" and isinstance(error["input"], str) and len(error["input"]) <= 260
    assert len(r.content) < 1_000


def test_an_exception_handler_reshapes_the_422(serve):
    app = Tiercel(__file__)

    @app.exception(RequestValidationError)
    def reshape(request, error):
        return {"problems": [".".join(map(str, e["loc"])) for e in error.errors()], "raw": error.body.decode()}, 400

    @app.post("/points")
    def points(point: Point):
        return point.x

    r = httpx.post(serve(app).url + "/points", content=b'{"x": "no"}')
    assert (r.status_code, r.json()) == (400, {"problems": ["body.x"], "raw": '{"x": "no"}'})


class Login(pydantic.BaseModel):
    user: str
    remember: bool = False


def test_a_form_into_a_model_form_fields_and_files(serve, tmp_path):
    app = Tiercel(__file__)

    @app.post("/login")
    def login(data: Annotated[Login, Form()]):
        return {"user": data.user, "remember": data.remember}

    @app.post("/upload")
    def upload(title: Annotated[str, Form(min_length=2)], doc: UploadFile, extra: list[UploadFile],
               raw: Annotated[bytes, File()]):  # fmt: skip
        return {"title": title, "doc": [doc.filename, doc.read().decode()],
                "extra": [f.filename for f in extra], "raw": raw.decode()}  # fmt: skip

    s = serve(app)
    r = httpx.post(s.url + "/login", data={"user": "ann", "remember": "yes"})
    assert r.json() == {"user": "ann", "remember": True}
    r = httpx.post(s.url + "/login", data={"remember": "maybe"})
    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("missing", ["body", "user"]),
        ("bool_parsing", ["body", "remember"]),
    ]
    files = [("doc", ("a.txt", b"hello")), ("extra", ("1.txt", b"1")), ("extra", ("2.txt", b"2")),
             ("raw", ("r.bin", b"raw"))]  # fmt: skip
    r = httpx.post(s.url + "/upload", data={"title": "report"}, files=files)
    assert r.json() == {"title": "report", "doc": ["a.txt", "hello"], "extra": ["1.txt", "2.txt"], "raw": "raw"}
    r = httpx.post(s.url + "/upload", data={"title": "r"}, files=[("raw", ("r.bin", b"raw"))])
    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [
        ("string_too_short", ["body", "title"]),
        ("missing", ["body", "doc"]),
        ("missing", ["body", "extra"]),
    ]


def test_a_model_body_and_a_form_in_one_handler_is_refused_at_registration(serve):
    app = Tiercel(__file__)

    @app.post("/x")
    def both(item: Item, title: Annotated[str, Form()]):
        return "x"

    with pytest.raises(TypeError, match="a request has one body"):
        serve(app)


def test_a_missing_library_is_one_start_up_line_naming_its_install_command(tmp_path):
    (tmp_path / "app.py").write_text(
        textwrap.dedent("""
            import sys
            sys.modules["pydantic"] = None  # as if neither were installed
            sys.modules["msgspec"] = None
            import dataclasses
            from tiercel import Tiercel
            app = Tiercel(__file__)

            @dataclasses.dataclass
            class Note:
                text: str

            @app.post("/notes")
            def notes(note: Note):
                return note.text

            app.start()
        """)
    )
    r = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                       env={**os.environ, "TIERCEL_PORT": "0"})  # fmt: skip
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("tiercel: error: ") and "pip install 'tiercel[pydantic]'" in line and "notes" in line


class Event(pydantic.BaseModel):
    id: uuid.UUID
    at: datetime.date


def test_uuid_and_datetime_fields_round_trip(serve):
    app = Tiercel(__file__)

    @app.post("/events")
    def events(event: Event) -> Event:
        return event

    u = str(uuid.uuid4())
    r = httpx.post(serve(app).url + "/events", json={"id": u, "at": "2026-12-07"})
    assert r.json() == {"id": u, "at": "2026-12-07"}
