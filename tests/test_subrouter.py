"""SubRouter: prefixes (nested), every decorator, per-router middleware and dependencies, include_router."""

from __future__ import annotations

import httpx
import pytest

from tiercel import AuthenticationHandler, BearerGetter, Identity, SubRouter, TestClient, Tiercel

METHODS = ["get", "post", "put", "delete", "patch", "options"]


def test_every_decorator_under_a_prefix(serve):
    app = Tiercel(__file__)
    api = SubRouter(__file__, prefix="/api")
    for m in METHODS:
        getattr(api, m)("/items/:id")(lambda request, m=m: f"{m} {request.path_params['id']}")
    api.add_route("GET", "/", lambda: "api root")
    app.include_router(api)
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        for m in METHODS:
            assert c.request(m.upper(), "/api/items/7").text == f"{m} 7"
        assert c.get("/api").text == "api root"
        assert c.get("/api/").text == "api root"
        assert c.head("/api/items/7").status_code == 200
        assert c.get("/items/7").status_code == 404


def test_nested_prefixes_and_routes_added_after_include(serve):
    app = Tiercel(__file__)
    v1 = SubRouter(__file__, prefix="/v1/")
    users = SubRouter(__file__, prefix="/users")
    v1.include_router(users)
    app.include_router(v1)

    @users.get("/:uid")
    def user(uid: int):
        return {"uid": uid}

    s = serve(app)
    assert httpx.get(s.url + "/v1/users/5").json() == {"uid": 5}
    assert [r.path for r in app.compiled_routes()] == ["/v1/users/:uid"]


def test_router_middleware_applies_to_its_routes_only(serve):
    app = Tiercel(__file__)
    admin = SubRouter(__file__, prefix="/admin")
    order: list[str] = []

    @app.before_request()
    def app_before(request):
        order.append("app")

    @admin.before_request()
    def admin_before(request):
        order.append("admin")
        if request.headers.get("x-token") != "secret":
            return "forbidden", 403

    @admin.before_request("/stats")
    async def stats_before(request):
        order.append("stats")

    @admin.after_request()
    def admin_after(response):
        response.headers.set("x-admin", "1")
        return response

    @admin.post("/stats")
    def stats():
        return "stats"

    @app.get("/public")
    def public():
        return "public"

    app.include_router(admin)
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        r = c.post("/admin/stats")
        assert (r.status_code, r.text, r.headers["x-admin"]) == (403, "forbidden", "1")
        assert order == ["app", "admin"]
        order.clear()
        r = c.post("/admin/stats", headers={"x-token": "secret"})
        assert (r.status_code, r.text) == (200, "stats")
        assert order == ["app", "admin", "stats"]
        order.clear()
        r = c.get("/public")
        assert r.text == "public" and "x-admin" not in r.headers
        assert order == ["app"]


def test_router_dependencies(serve):
    app = Tiercel(__file__)
    app.inject_global(db="the-db")
    app.inject(name="app")
    r1 = SubRouter(__file__, prefix="/r1")
    r1.inject(name="r1", only_r1=1)
    inner = SubRouter(__file__, prefix="/inner")
    inner.inject(name="inner")
    r1.include_router(inner)
    app.include_router(r1)

    @app.get("/a")
    def a(name, db, router_dependencies):
        return [name, db, router_dependencies]

    @r1.get("/b")
    def b(name, db, only_r1, router_dependencies):
        return [name, db, only_r1, router_dependencies]

    @inner.get("/c")
    def c(name, only_r1, global_dependencies):
        return [name, only_r1, global_dependencies]

    s = serve(app)
    assert httpx.get(s.url + "/a").json() == ["app", "the-db", {"name": "app"}]
    assert httpx.get(s.url + "/r1/b").json() == ["r1", "the-db", 1, {"name": "r1", "only_r1": 1}]
    assert httpx.get(s.url + "/r1/inner/c").json() == ["inner", 1, {"db": "the-db"}]


def test_include_router_refusals():
    app = Tiercel(__file__)
    r = SubRouter(__file__, prefix="/x")
    r.get("/y")(lambda: "y")
    app.get("/x/y")(lambda: "app")
    with pytest.raises(ValueError, match=r"GET /x/y is already declared at \S*test_subrouter.py:\d+"):
        app.include_router(r)
    with pytest.raises(TypeError, match="SubRouter"):
        app.include_router(app)  # type: ignore[arg-type]
    a, b = SubRouter(__file__, prefix="/a"), SubRouter(__file__, prefix="/b")
    a.include_router(b)
    with pytest.raises(ValueError, match="cannot include itself"):
        b.include_router(a)
    with pytest.raises(ValueError, match="must start with '/'"):
        SubRouter(__file__, prefix="api")
    assert app.routers == []  # the refused router was not kept


def test_prefix_alone_as_first_argument():
    assert SubRouter("/api").prefix == "/api"
    assert SubRouter(__file__, "/v2").prefix == "/v2"
    assert SubRouter(__file__).prefix == ""
    assert SubRouter(prefix="/x").prefix == "/x"


def test_websockets_and_directories_under_a_prefix(serve, tmp_path):
    import asyncio

    from websockets.asyncio.client import connect

    (tmp_path / "hello.txt").write_text("hello from disk")
    app = Tiercel(__file__)
    api = SubRouter("/api")
    v1 = SubRouter("/v1")

    @v1.websocket("/ws/:room")
    async def room(websocket):
        msg = await websocket.receive_text()
        await websocket.send_text(f"{websocket.path_params['room']}:{msg}")

    v1.serve_directory("/files", str(tmp_path))
    api.include_router(v1)
    app.include_router(api)
    s = serve(app)
    assert httpx.get(s.url + "/api/v1/files/hello.txt").text == "hello from disk"
    assert httpx.get(s.url + "/files/hello.txt").status_code == 404

    async def talk():
        async with connect(f"ws://127.0.0.1:{s.port}/api/v1/ws/blue") as ws:
            await ws.send("hi")
            return await ws.recv()

    assert asyncio.run(talk()) == "blue:hi"
    # A router's WebSocket path that clashes with a route of the app is refused when it is included.
    clash_app = Tiercel(__file__)

    @clash_app.get("/api/v1/ws/:room")
    def http_room(request):
        return "http"

    with pytest.raises(ValueError):
        clash_app.include_router(api)


class _TokenAuth(AuthenticationHandler):
    """Lets in the one token it was made with, naming itself in the identity."""

    def __init__(self, name: str, token: str) -> None:
        super().__init__(BearerGetter())
        self.name, self.token = name, token

    def authenticate(self, request):
        ok = self.token_getter.get_token(request) == self.token
        return Identity(claims={"by": self.name}) if ok else None


def test_subrouter_authentication_serves_its_routes_and_the_apps_serves_the_rest(serve):
    app = Tiercel(__file__)
    app.configure_authentication(_TokenAuth("app", "app-token"))
    admin = SubRouter(__file__, prefix="/admin")
    admin.configure_authentication(_TokenAuth("admin", "admin-token"))
    nested = SubRouter(__file__, prefix="/deep")  # no handler of its own: the nearest router's (admin's)
    plain = SubRouter(__file__, prefix="/plain")  # none either: the app's
    for router in (app, admin, nested, plain):
        router.get("/me", auth_required=True)(lambda request: request.identity.claims["by"])
    admin.include_router(nested)
    app.include_router(admin)
    app.include_router(plain)
    s = serve(app)

    def get(path: str, token: str) -> httpx.Response:
        return httpx.get(s.url + path, headers={"Authorization": f"Bearer {token}"})

    for path, owner in (("/me", "app"), ("/admin/me", "admin"), ("/admin/deep/me", "admin"), ("/plain/me", "app")):
        assert get(path, f"{owner}-token").text == owner
        other = "admin" if owner == "app" else "app"
        refused = get(path, f"{other}-token")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


def test_subrouter_authentication_without_an_app_handler(serve):
    app = Tiercel(__file__)
    api = SubRouter(__file__, prefix="/api")
    api.configure_authentication(_TokenAuth("api", "t"))
    api.get("/me", auth_required=True)(lambda request: request.identity.claims["by"])
    app.include_router(api)
    s = serve(app)
    assert httpx.get(s.url + "/api/me", headers={"Authorization": "Bearer t"}).text == "api"
    assert httpx.get(s.url + "/api/me").status_code == 401


def test_auth_required_without_any_handler_names_the_route():
    app = Tiercel(__file__)
    app.get("/me", auth_required=True)(lambda request: "x")
    with pytest.raises(ValueError, match=r"GET /me has auth_required=True but neither the app nor its router"):
        TestClient(app).get("/me")


def test_subrouter_inject_global_overrides_the_apps_for_its_routes(serve):
    app = Tiercel(__file__)
    app.inject_global(GLOBAL="app", only_app=1)
    router = SubRouter(__file__, prefix="/r")
    router.inject_global(GLOBAL="router", only_router=2)
    router.inject(ROUTER="mine")

    @router.get("/g")
    def in_router(global_dependencies, router_dependencies, GLOBAL, only_app):
        return {"g": global_dependencies, "r": router_dependencies, "GLOBAL": GLOBAL, "only_app": only_app}

    @app.get("/g")
    def in_app(global_dependencies):
        return global_dependencies

    app.include_router(router)
    s = serve(app)
    assert httpx.get(s.url + "/r/g").json() == {
        "g": {"GLOBAL": "router", "only_app": 1, "only_router": 2},
        "r": {"ROUTER": "mine"},
        "GLOBAL": "router",
        "only_app": 1,
    }
    assert httpx.get(s.url + "/g").json() == {"GLOBAL": "app", "only_app": 1}
