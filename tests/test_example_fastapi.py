"""examples/fastapi_side_by_side: the FastAPI app (under uvicorn) and its Tiercel port (under its own start), each
a real server in a subprocess, sent the same requests in the same order: same statuses, same JSON, refusals
included. The two places where they differ on purpose are asserted apart, with the reason."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fastapi_side_by_side"
KETTLE = {"id": 1, "name": "kettle", "price": 25.0, "tags": ["kitchen"]}  # no "cost": the response model drops it
CUP = {"id": 2, "name": "cup", "price": 3.5, "tags": ["kitchen"]}


def refusal(kind: str, loc: list[Any], msg: str, value: Any, **ctx: Any) -> dict[str, Any]:
    """One entry of a 422's detail list, FastAPI's shape."""
    return {"type": kind, "loc": loc, "msg": msg, "input": value, **({"ctx": ctx} if ctx else {})}


# Sent in this order to both servers (the POST changes what the last GET sees): request, expected status and JSON.
SAME: list[tuple[str, str, dict[str, Any], int, Any]] = [
    ("GET", "/items", {}, 200, [KETTLE]),
    ("GET", "/items/1", {}, 200, KETTLE),
    ("GET", "/items/7", {}, 404, {"detail": "Item not found"}),
    ("GET", "/items?limit=0", {}, 422, {"detail": [
        refusal("greater_than_equal", ["query", "limit"], "Input should be greater than or equal to 1", "0", ge=1)]}),
    ("GET", "/items?limit=lots", {}, 422, {"detail": [refusal(
        "int_parsing", ["query", "limit"], "Input should be a valid integer, unable to parse string as an integer",
        "lots")]}),
    ("POST", "/items", {"json": {"name": "cup", "price": 3.5, "tags": ["kitchen"]}}, 201, CUP),
    ("POST", "/items", {"json": {"name": "", "price": -1}}, 422, {"detail": [
        refusal("string_too_short", ["body", "name"], "String should have at least 1 character", "", min_length=1),
        refusal("greater_than", ["body", "price"], "Input should be greater than 0", -1, gt=0.0)]}),
    ("POST", "/items", {"json": {"price": 2}}, 422, {"detail": [
        refusal("missing", ["body", "name"], "Field required", {"price": 2})]}),
    ("POST", "/items", {}, 422, {"detail": [refusal("missing", ["body"], "Field required", None)]}),
    ("POST", "/items", {"content": b"{nope", "headers": {"Content-Type": "application/json"}}, 422, {"detail": [
        refusal("json_invalid", ["body", 1], "JSON decode error", {},
                error="Expecting property name enclosed in double quotes")]}),
    ("GET", "/items?tag=kitchen&limit=5", {}, 200, [KETTLE, CUP]),
    ("GET", "/items?tag=garden", {}, 200, []),
]  # fmt: skip


@pytest.fixture
def fastapi_url() -> Iterator[str]:
    """`uvicorn fastapi_app:app` on a free port; yields its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_app:app",
            "--app-dir",
            str(EXAMPLE),
            "--port",
            "0",
            "--no-access-log",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = []
    for line in proc.stdout:  # uvicorn names the port it got once it listens
        output.append(line)
        if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
            break
    try:
        if m is None:
            pytest.fail("uvicorn did not start:\n" + "".join(output))
        yield m.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        output.append(proc.communicate(timeout=10)[0])
        assert proc.returncode == 0, "".join(output)


def answers(url: str, requests: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[int, str, str]]:
    """(status, Content-Type, body) of each request, sent in order on one connection."""
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            (r.status_code, r.headers.get("content-type", ""), r.text)
            for r in (client.request(method, path, **kwargs) for method, path, kwargs in requests)
        ]


def test_same_requests_same_answers(run_script, fastapi_url):
    tiercel = run_script(str(EXAMPLE / "tiercel_app.py"))
    requests = [(method, path, kwargs) for method, path, kwargs, _, _ in SAME]
    theirs, ours = answers(fastapi_url, requests), answers(tiercel.url, requests)
    for (_, path, _, status, body), their, our in zip(SAME, theirs, ours, strict=True):
        for answer in (their, our):
            assert (answer[0], answer[1], json.loads(answer[2])) == (status, "application/json", body), (path, answer)
    assert tiercel.stop() == 0


def test_where_they_differ_on_purpose(run_script, fastapi_url):
    tiercel = run_script(str(EXAMPLE / "tiercel_app.py"))
    requests: list[tuple[str, str, dict[str, Any]]] = [("GET", "/items/abc", {}), ("GET", "/nowhere", {})]
    theirs, ours = answers(fastapi_url, requests), answers(tiercel.url, requests)
    # A refused path value. FastAPI: 422 with its detail list. Tiercel: get_item has no FastAPI marker (Path, Query,
    # ...) and no model parameter, so it is taken as written Robyn's way, and Robyn answers 400 naming the value;
    # declared FastAPI's way (`item_id: Annotated[int, Path()]`, as `limit` is with Query) it would get the 422.
    message = "Input should be a valid integer, unable to parse string as an integer"
    assert theirs[0][:2] == (422, "application/json")
    assert json.loads(theirs[0][2]) == {"detail": [refusal("int_parsing", ["path", "item_id"], message, "abc")]}
    assert ours[0] == (400, "text/plain; charset=utf-8", "path parameter 'item_id' must be an integer, got 'abc'")
    # No route. FastAPI's 404 is made by its Python router, as JSON; Tiercel's by the C++ server, which answers
    # unrouted requests without running Python (scanners' traffic costs nothing), as plain text.
    assert theirs[1] == (404, "application/json", '{"detail":"Not Found"}')
    assert ours[1] == (404, "text/plain; charset=utf-8", "Not Found\n")
    assert tiercel.stop() == 0


def test_the_cli_serves_the_port(run_script):
    """The command line the docstring gives: `tiercel tiercel_app:app --app-dir examples/fastapi_side_by_side`."""
    tiercel = run_script("-m", "tiercel", "tiercel_app:app", "--app-dir", str(EXAMPLE))
    r = httpx.get(tiercel.url + "/items?limit=1")
    assert (r.status_code, r.json()) == (200, [KETTLE])
    assert tiercel.stop() == 0
