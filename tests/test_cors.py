"""CORS: ALLOW_CORS / configure_cors, headers on actual responses, native preflight answers."""

from __future__ import annotations

import httpx
import pytest

from tiercel import ALLOW_CORS, Response, TestClient, Tiercel

APP_ORIGIN = "https://app.example"


def make_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/items/:id")
    def item(id: int):
        return {"id": id}

    @app.post("/items/:id")
    async def update(id: int):
        return {"updated": id}

    @app.get("/fixed", const=True)
    def fixed():
        return "fixed"

    @app.options("/custom")
    def custom_options():
        return Response(200, {"X-Own": "1"}, "own options")

    return app


def preflight(client, path, origin=APP_ORIGIN, method="POST", headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=h)


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_listed_origins_over_http(serve, loop_kind):
    app = make_app()
    app.configure_cors([APP_ORIGIN + "/", "http://localhost:3000"], ["X-Token"], credentials=True,
                       max_age=120, expose_headers=["X-Total"])  # fmt: skip
    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/items/1", headers={"Origin": APP_ORIGIN})
        assert r.json() == {"id": 1}
        assert r.headers["access-control-allow-origin"] == APP_ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"
        assert r.headers["access-control-expose-headers"] == "X-Total"
        assert r.headers["vary"] == "Origin"
        # Another origin gets no permission, but the answer still varies by Origin for caches.
        r = c.post("/items/2", headers={"Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        assert r.headers["vary"] == "Origin"
        r = c.get("/fixed", headers={"Origin": "http://localhost:3000"})  # a const route too
        assert (r.text, r.headers["access-control-allow-origin"]) == ("fixed", "http://localhost:3000")

        r = preflight(c, "/items/9", headers="x-token, content-type")
        assert r.status_code == 204 and r.content == b""
        assert r.headers["access-control-allow-origin"] == APP_ORIGIN
        assert r.headers["access-control-allow-methods"] == "GET, HEAD, POST, OPTIONS"
        assert r.headers["access-control-allow-headers"] == "X-Token"
        assert r.headers["access-control-allow-credentials"] == "true"
        assert r.headers["access-control-max-age"] == "120"

        r = preflight(c, "/items/9", origin="https://evil.example")
        assert (r.status_code, r.text) == (400, "Disallowed CORS origin\n")
        assert "access-control-allow-origin" not in r.headers
        assert preflight(c, "/items/9", method="DELETE").text == "Disallowed CORS method\n"
        assert preflight(c, "/items/9", headers="X-Other").text == "Disallowed CORS headers\n"
        # A plain OPTIONS (no preflight headers) lists the methods.
        r = c.options("/items/9")
        assert (r.status_code, r.headers["allow"]) == (204, "GET, HEAD, POST, OPTIONS")
        # The app's own OPTIONS route answers for itself; unknown paths are still 404.
        r = preflight(c, "/custom")
        assert (r.text, r.headers["x-own"]) == ("own options", "1")
        assert preflight(c, "/nowhere").status_code == 404


def test_any_origin_with_robyns_allow_cors():
    app = make_app()
    ALLOW_CORS(app, origins="*", headers="*")
    with TestClient(app) as client:
        r = client.get("/items/1", headers={"Origin": "https://anywhere.example"})
        assert r.headers["access-control-allow-origin"] == "*"
        assert "vary" not in r.headers and "access-control-allow-credentials" not in r.headers
        r = preflight(client, "/items/1", origin="https://anywhere.example", method="GET", headers="X-Anything, X-B")
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["access-control-allow-headers"] == "X-Anything, X-B"


def test_robyns_allow_cors_lets_listed_origins_send_credentials(serve):
    # Robyn's ALLOW_CORS sends Access-Control-Allow-Credentials: true and Max-Age 3600: a Robyn front end that
    # fetches with credentials: "include" must keep working after the port.
    app = make_app()
    ALLOW_CORS(app, [APP_ORIGIN])
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/items/1", headers={"Origin": APP_ORIGIN})
        assert r.headers["access-control-allow-origin"] == APP_ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"
        r = preflight(c, "/items/1")
        assert r.status_code == 204
        assert (r.headers["access-control-allow-credentials"], r.headers["access-control-max-age"]) == ("true", "3600")
        r = c.get("/items/1", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" not in r.headers


def test_unrouted_answers_and_preflights_carry_cors_and_global_headers(serve):
    # The 404s and 405s the connection makes itself: without CORS headers a front end cannot read them (fetch
    # fails as a network error) where Robyn's 404 is readable.
    app = make_app()
    app.set_response_header("X-Global", "1")
    ALLOW_CORS(app, [APP_ORIGIN])
    s = serve(app)
    with httpx.Client(base_url=s.url, headers={"Origin": APP_ORIGIN}) as c:
        for r in (c.get("/nowhere"), c.delete("/items/1")):
            assert r.status_code in (404, 405)
            assert r.headers["access-control-allow-origin"] == APP_ORIGIN
            assert r.headers["access-control-allow-credentials"] == "true"
            assert (r.headers["vary"], r.headers["x-global"]) == ("Origin", "1")
        r = c.get("/nowhere", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers and r.headers["vary"] == "Origin"
        r = preflight(c, "/items/1")  # the engine's preflight answer has the global headers too, as in Robyn
        assert (r.status_code, r.headers["x-global"]) == (204, "1")
        assert r.headers["access-control-allow-origin"] == APP_ORIGIN


def test_hooks_and_errors_keep_cors_headers():
    app = make_app()
    ALLOW_CORS(app, [APP_ORIGIN])

    @app.after_request("/items/:id")
    def after(response):
        response.headers.set("x-after", "1")
        return response

    with TestClient(app) as client:
        r = client.get("/items/1", headers={"Origin": APP_ORIGIN})
        assert (r.headers["x-after"], r.headers["access-control-allow-origin"]) == ("1", APP_ORIGIN)
        r = client.get("/items/x", headers={"Origin": APP_ORIGIN})  # a 400 from the parameter check
        assert (r.status_code, r.headers["access-control-allow-origin"]) == (400, APP_ORIGIN)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"origins": []}, "at least one origin"),
        ({"origins": ["*", APP_ORIGIN]}, "give it alone"),
        ({"origins": "*", "credentials": True}, "cannot be allowed for every origin"),
        ({"origins": ["app.example"]}, "a scheme and a host"),
        ({"origins": ["https://app.example/path"]}, "a scheme and a host"),
        ({"origins": "*", "max_age": -1}, "max_age"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Tiercel(__file__).configure_cors(**kwargs)


def test_bad_header_names_fail_at_start():
    app = make_app()
    ALLOW_CORS(app, "*", ["Bad Header"])
    with pytest.raises(ValueError, match="invalid CORS header name"):
        TestClient(app).get("/")
