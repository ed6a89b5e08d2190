"""Response helpers (native): redirect, html, serve_html, jsonify, and the status_codes constants."""

from __future__ import annotations

import httpx
import pytest

from tiercel import Response, TestClient, Tiercel, html, jsonify, redirect, serve_html, status_codes


def test_helpers_over_http(serve, tmp_path, loop_kind):
    page = tmp_path / "page.html"
    page.write_text("<h1>héllo</h1>", encoding="utf-8")
    app = Tiercel(__file__)
    app.get("/old")(lambda request: redirect("/new"))
    app.get("/moved")(lambda request: redirect("https://example.test/x?y=1", status_codes.HTTP_301_MOVED_PERMANENTLY))
    app.get("/new")(lambda request: html("<p>new</p>"))
    app.get("/page")(lambda request: serve_html(str(page)))
    app.get("/json")(lambda request: jsonify({"a": [1, 2], "b": None}))
    app.get("/missing")(lambda request: serve_html(str(tmp_path / "nope.html")))
    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/old")
        assert (r.status_code, r.headers["location"], r.text) == (307, "/new", "")
        r = c.get("/old", follow_redirects=True)
        assert (r.status_code, r.text, r.headers["content-type"]) == (200, "<p>new</p>", "text/html; charset=utf-8")
        r = c.get("/moved")
        assert (r.status_code, r.headers["location"]) == (301, "https://example.test/x?y=1")
        r = c.get("/page")
        assert (r.text, r.headers["content-type"]) == ("<h1>héllo</h1>", "text/html; charset=utf-8")
        r = c.get("/json")
        assert (r.text, r.headers["content-type"]) == ('{"a":[1,2],"b":null}', "text/plain; charset=utf-8")
        assert c.get("/missing").status_code == 500  # the handler's OSError, logged like any other


def test_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="3xx"):
        redirect("/x", 200)
    with pytest.raises(ValueError, match="CR, LF"):
        redirect("/x\r\nSet-Cookie: evil=1")
    with pytest.raises(FileNotFoundError):
        serve_html("/nonexistent/page.html")
    with pytest.raises(TypeError):
        jsonify({1, 2})
    with pytest.raises(ValueError, match="between 100 and 999"):
        html("<p>", 42)
    r = Response(200)
    with pytest.raises(ValueError, match="between 100 and 999"):
        r.status_code = 1000
    assert r.status_code == 200


def test_an_after_hook_cannot_send_a_bad_status():
    """An after-hook that answers with an impossible status gets a logged 500, never a malformed status line."""
    app = Tiercel(__file__)
    app.get("/")(lambda: "x")
    app.after_request("/")(lambda response: ("bad", 1000))
    with TestClient(app) as client:
        assert client.get("/").status_code == 500


def test_status_codes_match_the_standard_library():
    from http import HTTPStatus

    assert status_codes.HTTP_200_OK == 200
    assert status_codes.HTTP_404_NOT_FOUND == 404
    for status in HTTPStatus:
        assert getattr(status_codes, f"HTTP_{status.value}_{status.name}") == status.value
