"""Response helpers (native): redirect, html, serve_html, jsonify, and the status_codes constants."""

from __future__ import annotations

import httpx
import pytest

from tiercel import Tiercel, html, jsonify, redirect, serve_html, status_codes


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


def test_status_codes_match_the_standard_library():
    from http import HTTPStatus

    assert status_codes.HTTP_200_OK == 200
    assert status_codes.HTTP_404_NOT_FOUND == 404
    for status in HTTPStatus:
        assert getattr(status_codes, f"HTTP_{status.value}_{status.name}") == status.value
