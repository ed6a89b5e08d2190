"""The OpenAPI document made from an app's routes (tiercel.openapi_document), and Robyn's OpenAPI classes.

The document of a large app is made from its registration data alone (the same function the /openapi.json route
calls at start-up), checked member by member and validated by openapi-spec-validator; tests/test_docs_page.py
serves documents over HTTP.
"""

from __future__ import annotations

import datetime
import enum
import importlib.util
import inspect
import json
import pathlib
import uuid
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from tiercel import AuthenticationHandler, BearerGetter, Identity, SubRouter, Tiercel, TokenGetter
from tiercel._core import QueryParams, UploadFile
from tiercel.compile import check_app
from tiercel.config import resolve
from tiercel.fields import Body, Cookie, File, Form, Header, Path, Query
from tiercel.openapi import Components, Contact, ExternalDocumentation, License, OpenAPI, OpenAPIInfo, Server
from tiercel.openapi_document import build_document, openapi_path
from tiercel.types import JsonBody

# ---- the app ---------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Tag(BaseModel):
    name: str = Field(min_length=1, max_length=20)


class Item(BaseModel):
    id: uuid.UUID
    name: str
    color: Color
    tags: list[Tag] = []
    created: datetime.datetime
    price: float | None = Field(default=None, gt=0)


class Message(BaseModel):
    detail: str


class Point(msgspec.Struct):
    x: int
    y: int


class Note(TypedDict):
    text: str


class Search(QueryParams):
    term: str
    limit: int


class Comment(JsonBody):
    author: str
    stars: int


class TokenAuth(AuthenticationHandler):
    def authenticate(self, request):
        return Identity(claims={}) if BearerGetter.get_token(request) == "s3cret" else None


class KeyGetter(TokenGetter):
    scheme = "ApiKey"

    @classmethod
    def get_token(cls, request):
        return request.headers.get("x-key")


class KeyAuth(AuthenticationHandler):
    def authenticate(self, request):
        return None


def shop_app() -> Tiercel:
    info = OpenAPIInfo(
        title="Shop",
        version="2.1.0",
        description="Things to buy.",
        termsOfService="https://shop.example/terms",
        contact=Contact(name="Ops", email="ops@shop.example"),
        license=License(name="MIT", url="https://opensource.org/licenses/MIT"),
        servers=[Server(url="https://api.shop.example", description="production")],
        externalDocs=ExternalDocumentation(description="Guide", url="https://shop.example/guide"),
        components=Components(schemas={"Extra": {"type": "string", "title": "Extra"}}),
    )
    app = Tiercel(__file__, openapi=OpenAPI(info=info))
    app.configure_authentication(TokenAuth(token_getter=BearerGetter()))

    @app.get("/items/:item_id", auth_required=True)
    def read_item(
        item_id: int,
        q: Annotated[str | None, Query(max_length=5, description="a filter", examples=["abc"])] = None,
        color: Color = Color.RED,
        size: Annotated[int, Query(ge=1, lt=10)] = 3,
        user_agent: Annotated[str | None, Header(pattern="^[a-z]+/")] = None,
        session_id: Annotated[str | None, Cookie()] = None,
        tags: list[str] | None = None,
        since: datetime.datetime | None = None,
        secret: Annotated[str | None, Query(include_in_schema=False)] = None,
        old: Annotated[int | None, Query(alias="legacy-page", deprecated=True)] = None,
    ) -> Item:
        """Read an item.

        Everything about one item."""

    @app.post("/items", status_code=201, responses={404: {"model": Message, "description": "No such shop"}, 409: Tag})
    def create_item(item: Item) -> list[Item]:
        """Create an item."""

    @app.put("/items/{item_id}", summary="Replace it", tags=["writes"])
    def replace_item(item_id: uuid.UUID, item: Annotated[Item, Body(embed=True)], note: Annotated[str, Body()]):
        """The first line.

        The rest."""

    @app.delete("/items/:item_id", status_code=204, deprecated=True, openapi_name="Remove")
    def delete_item(item_id: Annotated[int, Path(gt=0)]) -> None: ...

    @app.post("/upload")
    def upload(
        file: UploadFile,
        more: list[UploadFile],
        title: Annotated[str, Form(min_length=2)],
        avatar: Annotated[bytes | None, File()] = None,
    ): ...

    @app.post("/login")
    def login(user: Annotated[str, Form()], password: Annotated[str, Form()]): ...

    @app.post("/points", response_model=Point)
    def add_point(point: Point): ...

    @app.get("/hidden", include_in_schema=False)
    def hidden(request):
        return "not documented"

    @app.get("/plain")
    def plain(request) -> str:
        return "text"

    @app.get("/untyped", response_model=None)
    def untyped(request) -> Item: ...

    @app.get("/kind/:kind")
    def kind(kind: Literal["a", "b"]):
        return kind

    @app.get("/files/*rest")
    def files(request):
        return "a file"

    @app.get("/a/b_c")
    def a(request): ...

    @app.get("/c")
    def a_b(request): ...

    @app.get("/robyn/search")
    def robyn_search(request, query_params: Search): ...

    @app.post("/robyn/comments")
    def robyn_comment(comment: Comment): ...

    @app.post("/notes")
    def add_note(note: Note) -> Note: ...

    @app.post("/raw", openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}})
    def raw(request):
        return request.json()

    @app.websocket("/ws")
    async def ws(websocket):
        await websocket.close()

    app.serve_directory("/static", __file__.rsplit("/", 1)[0])

    shop = SubRouter("/api/v1", tags=["shop"])

    @shop.get("/colors/:color", openapi_tags=["colors", "shop"])  # Robyn's spelling of tags
    def by_color(color: Color):
        return color.value

    inner = SubRouter("/inner")
    inner.configure_authentication(KeyAuth(token_getter=KeyGetter()))

    @inner.get("/secret", auth_required=True)
    def inner_secret(request): ...

    shop.include_router(inner)
    app.include_router(shop)
    return app


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    app = shop_app()
    document = build_document(app.openapi, app.compiled_routes())
    return json.loads(json.dumps(document))  # what clients read: JSON, not the dicts the builder shares


def op(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"][path][method]
    return result


def json_of(ref: str) -> dict[str, Any]:
    """A content member holding a reference to a component."""
    return {"application/json": {"schema": {"$ref": "#/components/schemas/" + ref}}}


def params(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", [])}


# ---- the document ----------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema, unresolved $ref or undeclared path parameter


def test_info_servers_external_docs_and_hand_written_components(doc):
    assert doc["info"] == {
        "title": "Shop",
        "version": "2.1.0",
        "description": "Things to buy.",
        "termsOfService": "https://shop.example/terms",
        "contact": {"name": "Ops", "email": "ops@shop.example"},
        "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
    }
    assert doc["servers"] == [{"url": "https://api.shop.example", "description": "production"}]
    assert doc["externalDocs"] == {"description": "Guide", "url": "https://shop.example/guide"}
    assert doc["components"]["schemas"]["Extra"] == {"type": "string", "title": "Extra"}


def test_paths_use_openapi_spelling_and_skip_what_is_not_http(doc):
    assert openapi_path("/a/:b/c/*rest") == "/a/{b}/c/{rest}"
    assert set(doc["paths"]) == {
        "/items/{item_id}", "/items", "/upload", "/login", "/points", "/plain", "/kind/{kind}", "/files/{rest}",
        "/untyped", "/a/b_c", "/c", "/robyn/search", "/robyn/comments", "/notes", "/raw", "/api/v1/colors/{color}",
        "/api/v1/inner/secret",
    }  # fmt: skip  (no /hidden, no WebSocket, no static directory, not the docs' own routes)
    assert set(doc["paths"]["/items/{item_id}"]) == {"get", "put", "delete"}


def test_parameters_types_and_rules(doc):
    read = params(op(doc, "get", "/items/{item_id}"))
    assert read["item_id"] == {"name": "item_id", "in": "path", "required": True,
                               "schema": {"type": "integer", "title": "Item Id"}}  # fmt: skip
    assert read["q"]["schema"] == {"type": "string", "maxLength": 5, "title": "Q", "examples": ["abc"]}
    assert (read["q"]["required"], read["q"]["description"]) == (False, "a filter")
    assert read["color"]["schema"] == {"$ref": "#/components/schemas/Color", "default": "red", "title": "Color"}
    assert read["size"]["schema"] == {"type": "integer", "minimum": 1, "exclusiveMaximum": 10, "default": 3,
                                      "title": "Size"}  # fmt: skip
    assert read["size"]["required"] is False  # the parameter's own default, as FastAPI reads it
    assert (read["user-agent"]["in"], read["session_id"]["in"]) == ("header", "cookie")  # User-Agent, dashed
    assert read["user-agent"]["schema"]["pattern"] == "^[a-z]+/"
    assert read["tags"]["schema"] == {"type": "array", "items": {"type": "string"}, "title": "Tags"}
    assert read["since"]["schema"] == {"type": "string", "format": "date-time", "title": "Since"}
    assert "secret" not in read  # Query(include_in_schema=False)
    assert read["legacy-page"]["deprecated"] is True  # by its alias
    assert params(op(doc, "put", "/items/{item_id}"))["item_id"]["schema"]["format"] == "uuid"
    assert params(op(doc, "delete", "/items/{item_id}"))["item_id"]["schema"]["exclusiveMinimum"] == 0
    assert params(op(doc, "get", "/kind/{kind}"))["kind"]["schema"] == {
        "enum": ["a", "b"], "type": "string", "title": "Kind"}  # fmt: skip
    # A path parameter the handler does not take is still declared (OpenAPI requires it).
    assert params(op(doc, "get", "/files/{rest}"))["rest"]["schema"] == {"type": "string", "title": "Rest"}


def test_an_enum_is_one_component_shared_by_parameters_and_models(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["Color"] == {"enum": ["red", "blue"], "title": "Color", "type": "string"}
    assert schemas["Item"]["properties"]["color"] == {"$ref": "#/components/schemas/Color"}
    assert [name for name in schemas if name.startswith("Color")] == ["Color"]


def test_models_nested_optional_lists_and_constraints(doc):
    item = doc["components"]["schemas"]["Item"]
    assert item["required"] == ["id", "name", "color", "created"]
    assert item["properties"]["id"]["format"] == "uuid"
    assert item["properties"]["created"]["format"] == "date-time"
    assert item["properties"]["tags"]["items"] == {"$ref": "#/components/schemas/Tag"}
    assert item["properties"]["price"]["anyOf"] == [{"exclusiveMinimum": 0.0, "type": "number"}, {"type": "null"}]
    assert doc["components"]["schemas"]["Tag"]["properties"]["name"]["maxLength"] == 20


def test_request_bodies_json_embedded_and_forms(doc):
    create = op(doc, "post", "/items")["requestBody"]
    assert create == {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
                      "required": True}  # fmt: skip
    replace = op(doc, "put", "/items/{item_id}")["requestBody"]["content"]["application/json"]["schema"]
    assert replace == {"$ref": "#/components/schemas/Body_replace_item_items__item_id__put"}
    body = doc["components"]["schemas"]["Body_replace_item_items__item_id__put"]
    assert body["properties"] == {"item": {"$ref": "#/components/schemas/Item"}, "note": {"type": "string"}}
    assert body["required"] == ["item", "note"]
    upload = op(doc, "post", "/upload")["requestBody"]["content"]
    form = doc["components"]["schemas"][upload["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert form["properties"]["file"]["format"] == "binary"
    assert form["properties"]["more"]["type"] == "array"
    assert form["properties"]["more"]["items"]["format"] == "binary"
    assert form["properties"]["title"] == {"type": "string", "minLength": 2, "title": "Title"}
    assert form["properties"]["avatar"]["format"] == "binary"
    assert form["required"] == ["file", "more", "title"]
    login = op(doc, "post", "/login")["requestBody"]["content"]
    assert list(login) == ["application/x-www-form-urlencoded"]
    points = op(doc, "post", "/points")
    assert points["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Point"}
    assert doc["components"]["schemas"]["Point"]["required"] == ["x", "y"]  # msgspec's own schema


def test_responses_models_status_extra_and_422(doc):
    read = op(doc, "get", "/items/{item_id}")["responses"]
    assert read["200"] == {"description": "Successful Response", "content": json_of("Item")}
    assert read["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HTTPValidationError"}
    create = op(doc, "post", "/items")["responses"]
    assert set(create) == {"201", "404", "409", "422"}
    assert create["201"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Item"}}  # fmt: skip
    assert create["404"] == {"description": "No such shop", "content": json_of("Message")}
    assert create["409"]["description"] == "Conflict"
    assert op(doc, "delete", "/items/{item_id}")["responses"]["204"] == {"description": "Successful Response"}
    assert op(doc, "post", "/points")["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Point"}  # fmt: skip
    plain = {"text/plain": {"schema": {"type": "string"}}}
    assert op(doc, "get", "/plain")["responses"] == {"200": {"description": "Successful Response", "content": plain}}
    assert op(doc, "get", "/untyped")["responses"] == {"200": {"description": "Successful Response"}}
    assert "422" not in op(doc, "get", "/files/{rest}")["responses"]  # nothing of the request is validated


def test_validation_error_schemas_are_fastapis(doc):
    fastapi = pytest.importorskip("fastapi")
    reference = fastapi.FastAPI()
    reference.get("/{x}")(lambda x: x)
    theirs = reference.openapi()["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        assert doc["components"]["schemas"][name] == theirs[name]


def test_summary_description_tags_deprecated_operation_ids(doc):
    read = op(doc, "get", "/items/{item_id}")
    assert (read["summary"], read["description"]) == ("Read an item.", "Everything about one item.")
    replace = op(doc, "put", "/items/{item_id}")
    assert (replace["summary"], replace["description"]) == ("Replace it", "The first line.\n\nThe rest.")
    assert replace["tags"] == ["writes"]
    delete = op(doc, "delete", "/items/{item_id}")
    assert (delete["summary"], delete["deprecated"]) == ("Remove", True)  # Robyn's openapi_name
    assert op(doc, "get", "/plain")["summary"] == "Plain"  # no docstring: the handler's name
    assert "tags" not in read  # a route without tags has none (a prefix adds none either)
    assert op(doc, "get", "/api/v1/colors/{color}")["tags"] == ["shop", "colors"]
    assert op(doc, "get", "/api/v1/inner/secret")["tags"] == ["shop"]  # included routers pass theirs down
    ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert len(ids) == len(set(ids))
    assert op(doc, "get", "/a/b_c")["operationId"] == "a_a_b_c_get"
    assert op(doc, "get", "/c")["operationId"] == "a_b_c_get"


def test_a_given_operation_id_used_twice_is_refused():
    app = Tiercel(__file__)
    app.get("/one", operation_id="getThing")(lambda request: 1)
    app.get("/two", operation_id="getThing")(lambda request: 2)
    with pytest.raises(ValueError, match=r"GET /two .*operation_id 'getThing' is already the one of GET /one"):
        build_document(OpenAPI(), app.compiled_routes())
    with pytest.raises(ValueError, match="operation_id 'getThing'"):
        check_app(app, resolve({}))  # a supervisor finds it once, before it forks workers
    check_app(app, resolve({"disable_openapi": True}))  # no document, no mistake in it


def test_a_given_operation_id_names_the_body_component_with_valid_characters():
    app = Tiercel(__file__)

    def login(user: Annotated[str, Form()], password: Annotated[str, Form()]): ...

    app.post("/login", operation_id="log in!")(login)
    doc = build_document(OpenAPI(), app.compiled_routes())
    assert doc["paths"]["/login"]["post"]["operationId"] == "log in!"
    assert "Body_log_in_" in doc["components"]["schemas"]
    validate(doc)


def test_generated_operation_ids_are_made_unique():
    app = Tiercel(__file__)

    def a(request): ...

    def a_b(request): ...

    app.get("/b_c")(a)  # a + /b_c -> a_b_c_get
    app.get("/c")(a_b)  # a_b + /c -> a_b_c_get as well
    doc = build_document(OpenAPI(), app.compiled_routes())
    assert [doc["paths"][p]["get"]["operationId"] for p in ("/b_c", "/c")] == ["a_b_c_get", "a_b_c_get_2"]


def test_security_schemes_follow_the_authentication_handlers(doc):
    assert doc["components"]["securitySchemes"] == {
        "BearerAuth": {"type": "http", "scheme": "bearer"},
        "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "Authorization"},
    }
    assert op(doc, "get", "/items/{item_id}")["security"] == [{"BearerAuth": []}]
    assert op(doc, "get", "/api/v1/inner/secret")["security"] == [{"ApiKeyAuth": []}]
    assert "security" not in op(doc, "post", "/items")


def test_a_declared_scheme_is_the_one_routes_require():
    openapi = OpenAPI()
    openapi.add_security_scheme("Key", {"type": "apiKey", "in": "header", "name": "X-Key"})
    app = Tiercel(__file__, openapi=openapi)
    app.configure_authentication(KeyAuth(token_getter=KeyGetter()))
    app.get("/k", auth_required=True)(lambda request: "k")
    doc = build_document(app.openapi, app.compiled_routes())
    assert doc["paths"]["/k"]["get"]["security"] == [{"Key": []}]
    assert doc["components"]["securitySchemes"] == {"Key": {"type": "apiKey", "in": "header", "name": "X-Key"}}
    validate(doc)


def test_robyn_query_params_json_body_typed_dicts_and_openapi_extra(doc):
    search = params(op(doc, "get", "/robyn/search"))
    assert search["term"]["schema"] == {"type": "string", "title": "Term"}
    assert search["limit"]["schema"] == {"type": "integer", "title": "Limit"}
    comment = op(doc, "post", "/robyn/comments")["requestBody"]["content"]["application/json"]["schema"]
    assert comment == {"$ref": "#/components/schemas/Comment"}
    assert set(doc["components"]["schemas"]["Comment"]["properties"]) == {"author", "stars"}
    note = op(doc, "post", "/notes")
    assert note["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Note"}
    assert note["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Note"}
    raw = op(doc, "post", "/raw")["requestBody"]
    assert raw == {"content": {"application/json": {"schema": {"type": "object"}}}}


def test_two_models_of_one_name_are_two_components():
    class Thing(BaseModel):
        a: int

    class OtherThing(msgspec.Struct):
        b: str

    OtherThing.__name__ = "Thing"  # another module's Thing, described by msgspec
    app = Tiercel(__file__)
    app.get("/one", response_model=Thing)(lambda request: None)
    app.get("/two", response_model=OtherThing)(lambda request: None)
    doc = build_document(OpenAPI(), app.compiled_routes())
    refs = {p: doc["paths"][p]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            for p in ("/one", "/two")}  # fmt: skip
    assert len(set(refs.values())) == 2
    names = {r.rsplit("/", 1)[1] for r in refs.values()}
    assert names == {"Thing", "Thing2"}
    assert {tuple(doc["components"]["schemas"][n]["properties"]) for n in names} == {("a",), ("b",)}
    validate(doc)


# ---- Robyn's classes -------------------------------------------------------------------------


def test_robyn_spelling_imports_and_defaults():
    openapi = OpenAPI()
    assert openapi.info.title == "Tiercel API" and openapi.info.version == "1.0.0"
    assert openapi.get_openapi_config() == {"openapi": "3.1.0", "info": {"title": "Tiercel API", "version": "1.0.0"},
                                            "paths": {}, "components": openapi.openapi_spec["components"]}  # fmt: skip
    openapi.prune_empty_components()
    assert "components" not in openapi.openapi_spec
    page = openapi.get_openapi_docs_page()
    assert page.status_code == 200 and b"swagger-ui-bundle.js" in bytes(page.description)
    with pytest.raises(ValueError, match="security scheme"):
        openapi.add_security_scheme("Bad", {"scheme": "bearer"})
    with pytest.raises(TypeError, match="OpenAPIInfo"):
        OpenAPI(info={"title": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tiercel.openapi.OpenAPI"):
        Tiercel(__file__, openapi={"title": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of str"):
        SubRouter("/x", tags="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="openapi_extra"):
        Tiercel(__file__).get("/x", openapi_extra=["x"])


def test_a_generated_document_becomes_the_openapi_spec():
    app = shop_app()
    document = build_document(app.openapi, app.compiled_routes())
    assert app.openapi.get_openapi_config() is document


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's `anyOf: [T, null]` of an optional parameter as T (a query string has no null), without titles."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    options = schema.pop("anyOf", None)
    if options is not None:
        rest = [o for o in options if o != {"type": "null"}]
        schema = {**rest[0], **schema} if len(rest) == 1 else {"anyOf": rest, **schema}
    return schema


def test_parameters_are_described_as_fastapi_describes_them():
    fastapi = pytest.importorskip("fastapi")

    def handler(): ...

    def annotations(query: Any, header: Any, path: Any) -> dict[str, Any]:
        return {
            "item_id": Annotated[int, path(gt=0)],
            "size": Annotated[float, query(ge=1, lt=10)],
            "ref": uuid.UUID,
            "mode": Literal["fast", "slow"],
            "q": Annotated[str | None, query(max_length=5, pattern="^[a-z]+$")],
            "user_agent": Annotated[str | None, header()],
            "tags": Annotated[list[str] | None, query()],
            "color": Color,
            "day": datetime.date | None,
        }

    handler.__annotations__ = annotations(Query, Header, Path)  # the same parameters, with each one's markers
    names = list(handler.__annotations__)
    defaults = {"q": None, "user_agent": None, "tags": None, "color": Color.RED, "day": None}
    handler.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=handler.__annotations__[n],
                          default=defaults.get(n, inspect.Parameter.empty)) for n in names])  # fmt: skip
    app = Tiercel(__file__)
    app.get("/items/{item_id}")(handler)
    ours = params(build_document(OpenAPI(), app.compiled_routes())["paths"]["/items/{item_id}"]["get"])

    def theirs_handler(): ...

    theirs_handler.__annotations__ = annotations(fastapi.Query, fastapi.Header, fastapi.Path)
    theirs_handler.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        p.replace(annotation=theirs_handler.__annotations__[p.name])
        for p in handler.__signature__.parameters.values()])  # fmt: skip
    reference = fastapi.FastAPI()
    reference.get("/items/{item_id}")(theirs_handler)
    spec = reference.openapi()
    theirs = params(spec["paths"]["/items/{item_id}"]["get"])
    assert list(ours) == list(theirs)
    for name, theirs_param in theirs.items():
        mine = ours[name]
        assert (mine["in"], mine["required"]) == (theirs_param["in"], theirs_param["required"]), name
        assert _without_null(mine["schema"]) == _without_null(theirs_param["schema"]), name
    assert spec["components"]["schemas"]["Color"] == build_document(OpenAPI(), app.compiled_routes())[
        "components"]["schemas"]["Color"]  # fmt: skip


EXAMPLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_apps_document_is_valid_openapi(path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the examples start their server only under __main__
    document = build_document(module.app.openapi, module.app.compiled_routes())
    validate(json.loads(json.dumps(document)))
    assert document["paths"], f"{path.name} documents no operation"
