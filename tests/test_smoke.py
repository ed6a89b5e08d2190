"""End-to-end smoke test of the fixture and the engine on both loops."""

import httpx

from tiercel import Tiercel


def test_hello(serve, loop_kind):
    app = Tiercel(__file__)

    @app.get("/")
    def index(request):
        return "Hello, World!"

    @app.get("/a")
    async def a(request):
        return {"ok": True}

    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/")
        assert r.status_code == 200
        assert r.text == "Hello, World!"
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        r = c.get("/a")
        assert r.json() == {"ok": True}
