"""examples/robyn_port: a Robyn 0.88 app that runs on Tiercel after its import lines changed, and nothing else.

The Robyn original is the example with the Tiercel import lines put back to Robyn's; the first test checks that
this is the only difference. Then the example runs on Tiercel (as a user runs it) and every route is driven; when
Robyn 0.88 is installed, the original runs on Robyn too and must answer the same requests the same way, except
where README "Differences from Robyn" says otherwise (named where it happens).
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

APP = Path(__file__).resolve().parent.parent / "examples" / "robyn_port" / "robyn_app.py"
TIERCEL_IMPORTS = ["from tiercel import Request, Response, SubRouter, jsonify", "from tiercel import Tiercel as Robyn"]
ROBYN_IMPORTS = ["from robyn import Request, Response, Robyn, SubRouter, jsonify"]
KEY, WRONG_KEY = {"X-API-Key": "s3cret"}, {"X-API-Key": "guess"}
JSON = "application/json"
# Tiercel's Content-Type where Robyn's differs (README: "Text answers name their charset"): a str return is
# text/plain on Robyn, and a Response whose headers name no Content-Type has none on Robyn.
TEXT, ROBYN_TEXT, ROBYN_NONE = "text/plain; charset=utf-8", "text/plain", None

CUP = '{"id":"3","name":"cup"}'
NO_KEY = "missing or wrong X-API-Key"

# Sent in this order (the POST changes what later requests see): request, then the expected
# (status, Content-Type on Tiercel, Content-Type on Robyn, Location, body).
EXCHANGES: list[tuple[tuple[str, str, dict[str, Any]], tuple[int, str | None, str | None, str | None, str]]] = [
    (("GET", "/", {}), (200, TEXT, ROBYN_TEXT, None, "Hello, world!")),
    (("GET", "/?name=ada", {}), (200, TEXT, ROBYN_TEXT, None, "Hello, ada!")),
    (("GET", "/items/1", {}), (200, JSON, JSON, None, '{"id":"1","name":"kettle"}')),  # filled at startup
    (("GET", "/items/9", {}), (404, TEXT, ROBYN_NONE, None, "no such item")),
    (("POST", "/items", {"json": {"name": "cup"}}), (401, TEXT, ROBYN_NONE, None, NO_KEY)),  # the middleware
    (("POST", "/items", {"json": {"name": "cup"}, "headers": WRONG_KEY}), (401, TEXT, ROBYN_NONE, None, NO_KEY)),
    (("POST", "/items", {"json": {"name": "cup"}, "headers": KEY}), (201, JSON, JSON, "/items/3", CUP)),
    (("GET", "/items/3", {}), (200, JSON, JSON, None, CUP)),
    (("GET", "/admin/stats", {}), (200, JSON, JSON, None, '{"items":3,"names":["cup","kettle","teapot"]}')),
]  # fmt: skip


def robyn_original() -> str:
    """The example with Robyn's import line instead of Tiercel's."""
    lines = APP.read_text().splitlines()
    at = lines.index(TIERCEL_IMPORTS[0])
    assert lines[at : at + len(TIERCEL_IMPORTS)] == TIERCEL_IMPORTS
    return "\n".join(lines[:at] + ROBYN_IMPORTS + lines[at + len(TIERCEL_IMPORTS) :]) + "\n"


def test_the_port_changes_the_import_lines_and_nothing_else():
    port, original = APP.read_text(), robyn_original()
    changed = [line for line in difflib.ndiff(original.splitlines(), port.splitlines()) if line[:2] in ("- ", "+ ")]
    assert changed == [f"- {line}" for line in ROBYN_IMPORTS] + [f"+ {line}" for line in TIERCEL_IMPORTS]
    tree = ast.parse(original)
    docstring = ast.get_docstring(tree)
    assert docstring is not None and ROBYN_IMPORTS[0] in docstring  # the docstring shows the original line
    # Below its docstring the Robyn original names Tiercel nowhere: not in an import, a name, an attribute or a string.
    mentions = [
        ast.unparse(node)
        for statement in tree.body[1:]
        for node in ast.walk(statement)
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Name | ast.Attribute | ast.Constant)
        and "tiercel" in ast.unparse(node).lower()
    ]
    assert mentions == []
    # Robyn and the standard library are all it imports.
    imported = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(node) for node in imported if isinstance(node, ast.ImportFrom)] == ROBYN_IMPORTS
    assert {alias.name for node in imported if isinstance(node, ast.Import) for alias in node.names} <= set(
        sys.stdlib_module_names
    )


def drive(url: str) -> list[tuple[int, str | None, str | None, str]]:
    """Every exchange of EXCHANGES against the server at `url`: (status, Content-Type, Location, body)."""
    seen = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for method, path, kwargs in (request for request, _ in EXCHANGES):
            r = client.request(method, path, **kwargs)
            seen.append((r.status_code, r.headers.get("content-type"), r.headers.get("location"), r.text))
    return seen


def test_every_route_on_tiercel(run_script):
    app = run_script(str(APP))  # `python examples/robyn_port/robyn_app.py`, its port from TIERCEL_PORT=0
    assert drive(app.url) == [(status, ct, location, body) for _, (status, ct, _, location, body) in EXCHANGES]
    assert app.stop() == 0


@pytest.fixture
def robyn(tmp_path: Path) -> Iterator[str]:
    """The Robyn original, run by Robyn itself in a subprocess; yields its URL."""
    try:
        version = importlib.metadata.version("robyn")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("Robyn is not installed: the answers are compared with Tiercel's only where it is")
    if not version.startswith("0.88."):
        pytest.skip(f"the example is written for Robyn 0.88; Robyn {version} is installed")
    script = tmp_path / "robyn_app.py"
    script.write_text(robyn_original())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "robyn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "ROBYN_PORT": str(port)},  # Robyn's own variable, as TIERCEL_PORT is Tiercel's
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Robyn runs its server in a child process: stop the whole group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Robyn did not start:\n" + (tmp_path / "robyn.log").read_text())
            time.sleep(0.05)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:  # Robyn 0.88 stops serving on SIGINT, but its process does not exit
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/docs", timeout=1)  # not one of EXCHANGES: the startup state stays as it is
        return True
    except httpx.HTTPError:
        return False


def test_robyn_answers_the_original_alike(robyn):
    assert drive(robyn) == [(status, ct, location, body) for _, (status, _, ct, location, body) in EXCHANGES]
