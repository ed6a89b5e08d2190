"""A mistake found at start-up is one line on stderr (`tiercel: error: ...`) naming the place, and a non-zero exit,
never a traceback: a port in use (one process or a supervisor), a route declared twice, a handler Tiercel cannot
call. Each case runs a real process, through the CLI or `python app.py`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

GOOD_APP = """
from tiercel import Tiercel

app = Tiercel(__file__)


@app.get("/")
def index():
    return "up"


if __name__ == "__main__":
    app.start()
"""


def start(tmp_path: Path, source: str, *args: str, cli: bool = True, env: dict[str, str | None] | None = None) -> str:
    """Runs the app (CLI or `python app.py`), which must fail at once; returns its stderr, checked to be one line.
    `env`: variables to set, or to unset (None)."""
    environ = {**os.environ, "TIERCEL_PORT": "0", **(env or {})}
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    command = ["-m", "tiercel", "app:app", *args] if cli else ["app.py"]
    r = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={k: v for k, v in environ.items() if v is not None},
    )
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tiercel: error: "), r.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    "args, cli",
    [([], True), (["--processes", "2"], True), (["--dev"], True), ([], False)],
    ids=["cli", "processes", "dev", "app.start"],
)
def test_port_in_use_names_the_address(tmp_path, taken_port, args, cli):
    line = start(tmp_path, GOOD_APP, *args, cli=cli, env={"TIERCEL_PORT": str(taken_port)})
    assert line == f"tiercel: error: cannot bind 127.0.0.1:{taken_port}: Address already in use"


@pytest.mark.parametrize("args", [[], ["--processes", "2"], ["--dev"]], ids=["cli", "processes", "dev"])
def test_uds_path_that_is_not_a_socket_is_refused(tmp_path, args):
    """A ValueError (the setting's value is wrong), shown as one line like the others; the file is left alone."""
    (tmp_path / "data.txt").write_text("keep me")
    line = start(tmp_path, GOOD_APP, "--uds", "data.txt", *args, env={"TIERCEL_PORT": None})
    assert line == "tiercel: error: uds path 'data.txt' exists and is not a socket; refusing to replace it"
    assert (tmp_path / "data.txt").read_text() == "keep me"


DUPLICATE = """
from tiercel import SubRouter, Tiercel

app = Tiercel(__file__)


@app.get("/x")
def first_name():
    return "a"


@app.get("/x/")
def second_name():
    return "b"


if __name__ == "__main__":
    app.start()
"""


@pytest.mark.parametrize("cli", [True, False], ids=["cli", "python app.py"])
def test_duplicate_route_names_the_first_declaration(tmp_path, cli):
    line = start(tmp_path, DUPLICATE, cli=cli)
    assert line == (
        "tiercel: error: app.py:12: GET /x/ is already declared at app.py:7 (handler first_name); "
        "second_name at app.py:12 declares it again: remove one, or give it another path or method"
    )


def test_duplicate_route_through_a_router_names_both(tmp_path):
    source = DUPLICATE.replace('@app.get("/x/")', 'router = SubRouter("/x")\n@router.get("/")').replace(
        "\n\nif __name__", "\napp.include_router(router)\n\nif __name__"
    )
    line = start(tmp_path, source)
    assert "GET /x is already declared at app.py:7 (handler first_name); second_name at app.py:13" in line
    assert line.startswith("tiercel: error: app.py:17: ")  # the include_router line


UNCONVERTIBLE = """
from tiercel import Tiercel

app = Tiercel(__file__)


class Thing:
    pass


@app.get("/things/:id")
def show(id: Thing):
    return "x"


if __name__ == "__main__":
    app.start()
"""


@pytest.mark.parametrize(
    "args, cli",
    [([], True), (["--processes", "2"], True), ([], False)],
    ids=["cli", "processes", "app.start"],
)
def test_handler_with_an_unconvertible_annotation_names_handler_and_parameter(tmp_path, args, cli):
    line = start(tmp_path, UNCONVERTIBLE, *args, cli=cli)
    assert line.startswith("tiercel: error: GET /things/:id (show at app.py:11): parameter 'id' of show: ")
    assert "cannot convert a path or query value to <class 'app.Thing'>" in line or "__main__.Thing" in line


def test_handler_with_a_positional_only_parameter_nothing_fills(tmp_path):
    source = UNCONVERTIBLE.replace("def show(id: Thing):", "def show(retries=3, page: int = 1, /):")
    line = start(tmp_path, source)
    assert "GET /things/:id (show at app.py:11): show: positional-only parameter 'page'" in line


@pytest.mark.parametrize("cli", [True, False], ids=["cli", "python app.py"])
def test_hook_with_two_required_parameters_names_it(tmp_path, cli):
    source = GOOD_APP.replace(
        'if __name__ == "__main__":', "@app.before_request()\ndef check(request, user):\n    pass\n\n\nif 1:"
    )
    line = start(tmp_path, source, cli=cli)
    assert line.startswith("tiercel: error: app.py:12: before-request hook check(request, user) requires 2 arguments")


def test_an_error_in_the_apps_own_start_up_code_keeps_its_traceback(tmp_path):
    """Only Tiercel's refusals are shortened: the app's own bug (here a start-up handler's) shows where it is."""
    source = GOOD_APP.replace(
        'if __name__ == "__main__":', "@app.startup_handler\ndef boom():\n    raise ValueError('own bug')\n\n\nif 0:"
    )
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    r = subprocess.run(
        [sys.executable, "-m", "tiercel", "app:app"], capture_output=True, text=True, timeout=30, cwd=tmp_path,
        env={**os.environ, "TIERCEL_PORT": "0"},
    )  # fmt: skip
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "ValueError: own bug" in r.stderr


def test_an_error_in_the_apps_own_module_keeps_its_traceback_under_python_app_py(tmp_path):
    (tmp_path / "app.py").write_text(GOOD_APP.replace('if __name__ == "__main__":', "{}['missing']\nif 0:"))
    r = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "KeyError: 'missing'" in r.stderr
