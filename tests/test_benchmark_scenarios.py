"""The validate scenarios' reply checks (benchmarks/scenarios.py) on the answers the frameworks give and on wrong
ones, and wrk's count of answers with an unexpected status (wrk_report.lua's `expected_status`, set by
wrk_validate_invalid.lua) against a real HTTP server on loopback that answers 422 or 200.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repository root, after site-packages

from benchmarks.measure import Load, run_wrk  # noqa: E402
from benchmarks.scenarios import SCENARIOS, VALIDATE_BODY, Reply  # noqa: E402

JSON = {"content-type": "application/json"}
PYDANTIC_ERRORS = [
    {"type": "string_too_short", "loc": ["body", "customer"], "msg": "String should have at least 1 character"},
    {"type": "less_than_equal", "loc": ["body", "age"], "msg": "Input should be less than or equal to 150"},
    {"type": "greater_than_equal", "loc": ["body", "items", 3, "quantity"], "msg": "Input should be >= 1"},
]
LITESTAR_ERROR = {"message": "Expected `str` of length >= 1", "key": "customer", "source": "body"}


def invalid(body: object) -> str | None:
    check = SCENARIOS["validate_invalid"].check
    assert check is not None
    return check(Reply(422, JSON, json.dumps(body).encode()), None)


def test_validate_expects_the_order_summary() -> None:
    check = SCENARIOS["validate"].check
    assert check is not None
    order = json.loads(VALIDATE_BODY)
    out = {"id": order["id"], "customer": order["customer"], "total": order["total"], "items": len(order["items"])}
    out["created"] = order["created"]
    assert check(Reply(200, JSON, json.dumps(out).encode()), None) is None
    assert check(Reply(200, JSON, json.dumps({**out, "items": 17}).encode()), None) is not None
    assert check(Reply(200, JSON, json.dumps(order).encode()), None) is not None  # the order itself, not OrderOut


@pytest.mark.parametrize(
    "body",
    [
        {"detail": PYDANTIC_ERRORS},  # FastAPI, Tiercel
        {"error": "Validation Error", "detail": [{**e, "loc": e["loc"][1:]} for e in PYDANTIC_ERRORS]},  # Robyn
        {"status_code": 422, "detail": "Validation failed for POST /validate", "extra": [LITESTAR_ERROR]},  # msgspec
    ],
)
def test_validate_invalid_accepts_each_framework_shape(body: object) -> None:
    assert invalid(body) is None


@pytest.mark.parametrize(
    "body",
    [
        {"detail": PYDANTIC_ERRORS[:2]},  # 2 of the 3 errors
        {"detail": [*PYDANTIC_ERRORS, PYDANTIC_ERRORS[0]]},  # 4
        {"detail": [PYDANTIC_ERRORS[0], PYDANTIC_ERRORS[0], PYDANTIC_ERRORS[1]]},  # one field twice
        {"detail": [{"loc": ["body", "email"], "msg": "not an email"}]},  # a field that is valid
        {"detail": [{"loc": ["body", "customer", "age"], "msg": "two fields in one error"}]},
        {"detail": "Validation failed"},  # no list
        [PYDANTIC_ERRORS],  # not an object
    ],
)
def test_validate_invalid_rejects_wrong_error_lists(body: object) -> None:
    assert invalid(body) is not None


def test_validate_invalid_wants_json() -> None:
    check = SCENARIOS["validate_invalid"].check
    assert check is not None
    body = json.dumps({"detail": PYDANTIC_ERRORS}).encode()
    assert check(Reply(422, {"content-type": "text/plain"}, body), None) is not None


class Answers(BaseHTTPRequestHandler):
    """Reads the body, answers POST /422 with 422 and anything else with 200, keeping the connection alive."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"detail": []}'
        self.send_response(422 if self.path == "/422" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (benchmarks/setup.sh)")


@needs_wrk
def test_wrk_counts_only_answers_other_than_422_as_errors(answers: str) -> None:
    script = SCENARIOS["validate_invalid"].wrk_script
    good = run_wrk(os.getpid(), Load(answers + "/422", script), duration=1, connections=2, threads=1)
    assert good["ok"], good
    assert good["requests"] > 0 and good["errors"]["status"] == 0
    wrong = run_wrk(os.getpid(), Load(answers + "/200", script), duration=1, connections=2, threads=1)
    assert not wrong["ok"]
    assert wrong["requests"] > 0 and wrong["errors"]["status"] == wrong["requests"], wrong


@needs_wrk
def test_wrk_counts_422_as_an_error_where_200_is_expected(answers: str) -> None:
    script = SCENARIOS["validate"].wrk_script
    assert run_wrk(os.getpid(), Load(answers + "/200", script), duration=1, connections=2, threads=1)["ok"]
    wrong = run_wrk(os.getpid(), Load(answers + "/422", script), duration=1, connections=2, threads=1)
    assert not wrong["ok"] and wrong["errors"]["status"] == wrong["requests"] > 0, wrong
