"""FastAPI's `{name}` / `{name:path}` as other spellings of `:name` / `*name`, wherever a route path is taken, and
the start-up warning for a handler parameter named unlike the path parameter it seems meant for."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from websockets.asyncio.client import connect

from tiercel import SubRouter, Tiercel


def test_brace_parameters_over_http(serve, tmp_path):
    app = Tiercel(__file__)
    app.add_response_header("x-global", "1")
    seen: list[str] = []

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"item_id": item_id}

    @app.get("/files/{rest:path}")
    def files(rest: str):
        return rest

    @app.get("/users/{name:str}/posts/{post}/")
    def post(name, post: int):
        return [name, post]

    app.add_route("PUT", "/things/{thing}", lambda thing: f"put {thing}")

    @app.before_request("/items/{item_id}")
    def before(request):
        seen.append("before " + request.path_params["item_id"])

    @app.after_request("/files/{rest:path}")
    def after(response):
        response.headers.set("x-after", "1")

    app.exclude_response_headers_for("/things/{thing}")

    router = SubRouter(__file__, prefix="/orgs/{org}")

    @router.get("/members/{member}")
    def member(org, member):
        return f"{org}/{member}"

    app.include_router(router)

    @app.websocket("/ws/{room}")
    async def ws(websocket):
        await websocket.send_text("room " + websocket.path_params["room"])

    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        assert c.get("/items/3").json() == {"item_id": 3}
        assert c.get("/items/x").status_code == 400  # int, from the annotation
        assert seen == ["before 3", "before x"]
        r = c.get("/files/a/b/c.txt")
        assert (r.text, r.headers.get("x-after")) == ("a/b/c.txt", "1")
        assert c.get("/users/ada/posts/7").json() == ["ada", 7]
        r = c.put("/things/lamp")
        assert (r.text, "x-global" in r.headers) == ("put lamp", False)
        assert c.get("/orgs/acme/members/bo").text == "acme/bo"
        assert c.get("/items/%7Bitem_id%7D").status_code == 400  # no literal route "/items/{item_id}" either

    async def ws_room() -> str:
        async with connect(f"ws://127.0.0.1:{s.port}/ws/blue") as w:
            return str(await w.recv())

    assert asyncio.run(ws_room()) == "room blue"


def test_both_spellings_are_one_route():
    app = Tiercel(__file__)
    app.get("/items/{item_id}")(lambda item_id: item_id)
    with pytest.raises(ValueError, match="already declared"):
        app.get("/items/:item_id")(lambda item_id: item_id)
    assert [r.path for r in app.routes] == ["/items/:item_id"]


BAD = [
    ("/items/{}", "needs a parameter name"),
    ("/items/{a", "unbalanced braces"),
    ("/items/a}", "unbalanced braces"),
    ("/items/}a{", "unbalanced braces"),
    ("/items/{a:int}", "unknown converter 'int'.*annotate the handler's parameter \\(a: int\\)"),
    ("/files/{name}.txt", "whole segment"),
    ("/x{a}", "whole segment"),
    ("/items/{{a}}", "whole segment"),
    ("/items/{1a}", "needs a parameter name"),
    ("/books/<int:book_id>", "Flask's spelling; write :book_id .* annotate the handler's parameter \\(book_id: int\\)"),
    ("/users/<name>/posts", "'<name>' is Flask's spelling; write :name"),
    ("/files/<path:rest>", "Flask's spelling; write :rest"),
]


@pytest.mark.parametrize("path, message", BAD)
def test_malformed_braces_are_refused_everywhere(path, message, tmp_path):
    def named(fn):
        with pytest.raises(ValueError, match=message) as e:
            fn()
        assert repr(path) in str(e.value)

    app = Tiercel(__file__)
    named(lambda: app.get(path)(lambda: "x"))
    named(lambda: app.add_route("POST", path, lambda: "x"))
    named(lambda: app.websocket(path))
    named(lambda: app.before_request(path))
    named(lambda: app.after_request(path))
    named(lambda: app.exclude_response_headers_for([path]))
    named(lambda: app.serve_directory(path, str(tmp_path)))
    named(lambda: SubRouter(__file__, prefix=path))
    named(lambda: SubRouter(__file__, prefix="/api").get(path))
    assert app.routes == []


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tiercel" and r.levelno == logging.WARNING]


def test_a_parameter_named_unlike_the_path_is_warned_about_at_start_up(serve, caplog):
    app = Tiercel(__file__)

    @app.get("/users/:id")
    def get_user(user_id: int):
        return str(user_id)

    @app.get("/items/{item_id}")
    def get_item(itemId: str | None = None):  # noqa: N803
        return itemId or "none"

    @app.get("/orders/{order_id}")
    def get_order(order):
        return type(order).__name__

    @app.get("/fine/{id}")
    def fine(id: int, page: int = 1, video: str = ""):
        return str(id)

    with caplog.at_level(logging.WARNING, logger="tiercel"):
        s = serve(app)
    messages = warnings_of(caplog)
    assert len(messages) == 3, messages
    user, item, order = messages
    assert "GET /users/:id (" in user and "get_user at tests/test_path_spellings.py:" in user
    assert "parameter 'user_id' is read from the query string (required there)" in user
    assert "the path names its parameter 'id'" in user
    assert "parameter 'itemId'" in item and "'item_id'" in item and "required" not in item
    assert "parameter 'order'" in order and "gets the request" in order and "'order_id'" in order
    # The behaviour itself is unchanged: the warning says what happens.
    with httpx.Client(base_url=s.url) as c:
        assert c.get("/users/5").status_code == 400
        assert c.get("/users/5", params={"user_id": 7}).text == "7"
        assert c.get("/items/5").text == "none"
        assert c.get("/orders/5").text == "Request"
        assert c.get("/fine/5").text == "5"
