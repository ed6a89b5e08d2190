"""TestClient: requests to an app in the same process, through the server's own native pipeline.

Each request is written as HTTP/1.1 bytes into an in-memory connection of the app's engine, so parsing,
limits, routing, middleware, handlers and serialisation are exactly the server's; only the socket is missing.

>>> from tiercel import Tiercel, TestClient
>>> app = Tiercel(__file__)
>>> @app.get("/")
... def index():
...     return "hi"
>>> with TestClient(app) as client:
...     client.get("/").text
'hi'
"""

from __future__ import annotations

import asyncio
import json as _json
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from tiercel import _core
from tiercel.app import App
from tiercel.compile import build_engine, close_engine_executor
from tiercel.config import resolve
from tiercel.lifespan import Lifespan, end_lifespans, lifespan_states, start_lifespans
from tiercel.state import await_call, run_shutdown_handlers

Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | str | None
HeadersIn = Mapping[str, str] | Iterable[tuple[str, str]] | None


class TestResponse:
    """A response as the client received it: `status_code`, `headers` (case-insensitive), `content`, `text`,
    `json()`, `cookies` (set by this response)."""

    __test__ = False  # not a pytest test class

    def __init__(self, status_code: int, reason: str, headers: _core.Headers, content: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.content)

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies the response sets (`Set-Cookie`), name to value."""
        return dict(_set_cookie_pair(v) for v in self.headers.get_all("set-cookie"))

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status_code < 300

    def __repr__(self) -> str:
        return f"<TestResponse [{self.status_code} {self.reason_phrase}]>"


class TestClient:
    """`TestClient(app).get("/path", params=..., headers=...)`; every method of httpx's Client API that a test
    needs: get, post, put, patch, delete, head, options, request. `with TestClient(app) as client:` runs the
    app's startup handlers on entry and its shutdown handlers on exit; without `with`, startup runs before the
    first request and shutdown on close(). Cookies the app sets are kept and sent back, as a browser would."""

    __test__ = False

    def __init__(
        self,
        app: App,
        base_url: str = "http://testserver",
        headers: HeadersIn = None,
        cookies: Mapping[str, str] | None = None,
        dev: bool = False,
        timeout: float = 30.0,
        **limits: Any,
    ) -> None:
        self.app = app
        split = urlsplit(base_url)
        self.host = split.netloc or "testserver"
        self.root = split.path.rstrip("/")
        self.headers = list(_pairs(headers))
        self.cookies: dict[str, str] = dict(cookies or {})
        self.dev = dev
        self.timeout = timeout
        self.settings = resolve({**limits, "dev": dev}, where="TestClient()")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: _core.Engine | None = None
        self._lifespans: list[Lifespan] = []  # of the mounted ASGI apps

    # ---- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> TestClient:
        self._start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        if self._engine is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            for handler in self.app.startup_handlers:
                loop.run_until_complete(await_call(handler))
            self._lifespans = loop.run_until_complete(
                start_lifespans(
                    self.app.mounted_apps(), self.settings.lifespan, self.settings.timeout_graceful_shutdown
                )
            )
            engine = loop.run_until_complete(
                build_engine(self.app, self.settings, None, lifespan_states(self._lifespans))
            )
            engine.attach(loop)
        except BaseException:
            self._loop = None
            loop.close()
            raise
        self._engine = engine

    def close(self) -> None:
        """Stops the engine, runs the shutdown handlers and closes the client's event loop."""
        engine, loop = self._engine, self._loop
        self._engine = self._loop = None
        if loop is None:
            return
        try:
            if engine is not None:
                engine.close()
                close_engine_executor(engine)
            loop.run_until_complete(end_lifespans(self._lifespans, self.settings.timeout_graceful_shutdown))
            loop.run_until_complete(run_shutdown_handlers(self.app.shutdown_handlers))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    # ---- requests -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        headers: HeadersIn = None,
        cookies: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> TestResponse:
        """Sends one request on a fresh connection and returns the response."""
        self._start()
        assert self._loop is not None
        raw = self._encode(method, url, params, headers, cookies, content, data, json)
        response = self._loop.run_until_complete(self._exchange(raw, method.upper() == "HEAD"))
        for name, value in (_set_cookie_pair(v) for v in response.headers.get_all("set-cookie")):
            if _expires_now(response.headers, name):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, url: str, **kw: Any) -> TestResponse:
        """Sends a GET request to `url` through the app; the keywords are `request`'s."""
        return self.request("GET", url, **kw)

    def head(self, url: str, **kw: Any) -> TestResponse:
        """Sends a HEAD request to `url` through the app; the keywords are `request`'s."""
        return self.request("HEAD", url, **kw)

    def options(self, url: str, **kw: Any) -> TestResponse:
        """Sends a OPTIONS request to `url` through the app; the keywords are `request`'s."""
        return self.request("OPTIONS", url, **kw)

    def post(self, url: str, **kw: Any) -> TestResponse:
        """Sends a POST request to `url` through the app; the keywords are `request`'s."""
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> TestResponse:
        """Sends a PUT request to `url` through the app; the keywords are `request`'s."""
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> TestResponse:
        """Sends a PATCH request to `url` through the app; the keywords are `request`'s."""
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> TestResponse:
        """Sends a DELETE request to `url` through the app; the keywords are `request`'s."""
        return self.request("DELETE", url, **kw)

    def _encode(
        self,
        method: str,
        url: str,
        params: Params,
        headers: HeadersIn,
        cookies: Mapping[str, str] | None,
        content: bytes | str | None,
        data: Mapping[str, Any] | None,
        json: Any,
    ) -> bytes:
        if sum(x is not None for x in (content, data, json)) > 1:
            raise TypeError("pass at most one of content=, data= and json=")
        split = urlsplit(url)
        host = self.host
        if split.scheme or split.netloc:  # an absolute URL: its own host, no base path
            host = split.netloc or host
            target = (split.path or "/") + ("?" + split.query if split.query else "")
        else:
            target = self.root + (url if url.startswith("/") else "/" + url)
        if params:
            query = params if isinstance(params, str) else urlencode(list(_pairs(params)), doseq=False)
            target += ("&" if "?" in target else "?") + query
        fields: list[tuple[str, str]] = [("Host", host)]
        body = b""
        if json is not None:
            body = orjson.dumps(json)
            fields.append(("Content-Type", "application/json"))
        elif data is not None:
            body = urlencode(list(_pairs(data))).encode()
            fields.append(("Content-Type", "application/x-www-form-urlencoded"))
        elif content is not None:
            body = content.encode() if isinstance(content, str) else bytes(content)
        user = self.headers + list(_pairs(headers))
        names = {n.lower() for n, _ in user}
        fields = [f for f in fields if f[0].lower() not in names] + user
        jar = {**self.cookies, **(cookies or {})}
        if jar and "cookie" not in names:
            fields.append(("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items())))
        if body or method.upper() in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", str(len(body))))
        head = f"{method.upper()} {target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
        return head.encode("latin-1") + body

    async def _exchange(self, raw: bytes, is_head: bool) -> TestResponse:
        assert self._engine is not None
        loop = asyncio.get_running_loop()
        conn = self._engine.open_memory_connection("testclient")
        woken = asyncio.Event()
        conn.set_on_output(woken.set)
        reader = _ResponseReader(is_head)
        try:
            conn.send(raw)
            deadline = loop.time() + self.timeout
            while True:
                reader.feed(conn.receive())
                if reader.response is not None:
                    break
                if conn.closed:
                    raise ConnectionError("the server closed the connection without a complete response")
                woken.clear()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no response within {self.timeout} s")
                try:
                    await asyncio.wait_for(woken.wait(), remaining)
                except asyncio.TimeoutError:
                    raise TimeoutError(f"no response within {self.timeout} s") from None
        finally:
            conn.set_on_output(None)
            conn.disconnect()
        # As Starlette's TestClient: the request's background tasks have run when the response is returned.
        if self._engine.background_count:
            try:
                await asyncio.wait_for(self._engine.background_idle(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise TimeoutError(f"background tasks still running after {self.timeout} s") from None
        assert reader.response is not None
        return reader.response


class _ResponseReader:
    """Cuts one HTTP/1.1 response from the bytes a server sends (Content-Length or chunked framing)."""

    def __init__(self, is_head: bool) -> None:
        self.is_head = is_head
        self.buf = b""
        self.response: TestResponse | None = None

    def feed(self, data: bytes) -> None:
        self.buf += data
        while self.response is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            version, status_text, *reason = lines[0].split(" ", 2)
            status = int(status_text)
            headers = _core.Headers()
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers.append(name, value.strip())
            rest = self.buf[end + 4 :]
            if 100 <= status < 200:  # interim (100 Continue): the final response follows
                self.buf = rest
                continue
            if self.is_head or status in (204, 304):
                body: bytes | None = b""
            elif "chunked" in str(headers.get("transfer-encoding") or "").lower():
                body = _dechunk(rest)
            else:
                length = int(str(headers.get("content-length") or 0))
                body = rest[:length] if len(rest) >= length else None
            if body is None:
                return
            self.response = TestResponse(status, reason[0] if reason else "", headers, body)


def _dechunk(data: bytes) -> bytes | None:
    """The body of a complete chunked message, or None while it is incomplete."""
    out, pos = bytearray(), 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            return bytes(out) if data.find(b"\r\n\r\n", pos - 2) >= 0 else None
        if len(data) < pos + size + 2:
            return None
        out += data[pos : pos + size]
        pos += size + 2


def _pairs(items: Any) -> Iterable[tuple[str, str]]:
    if items is None:
        return []
    if isinstance(items, Mapping):
        items = items.items()
    out: list[tuple[str, str]] = []
    for k, v in items:
        if isinstance(v, (list, tuple)):
            out.extend((str(k), _text(x)) for x in v)
        else:
            out.append((str(k), _text(v)))
    return out


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _set_cookie_pair(header: str) -> tuple[str, str]:
    name, _, value = header.split(";", 1)[0].partition("=")
    return name.strip(), value.strip()


def _expires_now(headers: _core.Headers, name: str) -> bool:
    """Whether the Set-Cookie for `name` deletes it (Max-Age=0 or less)."""
    for header in headers.get_all("set-cookie"):
        if _set_cookie_pair(header)[0] != name:
            continue
        for attr in header.split(";")[1:]:
            key, _, value = attr.strip().partition("=")
            if key.lower() == "max-age" and value.lstrip("-").isdigit() and int(value) <= 0:
                return True
    return False


__all__ = ["TestClient", "TestResponse"]
