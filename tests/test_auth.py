"""Authentication: auth_required routes, BearerGetter, request.identity, 401 with WWW-Authenticate."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tiercel import AuthenticationHandler, BearerGetter, Identity, Response, TestClient, Tiercel, TokenGetter


class TokenAuth(AuthenticationHandler):
    def __init__(self, token_getter: TokenGetter) -> None:
        super().__init__(token_getter)
        self.calls = 0

    def authenticate(self, request):
        self.calls += 1
        token = self.token_getter.get_token(request)
        return Identity(claims={"user": "ada"}) if token == "s3cret" else None


class AsyncAuth(AuthenticationHandler):
    async def authenticate(self, request):
        await asyncio.sleep(0.001)
        token = self.token_getter.get_token(request)
        return Identity(claims={"token": token}) if token else None


def make_app(handler: AuthenticationHandler) -> Tiercel:
    app = Tiercel(__file__)
    app.configure_authentication(handler)

    @app.get("/me", auth_required=True)
    def me(request):
        return request.identity.claims

    @app.post("/me", auth_required=True)
    async def me_post(identity):
        return {"posted": identity.claims}

    @app.get("/open")
    def open_route(request):
        return {"identity": request.identity}

    return app


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_auth_required_over_http(serve, loop_kind):
    handler = TokenAuth(BearerGetter())
    s = serve(make_app(handler), loop_kind)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/me")
        assert (r.status_code, r.text, r.headers["www-authenticate"]) == (401, "Unauthorized", "Bearer")
        assert c.get("/me", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/me", headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert c.get("/me", headers={"Authorization": "Bearer"}).status_code == 401
        r = c.get("/me", headers={"Authorization": "bearer  s3cret"})
        assert (r.status_code, r.json()) == (200, {"user": "ada"})
        r = c.post("/me", headers={"Authorization": "Bearer s3cret"})
        assert r.json() == {"posted": {"user": "ada"}}
        # Routes without auth_required never call the handler; their identity is None.
        calls = handler.calls
        assert c.get("/open").json() == {"identity": None}
        assert handler.calls == calls


def test_async_authenticate_and_hooks_see_the_identity():
    app = make_app(AsyncAuth(BearerGetter()))
    seen = []

    @app.before_request("/me")
    def before(request):
        seen.append(request.identity)

    @app.after_request("/me")
    def after(response):
        response.headers.set("x-after", "ran")
        return response

    with TestClient(app) as client:
        r = client.get("/me", headers={"Authorization": "Bearer tok"})
        assert r.json() == {"token": "tok"}
        assert seen == [Identity(claims={"token": "tok"})]
        r = client.get("/me")
        # A refused request never reaches the route's before-hooks or handler; after-hooks still run.
        assert (r.status_code, r.headers["x-after"]) == (401, "ran")
        assert len(seen) == 1


def test_custom_getter_and_unauthorized_response():
    class ApiKeyGetter(TokenGetter):
        scheme = "ApiKey"

        @classmethod
        def get_token(cls, request):
            return request.headers.get("x-api-key")

    class KeyAuth(AuthenticationHandler):
        def authenticate(self, request):
            return Identity({"key": 1}) if self.token_getter.get_token(request) == "k" else None

        @property
        def unauthorized_response(self):
            return Response(401, {"WWW-Authenticate": 'ApiKey realm="api"'}, {"error": "no key"})

    app = make_app(KeyAuth(ApiKeyGetter()))
    with TestClient(app) as client:
        r = client.get("/me")
        assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
            401,
            {"error": "no key"},
            'ApiKey realm="api"',
        )
        assert client.get("/me", headers={"x-api-key": "k"}).json() == {"key": 1}


def test_failing_authenticate_is_a_500_and_exception_handlers_apply():
    class Broken(AuthenticationHandler):
        def authenticate(self, request):
            raise LookupError("user store down")

    app = make_app(Broken(BearerGetter()))
    with TestClient(app) as client:
        assert client.get("/me").status_code == 500

    app.exception(LookupError)(lambda error: ("auth backend unavailable", 503))
    with TestClient(app) as client:
        r = client.get("/me")
        assert (r.status_code, r.text) == (503, "auth backend unavailable")


def test_configuration_errors():
    app = Tiercel(__file__)
    app.get("/x", auth_required=True)(lambda: "x")
    with pytest.raises(ValueError, match="configure_authentication"):
        TestClient(app).get("/x")
    with pytest.raises(TypeError, match="AuthenticationHandler"):
        app.configure_authentication(object())  # type: ignore[arg-type]


def test_bearer_getter_reads_headers_set_by_hooks():
    app = make_app(TokenAuth(BearerGetter()))
    app.set_request_header("Authorization", "Bearer s3cret")
    with TestClient(app) as client:
        assert client.get("/me").json() == {"user": "ada"}
