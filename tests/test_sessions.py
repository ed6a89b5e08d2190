"""Signed cookie sessions: request.session, saved only when changed, tamper-proof, expiring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import httpx
import pytest

from tiercel import TestClient, Tiercel

KEY = "k" * 40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(payload: dict, issued: int, key: str = KEY) -> str:
    """The cookie format, written independently of the engine: b64url(json) "." issued "." b64url(HMAC-SHA256)."""
    signed = f"{b64(json.dumps(payload, separators=(',', ':')).encode())}.{issued}"
    return signed + "." + b64(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest())


def make_app(**settings) -> Tiercel:
    app = Tiercel(__file__)
    app.configure_sessions(KEY, **settings)

    @app.post("/login/:user")
    def login(request, user: str):
        request.session["user"] = user
        request.session["n"] = 0
        return "in"

    @app.get("/me")
    async def me(session):
        return {"session": session}

    @app.post("/count")
    def count(session):
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.post("/logout")
    def logout(request):
        request.session.clear()
        return "out"

    @app.get("/untouched")
    def untouched():
        return "no session read"

    @app.post("/bad")
    def bad(session):
        session["x"] = object()
        return "stored?"

    @app.post("/huge")
    def huge(session):
        session["blob"] = "x" * 5000
        return "huge"

    return app


def test_session_round_trip_and_cookie_attributes():
    with TestClient(make_app()) as client:
        r = client.post("/login/ada")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("session=")
        for attr in ("Max-Age=1209600", "Path=/", "HttpOnly", "SameSite=Lax"):
            assert attr in cookie
        assert "Secure" not in cookie
        assert client.get("/me").json() == {"session": {"user": "ada", "n": 0}}
        assert client.post("/count").text == "1"
        assert client.post("/count").text == "2"
        # Reading without changing sends no cookie; routes that never read the session send none either.
        r = client.get("/me")
        assert r.json()["session"]["n"] == 2 and "set-cookie" not in r.headers
        assert "set-cookie" not in client.get("/untouched").headers
        r = client.post("/logout")
        assert "Max-Age=0" in r.headers["set-cookie"]
        assert client.get("/me").json() == {"session": {}}


def test_cookie_format_is_the_documented_one():
    with TestClient(make_app()) as client:
        now = int(time.time())
        client.cookies["session"] = sign({"user": "grace"}, now)
        assert client.get("/me").json() == {"session": {"user": "grace"}}
        value = client.post("/count").cookies["session"]
        data, issued, sig = value.split(".")
        assert json.loads(base64.urlsafe_b64decode(data + "==")) == {"user": "grace", "n": 1}
        assert abs(int(issued) - now) <= 2
        assert value == sign({"user": "grace", "n": 1}, int(issued))


@pytest.mark.parametrize(
    "cookie",
    [
        sign({"user": "admin"}, int(time.time()), key="x" * 40),  # another key
        sign({"user": "admin"}, int(time.time()))[:-2] + "AA",  # signature changed
        sign({"user": "admin"}, int(time.time()) - 3600 * 24 * 15),  # older than max_age
        sign({"user": "admin"}, int(time.time()) + 3600),  # from the future
        sign(["not", "a", "dict"], int(time.time())),  # type: ignore[arg-type]
        "garbage",
        "a.b.c",
        "",
    ],
)
def test_forged_expired_or_broken_cookies_give_an_empty_session(cookie):
    with TestClient(make_app()) as client:
        client.cookies["session"] = cookie
        r = client.get("/me")
        assert (r.status_code, r.json()) == (200, {"session": {}})
        # The bad cookie is removed.
        assert "Max-Age=0" in r.headers["set-cookie"]


def test_tampered_payload_with_the_old_signature_is_refused():
    value = sign({"user": "ada"}, int(time.time()))
    data, issued, sig = value.split(".")
    forged = b64(json.dumps({"user": "admin"}).encode()) + "." + issued + "." + sig
    with TestClient(make_app()) as client:
        client.cookies["session"] = forged
        assert client.get("/me").json() == {"session": {}}


def test_values_that_cannot_be_stored_are_logged_not_sent(caplog):
    with TestClient(make_app()) as client, caplog.at_level(logging.ERROR, logger="tiercel"):
        r = client.post("/bad")
        assert (r.status_code, r.text, "set-cookie" in r.headers) == (200, "stored?", False)
        r = client.post("/huge")
        assert (r.status_code, "set-cookie" in r.headers) == (200, False)
    assert "not JSON-serialisable" in caplog.text
    assert "too large for a cookie" in caplog.text


def test_settings_and_hooks():
    app = make_app(cookie_name="sid", max_age=60, secure=True, same_site="strict", domain="example.test")

    @app.after_request("/me")
    def after(request, response):
        request.session["seen"] = True  # an after-hook's change is saved too
        return response

    with TestClient(app) as client:
        cookie = client.post("/login/ada").headers["set-cookie"]
        assert cookie.startswith("sid=")
        for attr in ("Max-Age=60", "Secure", "SameSite=Strict", "Domain=example.test"):
            assert attr in cookie
        client.get("/me")
        assert client.get("/me").json() == {"session": {"user": "ada", "n": 0, "seen": True}}


def test_over_real_http(serve):
    s = serve(make_app())
    with httpx.Client(base_url=s.url) as c:
        c.post("/login/ada")
        assert c.post("/count").text == "1"
        assert c.get("/me").json() == {"session": {"user": "ada", "n": 1}}


@pytest.mark.parametrize("key", ["k" * 16, b"\x00" * 16, "sixteen-byte-key"])
def test_a_16_byte_key_is_enough(serve, key):
    """128 bits, the usual floor (Robyn apps use keys shorter than 32 bytes)."""
    app = Tiercel(__file__)
    app.configure_sessions(key)

    @app.post("/count")
    def count(session):
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        assert [c.post("/count").text for _ in range(3)] == ["1", "2", "3"]


def test_configuration_errors():
    app = Tiercel(__file__)
    with pytest.raises(ValueError, match=r"at least 16 bytes \(got 15\).*secrets.token_urlsafe\(32\)"):
        app.configure_sessions("k" * 15)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        app.configure_sessions(b"")
    with pytest.raises(ValueError, match="cookie name must be a token"):
        app.configure_sessions(KEY, cookie_name="bad name")
    with pytest.raises(ValueError, match="same_site"):
        app.configure_sessions(KEY, same_site="sometimes")

    @app.get("/s")
    def s(request):
        return dict(request.session)

    with TestClient(app) as client:
        assert client.get("/s").status_code == 500  # RuntimeError: sessions not configured

    @app.get("/p")
    def p(session):
        return "x"

    with pytest.raises(ValueError, match="configure_sessions"):
        TestClient(app).get("/p")
