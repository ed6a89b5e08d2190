"""Every kind of result passes through the request pipeline: returned by a handler and then seen by the
after-request hooks, or returned by a before-request hook (a short-circuit, the after hooks still running), on
plain, const, authenticated and SubRouter routes. Through the TestClient: the same native stages as a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tiercel import (
    AuthenticationHandler,
    BearerGetter,
    Identity,
    Response,
    SSEMessage,
    SSEResponse,
    StreamingResponse,
    SubRouter,
    TestClient,
    Tiercel,
    html,
    redirect,
    serve_file,
)

FILE = Path(__file__).with_name("apps") / "result_file.txt"


def _chunks():
    yield "stream-"
    yield b"body"


def _events():
    yield SSEMessage("tick")


# name -> (factory of a fresh result, expected status, check of the body, expected headers)
RESULTS: dict[str, tuple[Callable[[], Any], int, Callable[[bytes], bool], dict[str, str]]] = {
    "str": (lambda: "text", 200, lambda b: b == b"text", {"content-type": "text/plain; charset=utf-8"}),
    "bytes": (lambda: b"\x00raw", 200, lambda b: b == b"\x00raw", {"content-type": "application/octet-stream"}),
    "dict": (lambda: {"a": 1}, 200, lambda b: b == b'{"a":1}', {"content-type": "application/json"}),
    "list": (lambda: [1, 2], 200, lambda b: b == b"[1,2]", {"content-type": "application/json"}),
    "tuple2": (lambda: ("made", 201), 201, lambda b: b == b"made", {}),
    "tuple3": (lambda: ("made", 201, {"X-Own": "1"}), 201, lambda b: b == b"made", {"x-own": "1"}),
    "tuple3_robyn": (lambda: ("made", {"X-Own": "1"}, 201), 201, lambda b: b == b"made", {"x-own": "1"}),
    "response": (lambda: Response(202, {"X-Own": "1"}, "resp"), 202, lambda b: b == b"resp", {"x-own": "1"}),
    "file": (lambda: serve_file(FILE), 200, lambda b: b == FILE.read_bytes(), {"content-type": "text/plain"}),
    "download": (
        lambda: serve_file(FILE, "report.txt"),
        200,
        lambda b: b == FILE.read_bytes(),
        {"content-disposition": 'attachment; filename="report.txt"'},
    ),
    "stream": (lambda: StreamingResponse(_chunks()), 200, lambda b: b == b"stream-body", {}),
    "sse": (lambda: SSEResponse(_events()), 200, lambda b: b"data: tick" in b, {"cache-control": "no-cache"}),
    "redirect": (lambda: redirect("/elsewhere"), 307, lambda b: True, {"location": "/elsewhere"}),
    "html": (lambda: html("<b>hi</b>"), 200, lambda b: b == b"<b>hi</b>", {"content-type": "text/html"}),
}
STREAMS = {"stream", "sse"}  # made fresh per request: a const route cannot keep one
ROUTE_KINDS = ["plain", "const", "auth", "subrouter"]


class AnyoneAuth(AuthenticationHandler):
    def authenticate(self, request):
        return Identity(claims={"user": "ada"})


def _handler_for(result: str) -> Callable[..., Any]:
    make = RESULTS[result][0]
    return lambda request: make()


def _refuse(request):
    raise AssertionError("a before-request hook answered: the handler must not run")


def _build(kind: str, via: str, result: str) -> tuple[Tiercel, str]:
    """An app whose route answers `result`, from the handler (via="handler") or from a scoped before hook
    (via="before"), with after hooks that mark what they saw."""
    app = Tiercel(__file__)
    app.configure_authentication(AnyoneAuth(BearerGetter()))

    @app.after_request()
    def mark(response):
        response.headers.set("X-After", "app")
        return response

    router: Any = app
    path = "/r"
    if kind == "subrouter":
        router = SubRouter(__file__, prefix="/sub")

        @router.after_request()
        def mark_router(request, response):
            response.headers.set("X-Router", request.path)
            return response

        path = "/sub/r"
    handler = _handler_for(result) if via == "handler" else _refuse
    if via == "before" and kind == "const":
        handler = lambda request: "the const handler's answer, computed once at start-up"  # noqa: E731
    router.get("/r", const=kind == "const", auth_required=kind == "auth")(handler)
    if via == "before":
        make = RESULTS[result][0]
        router.before_request("/r")(lambda request: make())
    if router is not app:
        app.include_router(router)
    return app, path


@pytest.mark.parametrize("via", ["handler", "before"])
@pytest.mark.parametrize("kind", ROUTE_KINDS)
@pytest.mark.parametrize("result", list(RESULTS))
def test_result_passes_through_hooks(result: str, kind: str, via: str) -> None:
    if kind == "const" and via == "handler" and result in STREAMS:
        pytest.skip("a const route's stream is refused at start-up: test_const_route_refuses_a_stream")
    app, path = _build(kind, via, result)
    _, status, body_ok, headers = RESULTS[result]
    with TestClient(app) as client:
        for _ in range(2):  # a second request: a const route's cached result must survive the hooks
            r = client.get(path, headers={"Authorization": "Bearer t"})
            assert r.status_code == status, r.text
            assert body_ok(r.content), r.content
            assert r.headers.get("x-after") == "app"
            assert r.headers.get_all("x-after") == ["app"]
            if kind == "subrouter":
                assert r.headers.get("x-router") == "/sub/r"
            for name, value in headers.items():
                assert r.headers.get(name, "").startswith(value), (name, r.headers.get(name))


@pytest.mark.parametrize("hooked", [False, True])
@pytest.mark.parametrize("result", sorted(STREAMS))
def test_const_route_refuses_a_stream(result: str, hooked: bool) -> None:
    app = Tiercel(__file__)
    app.get("/r", const=True)(_handler_for(result))
    if hooked:
        app.after_request()(lambda response: response)
    with pytest.raises(TypeError, match="const route: a StreamingResponse is used up by one request"):
        TestClient(app).get("/r")


def test_const_route_serves_a_file_without_hooks() -> None:
    app = Tiercel(__file__)
    app.get("/f", const=True)(lambda request: serve_file(FILE))
    with TestClient(app) as client:
        for _ in range(2):
            r = client.get("/f")
            assert r.status_code == 200 and r.content == FILE.read_bytes()


def test_after_hook_sees_the_file_response_and_its_headers() -> None:
    app = Tiercel(__file__)
    seen: list[Any] = []

    @app.after_request()
    def after(response):
        seen.append((type(response).__name__, response.file_path, response.status_code))
        response.headers.set("Cache-Control", "max-age=60")
        return response

    app.get("/f")(lambda request: serve_file(FILE))
    with TestClient(app) as client:
        r = client.get("/f")
        assert r.status_code == 200 and r.content == FILE.read_bytes()
        assert r.headers.get("cache-control") == "max-age=60"
        assert r.headers.get_all("cache-control") == ["max-age=60"]
        # the validators still work with the hook's headers on
        again = client.get("/f", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        ranged = client.get("/f", headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 206 and ranged.content == FILE.read_bytes()[:4]
        assert ranged.headers.get("cache-control") == "max-age=60"
    assert seen[0] == ("FileResponse", str(FILE), 200)
