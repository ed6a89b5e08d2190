"""The scenarios every app serves (see the contract in benchmarks/README.md) and how one reply is validated.

Before anything is measured, each (server, scenario) pair gets one request and its reply is checked here;
a pair that fails is reported as failed, never measured. The WebSocket scenario (`ws`) is not HTTP: it is validated
and loaded by benchmarks/wsload.py instead of a reply check and wrk. The TLS scenarios (`https`, `https_handshake`,
and over HTTP/2 `h2`, `h2_streams`) are served by a second instance of each TLS-capable server, started with the
run's certificate (servers.py); the HTTP/2 ones are validated over HTTP/2 (httpx) and loaded by h2load.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import BENCH_DIR, WRK_REPORT
from benchmarks.wsload import PAYLOAD as WS_PAYLOAD

HELLO = b"Hello, World!"
POST_BODY = (BENCH_DIR / "post_json_body.json").read_bytes()
WRK_POST_JSON = BENCH_DIR / "wrk_post_json.lua"
WRK_CLOSE = BENCH_DIR / "wrk_close.lua"
WRK_PIPELINE = BENCH_DIR / "wrk_pipeline.lua"
# The validate scenarios: an order (10 typed fields, a nested list of items) and the same with 3 invalid fields (an
# empty customer, age 200, an item of quantity 0); see the models in apps/validate_pydantic.py, validate_msgspec.py.
VALIDATE_BODY = (BENCH_DIR / "validate_body.json").read_bytes()
VALIDATE_INVALID_BODY = (BENCH_DIR / "validate_invalid_body.json").read_bytes()
WRK_VALIDATE = BENCH_DIR / "wrk_validate.lua"
WRK_VALIDATE_INVALID = BENCH_DIR / "wrk_validate_invalid.lua"
INVALID_FIELDS = ("customer", "age", "quantity")
QUERIES = 20
# The h2_streams scenario's requests in flight per connection (h2load -m): 64 connections x 16 = 1,024 at once, all
# under every server's stream limit (100 and more).
H2_STREAMS = 16
ADDED_FORTUNE = "Additional fortune added at request time."
FORTUNES_HEAD = (
    b"<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"
)
FORTUNES_TAIL = b"</table></body></html>"
FORTUNE_ROW = re.compile(rb"<tr><td>(\d+)</td><td>(.*?)</td></tr>", re.S)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


# World ids -> randomnumber as stored in PostgreSQL (to check that /updates really wrote its rows).
WorldLookup = Callable[[list[int]], dict[int, int]]
# A reply checker returns why the reply is wrong, or None when it is right.
Check = Callable[[Reply, WorldLookup | None], str | None]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    summary: str
    check: Check | None  # None for the WebSocket scenario (wsload.check validates it)
    method: str = "GET"
    status: int = 200  # the answer's status, checked at validation (under load: wrk_report.lua's expected_status)
    db: bool = False
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    wrk_script: Path = WRK_REPORT
    websocket: bool = False  # an echo endpoint loaded by benchmarks/wsload.py (messages, not requests)
    tls: bool = False  # over HTTPS, to the server's TLS instance
    h2load: bool = False  # loaded by h2load instead of wrk, with `headers` on every request
    http2: bool = False  # h2load speaks HTTP/2 (ALPN h2), not HTTP/1.1 (`--h1`)
    streams: int = 1  # h2load -m: the requests in flight on each connection (HTTP/2: streams open at once)
    memory: bool = False  # not a load: idle keep-alive connections held, RSS per connection (benchmarks/memory.py)
    models: bool = False  # a body validated into a model: served by the frameworks, not the raw apps
    docs: bool = False  # the framework's OpenAPI document: served by Tiercel and FastAPI


# ------------------------------------------------------------------------ checks


def _content_type(reply: Reply, expected: str) -> str | None:
    got = reply.headers.get("content-type", "")
    return None if got.lower().startswith(expected) else f"content-type {got!r}, expected {expected}"


def _json(reply: Reply) -> tuple[Any, str | None]:
    """(the parsed JSON body, None) or (None, what is wrong with the reply)."""
    problem = _content_type(reply, "application/json")
    if problem:
        return None, problem
    try:
        return json.loads(reply.body), None
    except ValueError:
        return None, f"body is not JSON: {reply.body[:80]!r}"


def _hello(reply: Reply, _: WorldLookup | None = None) -> str | None:
    return None if reply.body == HELLO else f"body {reply.body[:80]!r}, expected {HELLO!r}"


def _plaintext(reply: Reply, _: WorldLookup | None) -> str | None:
    return _content_type(reply, "text/plain") or _hello(reply)


def _json_equal(expected: Any) -> Check:
    def check(reply: Reply, _: WorldLookup | None) -> str | None:
        got, problem = _json(reply)
        if problem or got == expected:
            return problem
        return f"JSON {reply.body[:120]!r} differs from the expected {expected!r}"[:300]

    return check


def _closing(reply: Reply, _: WorldLookup | None) -> str | None:
    # The load generator reconnects when the response says it closes; a silent close would be an error.
    connection = reply.headers.get("connection", "")
    if "close" not in connection.lower():
        return f"Connection: {connection!r} in reply to Connection: close, expected close"
    return _plaintext(reply, None)


def _middleware(reply: Reply, _: WorldLookup | None) -> str | None:
    after = reply.headers.get("x-after")
    return _hello(reply) or (None if after == "1" else f"response header x-after is {after!r}, expected '1'")


def _big(reply: Reply, _: WorldLookup | None) -> str | None:
    if reply.body == b"x" * 65536:
        return None
    return f"body of {len(reply.body)} bytes starting {reply.body[:20]!r}, expected 65536 bytes of b'x'"


FILE_BYTES = bytes(i % 251 for i in range(1 << 20))  # benchmarks/apps/bench_common.py's FILE_BYTES
SSE_EVENTS = 10_000


def _file(reply: Reply, _: WorldLookup | None) -> str | None:
    if reply.body == FILE_BYTES:
        return None
    return f"body of {len(reply.body)} bytes, expected the 1 MiB file"


def _sse(reply: Reply, _: WorldLookup | None) -> str | None:
    if not reply.headers.get("content-type", "").startswith("text/event-stream"):
        return f"content-type {reply.headers.get('content-type')!r}, expected text/event-stream"
    data = [line for line in reply.body.split(b"\n") if line.startswith(b"data:")]
    expected = [f"data: {i}".encode() for i in range(SSE_EVENTS)]
    if data != expected:
        return f"{len(data)} events, expected {SSE_EVENTS} numbered 0..{SSE_EVENTS - 1}"
    return None


def _order_out(body: bytes) -> dict[str, Any]:
    """The answer to a valid order: the response model OrderOut, as JSON."""
    order = json.loads(body)
    return {k: order[k] for k in ("id", "customer", "total", "created")} | {"items": len(order["items"])}


def _openapi_document(reply: Reply, _: WorldLookup | None) -> str | None:
    """An OpenAPI 3.1 document that describes the app's /validate operation."""
    body, problem = _json(reply)
    if problem:
        return problem
    if not isinstance(body, dict) or not str(body.get("openapi", "")).startswith("3.1"):
        return f"not an OpenAPI 3.1 document: {reply.body[:120]!r}"
    return None if "/validate" in body.get("paths", {}) else "the document has no /validate operation"


def _validation_errors(reply: Reply, _: WorldLookup | None) -> str | None:
    """A 422's JSON lists the invalid fields, in each framework's shape: the list under "detail" (FastAPI, Robyn,
    Tiercel), "extra" (Litestar) or "errors". Pydantic reports all 3 invalid fields; msgspec stops at the first, so
    1 error naming one of them is right too."""
    body, problem = _json(reply)
    if problem:
        return problem
    lists = [body.get(key) for key in ("detail", "extra", "errors")] if isinstance(body, dict) else []
    errors = next((x for x in lists if isinstance(x, list)), None)
    if errors is None:
        return f"no list of errors (under detail, extra or errors) in {reply.body[:120]!r}"
    named = [[f for f in INVALID_FIELDS if re.search(rf"\b{f}\b", json.dumps(error))] for error in errors]
    if len(errors) not in (1, len(INVALID_FIELDS)) or any(len(fields) != 1 for fields in named):
        return f"expected 3 errors (or the first) naming one of {INVALID_FIELDS} each, got {reply.body[:300]!r}"
    if len({fields[0] for fields in named}) != len(errors):
        return f"errors naming the same field twice: {reply.body[:300]!r}"
    return None


def _world_row(row: Any) -> str | None:
    if not isinstance(row, dict) or set(row) != {"id", "randomNumber"}:
        return f"row {row!r} is not {{'id': N, 'randomNumber': M}}"
    for key in ("id", "randomNumber"):
        value = row[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10000:
            return f"row {row!r}: {key} is not an integer in 1..10000"
    return None


def _world_rows(reply: Reply, count: int) -> list[dict[str, int]] | str:
    rows, problem = _json(reply)
    if problem:
        return problem
    if not isinstance(rows, list) or len(rows) != count:
        return f"expected a JSON list of {count} rows, got {reply.body[:120]!r}"
    for row in rows:
        problem = _world_row(row)
        if problem:
            return problem
    return rows


def _db(reply: Reply, _: WorldLookup | None) -> str | None:
    row, problem = _json(reply)
    return problem or _world_row(row)


def _queries(reply: Reply, _: WorldLookup | None) -> str | None:
    rows = _world_rows(reply, QUERIES)
    return rows if isinstance(rows, str) else None


def _updates(reply: Reply, lookup: WorldLookup | None) -> str | None:
    rows = _world_rows(reply, QUERIES)
    if isinstance(rows, str):
        return rows
    if lookup is None:
        return "no database to check the updates against"
    # An id drawn twice in one request may keep either of its numbers; check the ids drawn once.
    ids = [row["id"] for row in rows]
    sent = {row["id"]: row["randomNumber"] for row in rows if ids.count(row["id"]) == 1}
    stored = lookup(list(sent))
    wrong = {i: (n, stored.get(i)) for i, n in sent.items() if stored.get(i) != n}
    if wrong:
        return f"rows not written back (id: (answered, stored)): {dict(list(wrong.items())[:3])}"
    return None


def _fortunes(reply: Reply, _: WorldLookup | None) -> str | None:
    problem = _content_type(reply, "text/html")
    if problem:
        return problem
    if "utf-8" not in reply.headers.get("content-type", "").lower():
        return f"content-type {reply.headers.get('content-type')!r} has no charset=utf-8"
    body = reply.body.strip()
    if not body.startswith(FORTUNES_HEAD) or not body.endswith(FORTUNES_TAIL):
        return f"not the fortunes table markup: {body[:120]!r}"
    if b"&lt;script&gt;" not in body:
        return "the <script> fortune is not HTML-escaped"
    try:
        rows = [(int(i), html.unescape(m.decode())) for i, m in FORTUNE_ROW.findall(body)]
    except UnicodeDecodeError:
        return "body is not UTF-8"
    if len(rows) != 13 or sorted(i for i, _ in rows) != list(range(13)):
        return f"expected the 12 fortunes plus id 0, got ids {[i for i, _ in rows]}"
    if (0, ADDED_FORTUNE) not in rows:
        return f"no fortune (0, {ADDED_FORTUNE!r})"
    messages = [m for _, m in rows]
    return None if messages == sorted(messages) else "fortunes are not sorted by message"


# ------------------------------------------------------------------------ the table

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("plaintext", "/", "sync handler, text/plain `Hello, World!`", _plaintext),
        Scenario(
            "pipelined",
            "/",
            "`plaintext` with 16 requests in one write per connection (HTTP/1.1 pipelining)",
            _plaintext,
            wrk_script=WRK_PIPELINE,
        ),
        Scenario("json", "/json", "`{'message': 'Hello, World!'}` as JSON", _json_equal({"message": "Hello, World!"})),
        Scenario("path", "/users/12345", "path parameter echoed as JSON", _json_equal({"id": "12345"})),
        Scenario(
            "query",
            "/query?a=1&b=hello&c=3.5",
            "three query parameters echoed as JSON",
            _json_equal({"a": "1", "b": "hello", "c": "3.5"}),
        ),
        Scenario(
            "post_json",
            "/echo",
            "~1 KiB JSON body parsed and serialized back",
            _json_equal(json.loads(POST_BODY)),
            method="POST",
            body=POST_BODY,
            headers={"Content-Type": "application/json"},
            wrk_script=WRK_POST_JSON,
        ),
        Scenario(
            "validate",
            "/validate",
            "~1 KiB JSON order validated into a model (10 typed fields, a nested list), a response model back",
            _json_equal(_order_out(VALIDATE_BODY)),
            method="POST",
            body=VALIDATE_BODY,
            headers={"Content-Type": "application/json"},
            wrk_script=WRK_VALIDATE,
            models=True,
        ),
        Scenario(
            "validate_invalid",
            "/validate",
            "the same order with 3 invalid fields: 422 listing the errors",
            _validation_errors,
            method="POST",
            status=422,
            body=VALIDATE_INVALID_BODY,
            headers={"Content-Type": "application/json"},
            wrk_script=WRK_VALIDATE_INVALID,
            models=True,
        ),
        Scenario("middleware", "/mw", "before-request and after-request hooks (`x-after: 1`)", _middleware),
        Scenario("async", "/async", "`async def` handler awaiting `asyncio.sleep(0)`", _hello),
        Scenario("big", "/64k", "65,536-byte body", _big),
        Scenario("const", "/const", "`const=True` route (nginx: `return 200`)", _hello),
        Scenario(
            "openapi",
            "/openapi.json",
            "the app's OpenAPI document (Tiercel: bytes made once at start-up, served as a const route)",
            _openapi_document,
            docs=True,
        ),
        Scenario("file", "/static/1m.bin", "a 1 MiB static file", _file),
        Scenario("sse", "/sse", f"{SSE_EVENTS:,} server-sent events in one response", _sse),
        Scenario(
            "ws",
            "/ws/echo",
            f"WebSocket echo of {len(WS_PAYLOAD)}-byte text messages, a window of them in flight on each connection",
            None,
            websocket=True,
        ),
        Scenario(
            "https", "/", "`plaintext` over TLS: HTTP/1.1 keep-alive on TLS 1.3", _plaintext, tls=True, h2load=True
        ),
        Scenario(
            "https_handshake",
            "/",
            "`plaintext` over TLS with `Connection: close`: a new TCP connection and TLS 1.3 handshake per request",
            _closing,
            headers={"Connection": "close"},
            wrk_script=WRK_CLOSE,  # wrk, not h2load: h2load 1.52's timed runs (-D) never end when it must reconnect
            tls=True,
        ),
        Scenario(
            "h2",
            "/",
            "`plaintext` over TLS: HTTP/2 (ALPN h2), one stream at a time on each connection",
            _plaintext,
            tls=True,
            h2load=True,
            http2=True,
        ),
        Scenario(
            "h2_streams",
            "/",
            f"`plaintext` over TLS: HTTP/2, {H2_STREAMS} streams at once on each connection",
            _plaintext,
            tls=True,
            h2load=True,
            http2=True,
            streams=H2_STREAMS,
        ),
        Scenario(
            "memory",
            "/",
            "RSS per idle keep-alive connection: 10,000 connections (`--memory-connections`), one `plaintext` "
            "request answered on each, held idle",
            _plaintext,
            memory=True,
        ),
        Scenario("db", "/db", "one random World row", _db, db=True),
        Scenario("queries", f"/queries?queries={QUERIES}", f"{QUERIES} World rows, one query each", _queries, db=True),
        Scenario("fortunes", "/fortunes", "Fortune rows + 1, sorted, Jinja2 HTML template", _fortunes, db=True),
        Scenario(
            "updates",
            f"/updates?queries={QUERIES}",
            f"{QUERIES} World rows read, changed and written back",
            _updates,
            db=True,
        ),
    )
}
