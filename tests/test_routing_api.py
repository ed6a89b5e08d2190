"""Route registration: decorators for every method, add_route, refusals at registration, const routes."""

from __future__ import annotations

import sys

import httpx
import pytest

from tiercel import Response, Tiercel

METHODS = ["get", "post", "put", "delete", "patch", "head", "options", "trace"]


def test_every_method_decorator(serve):
    app = Tiercel(__file__)
    for m in METHODS:
        app.__getattribute__(m)("/m")(lambda request, m=m: Response(200, {"X-Method": m.upper()}, m))
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        for m in METHODS:
            r = c.request(m.upper(), "/m")
            assert r.status_code == 200
            assert r.headers["x-method"] == m.upper()
            if m != "head":
                assert r.text == m


def test_connect_decorator_registers():
    app = Tiercel(__file__)
    app.connect("/tunnel")(lambda request: "ok")
    assert [(r.method, r.path) for r in app.routes] == [("CONNECT", "/tunnel")]


def test_add_route_without_decorator(serve):
    app = Tiercel(__file__)

    def handler(request):
        return "added"

    assert app.add_route("GET", "/added", handler) is handler
    app.add_route("post", "/added", lambda request: ("made", 201))
    s = serve(app)
    assert httpx.get(s.url + "/added").text == "added"
    r = httpx.post(s.url + "/added")
    assert (r.status_code, r.text) == (201, "made")


def test_duplicate_registration_is_refused():
    app = Tiercel(__file__)
    first_line = sys._getframe().f_lineno + 1
    app.get("/users/:id")(lambda request: "a")
    where = rf"is already declared at \S*test_routing_api.py:{first_line} \(handler "
    with pytest.raises(ValueError, match="GET /users/:id " + where):
        app.get("/users/:id")(lambda request: "b")
    with pytest.raises(ValueError, match=where):
        app.get("/users/:id/")(lambda request: "b")  # trailing slash is the same route
    with pytest.raises(ValueError, match=r"GET /users/:user_id is already declared \(as GET /users/:id\) at "):
        app.get("/users/:user_id")(lambda request: "b")  # another name at the same place: the same route
    # Same path, other method: fine.
    app.post("/users/:id")(lambda request: "c")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("users", "/"),
        ("/files/*rest/more", "last"),
        ("/a/:/b", "name"),
    ],
)
def test_bad_patterns_fail_at_registration(path, message):
    app = Tiercel(__file__)
    with pytest.raises(ValueError, match=message):
        app.get(path)(lambda request: "x")


def test_unknown_method_and_bad_handlers_fail_at_registration():
    app = Tiercel(__file__)
    with pytest.raises(ValueError, match="unknown HTTP method"):
        app.add_route("FETCH", "/", lambda request: "x")
    with pytest.raises(TypeError, match="callable"):
        app.add_route("GET", "/", "not a function")
    with pytest.raises(TypeError, match="str"):
        app.add_route("GET", 42, lambda request: "x")


def test_handler_without_request_parameter(serve):
    app = Tiercel(__file__)

    @app.get("/")
    def index():
        return "no args"

    @app.get("/async")
    async def index_async():
        return "no args async"

    s = serve(app)
    assert httpx.get(s.url + "/").text == "no args"
    assert httpx.get(s.url + "/async").text == "no args async"


def test_const_route_runs_handler_once(serve):
    app = Tiercel(__file__)
    calls = []

    @app.get("/const", const=True)
    def const(request):
        calls.append(1)
        return Response(200, {"X-Const": "yes"}, "cached")

    @app.get("/const-async", const=True)
    async def const_async(request):
        calls.append(2)
        return {"cached": True}

    s = serve(app)
    assert calls == [1, 2]  # rendered once at start-up
    with httpx.Client(base_url=s.url) as c:
        for _ in range(5):
            r = c.get("/const")
            assert (r.status_code, r.text, r.headers["x-const"]) == (200, "cached", "yes")
            assert c.get("/const-async").json() == {"cached": True}
        assert c.head("/const").headers["content-length"] == "6"
    assert calls == [1, 2]  # C++ served every request without calling Python


def test_path_params_catch_all_and_priority(serve):
    app = Tiercel(__file__)
    app.get("/users/me")(lambda request: "me")
    app.get("/users/:id")(lambda request: "user " + request.path_params["id"])
    app.get("/users/:id/posts/:post")(lambda request: request.path_params)
    app.get("/static/*path")(lambda request: "file " + request.path_params["path"])
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        assert c.get("/users/me").text == "me"
        assert c.get("/users/7").text == "user 7"
        assert c.get("/users/7/").text == "user 7"
        assert c.get("/users/7/posts/9").json() == {"id": "7", "post": "9"}
        assert c.get("/static/css/site.css").text == "file css/site.css"
        assert c.get("/static").status_code == 404
        assert c.get("/nothing").status_code == 404
