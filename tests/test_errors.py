"""Errors: HTTPException, @app.exception handlers chosen by type, and the 500 that reveals nothing outside
development mode. Handled in C++ on the error path, for handlers and hooks alike."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tiercel import HTTPException, Response, Tiercel


class AppError(Exception):
    pass


class NotFoundError(AppError):
    pass


def test_http_exception_becomes_its_response(serve, loop_kind):
    app = Tiercel(__file__)

    @app.get("/missing")
    def missing(request):
        raise HTTPException(404, "no such user", {"X-Reason": "gone"})

    @app.get("/json")
    async def json_detail(request):
        await asyncio.sleep(0)
        raise HTTPException(422, {"field": "name", "problem": "required"})

    @app.get("/default")
    def default(request):
        raise HTTPException(403)

    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/missing")
    assert (r.status_code, r.text, r.headers["x-reason"]) == (404, "no such user", "gone")
    r = httpx.get(s.url + "/json")
    assert (r.status_code, r.json()) == (422, {"field": "name", "problem": "required"})
    r = httpx.get(s.url + "/default")
    assert (r.status_code, r.text) == (403, "Forbidden")


def test_http_exception_checks_its_status():
    with pytest.raises(ValueError, match="error status code"):
        HTTPException(200)
    with pytest.raises(ValueError, match="error status code"):
        HTTPException(True)  # type: ignore[arg-type]
    assert repr(HTTPException(418, "teapot")) == "HTTPException(status_code=418, detail='teapot')"


def test_most_specific_handler_wins_and_handlers_can_be_async(serve, loop_kind):
    app = Tiercel(__file__)

    @app.exception(AppError)
    def app_error(error):
        return {"error": "app", "type": type(error).__name__}, 409

    @app.exception(NotFoundError)
    async def not_found(request, error):
        await asyncio.sleep(0.001)
        return Response(404, {"X-Path": request.path_params["name"]}, f"not found: {error}")

    @app.exception
    def anything(error):
        return "fallback: " + type(error).__name__, 500

    @app.get("/app/:name")
    def raise_app(request):
        raise AppError("x")

    @app.get("/nf/:name")
    async def raise_nf(request):
        await asyncio.sleep(0)
        raise NotFoundError(request.path_params["name"])

    @app.get("/other/:name")
    def raise_other(request):
        raise KeyError("k")

    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/app/a")
    assert (r.status_code, r.json()) == (409, {"error": "app", "type": "AppError"})
    r = httpx.get(s.url + "/nf/bob")
    assert (r.status_code, r.text, r.headers["x-path"]) == (404, "not found: bob", "bob")
    r = httpx.get(s.url + "/other/z")
    assert (r.status_code, r.text) == (500, "fallback: KeyError")


def test_user_handler_can_override_http_exception(serve):
    app = Tiercel(__file__)

    @app.exception(HTTPException)
    def as_json(error):
        return {"detail": error.detail}, error.status_code

    app.get("/")(lambda request: (_ for _ in ()).throw(HTTPException(401, "who are you")))
    s = serve(app)
    r = httpx.get(s.url + "/")
    assert (r.status_code, r.json()) == (401, {"detail": "who are you"})


def test_errors_in_hooks_are_handled_the_same_way_and_after_hooks_still_run(serve, loop_kind):
    app = Tiercel(__file__)
    handled: list[str] = []

    @app.before_request("/guarded")
    def guard(request):
        if request.headers.get("x-token") != "ok":
            raise HTTPException(401, "token required", {"WWW-Authenticate": "Bearer"})
        return request

    @app.before_request("/broken")
    async def broken(request):
        raise AppError("hook")

    @app.after_request()
    def stamp(response):
        response.headers.set("x-after", "1")
        return response

    @app.exception(AppError)
    def app_error(error):
        handled.append(str(error))
        return "handled", 400

    @app.get("/guarded")
    def guarded(request):
        return "in"

    app.get("/broken")(lambda request: "never")
    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/guarded")
    assert (r.status_code, r.text, r.headers["www-authenticate"], r.headers["x-after"]) == (
        401,
        "token required",
        "Bearer",
        "1",
    )
    r = httpx.get(s.url + "/guarded", headers={"x-token": "ok"})
    assert (r.status_code, r.text, r.headers["x-after"]) == (200, "in", "1")
    r = httpx.get(s.url + "/broken")
    assert (r.status_code, r.text, r.headers["x-after"]) == (400, "handled", "1")
    assert handled == ["hook"]


def test_unhandled_error_reveals_nothing_in_production(serve, caplog):
    app = Tiercel(__file__)

    @app.get("/")
    def boom(request):
        raise RuntimeError("secret database password in a message")

    s = serve(app)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        r = httpx.get(s.url + "/")
    assert (r.status_code, r.text) == (500, "Internal Server Error\n")
    assert "secret database password" in caplog.text  # the log has it; the client does not


def test_development_mode_shows_the_traceback(serve, caplog):
    app = Tiercel(__file__)

    @app.get("/")
    async def boom(request):
        await asyncio.sleep(0)
        raise RuntimeError("look here")

    s = serve(app, dev=True)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        r = httpx.get(s.url + "/")
    assert r.status_code == 500
    assert "Traceback (most recent call last)" in r.text
    assert "RuntimeError: look here" in r.text
    assert "in boom" in r.text


def test_failing_exception_handler_gives_a_plain_500(serve, caplog, loop_kind):
    app = Tiercel(__file__)

    @app.exception(AppError)
    async def broken_handler(error):
        await asyncio.sleep(0)
        raise ValueError("the handler broke too")

    @app.get("/")
    def boom(request):
        raise AppError("first")

    app.get("/fine")(lambda request: "fine")
    s = serve(app, loop_kind)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        r = httpx.get(s.url + "/")
        assert (r.status_code, r.text) == (500, "Internal Server Error\n")
        assert httpx.get(s.url + "/fine").text == "fine"
    assert "Exception handler failed" in caplog.text and "the handler broke too" in caplog.text


def test_exception_decorator_checks_its_arguments():
    app = Tiercel(__file__)
    with pytest.raises(TypeError, match="exception class"):
        app.exception(42)
    with pytest.raises(TypeError, match="called with the error"):
        app.exception(ValueError)(lambda: None)
    with pytest.raises(TypeError, match="called with the error"):
        app.exception(ValueError)(lambda a, b, c: None)


def test_an_exception_handlers_answer_for_a_before_hook_is_final():
    """Whatever the exception handler returns answers: the handler does not run after a before-hook's error was
    handled, even when the exception handler returned None (which, as from any handler, is a bad value: 500)."""
    from tiercel import TestClient

    app = Tiercel(__file__)
    ran = []

    @app.before_request("/guarded")
    def guard(request):
        raise PermissionError("no")

    @app.exception(PermissionError)
    def on_permission(error):
        return None

    @app.get("/guarded")
    def guarded():
        ran.append(1)
        return "reached"

    with TestClient(app) as client:
        assert client.get("/guarded").status_code == 500
    assert ran == []
