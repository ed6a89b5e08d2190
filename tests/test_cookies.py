"""Cookies: request.cookies in, Response.set_cookie out (every RFC 6265 attribute), over real HTTP."""

from __future__ import annotations

import datetime

import httpx
import pytest

from tiercel import Response, Tiercel


def test_set_cookie_with_every_attribute(serve, loop_kind):
    app = Tiercel(__file__)

    @app.get("/login")
    def login(request):
        r = Response(200, None, "welcome")
        r.set_cookie(
            "session",
            "abc123",
            path="/",
            domain="example.test",
            max_age=3600,
            expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            secure=True,
            http_only=True,
            same_site="strict",
        )
        r.set_cookie("theme", "dark", expires=0, same_site="Lax")
        r.set_cookie("naive", "x", expires=datetime.datetime(2031, 6, 7, 8, 9, 10))
        return r

    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/login")
    assert r.headers.get_list("set-cookie") == [
        "session=abc123; Path=/; Domain=example.test; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; "
        "Secure; HttpOnly; SameSite=Strict",
        "theme=dark; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax",
        "naive=x; Expires=Sat, 07 Jun 2031 08:09:10 GMT",
    ]
    # A real client stores and sends them back.
    with httpx.Client(base_url=s.url) as c:
        app_cookie = c.get("/login").cookies
        assert app_cookie.get("naive") == "x"


def test_cookies_round_trip_through_request_cookies(serve):
    app = Tiercel(__file__)

    @app.get("/set")
    def set_(request):
        r = Response(200, None, "set")
        r.set_cookie("a", "1", path="/")
        r.set_cookie("b", '"quoted"', path="/")
        return r

    app.get("/get")(lambda request: request.cookies)
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        c.get("/set")
        assert c.get("/get").json() == {"a": "1", "b": "quoted"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": "bad name", "value": "v"}, ValueError, "invalid cookie name"),
        ({"key": "k", "value": "a;b"}, ValueError, "encode it first"),
        ({"key": "k", "value": "héllo"}, ValueError, "encode it first"),
        ({"key": "k", "value": "v", "path": "/a;Domain=evil"}, ValueError, "path must not contain"),
        ({"key": "k", "value": "v", "domain": "a\r\nX: y"}, ValueError, "domain must not contain"),
        ({"key": "k", "value": "v", "max_age": "60"}, TypeError, "max_age"),
        ({"key": "k", "value": "v", "expires": object()}, TypeError, "expires"),
        ({"key": "k", "value": "v", "same_site": "sometimes"}, ValueError, "same_site"),
        ({"key": "k", "value": "v", "same_site": "None"}, ValueError, "needs secure=True"),
    ],
)
def test_bad_cookies_are_refused_with_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        Response(200).set_cookie(**kwargs)
