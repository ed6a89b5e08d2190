"""Development mode (tiercel.reload, `--dev`): restarts on a change, and a broken app answered with its error
until a fix is saved."""

from __future__ import annotations

import signal

import httpx
import pytest
from server_processes import wait_for


def test_dev_mode_restarts_on_change(run_script, tmp_path):
    source = tmp_path / "devapp.py"
    source.write_text(
        "from tiercel import Tiercel\napp = Tiercel(__file__)\n"
        "@app.get('/')\ndef index():\n    return 'version 1'\n"
        "@app.get('/boom')\ndef boom():\n    raise RuntimeError('shown in dev mode')\n"
    )
    p = run_script("-m", "tiercel", "devapp:app", "--app-dir", str(tmp_path), "--dev", cwd=str(tmp_path))
    wait_for(lambda: _get_text(p.url + "/") == "version 1", 10, "the first version")
    assert "RuntimeError: shown in dev mode" in httpx.get(p.url + "/boom").text  # tracebacks in dev mode
    source.write_text(source.read_text().replace("version 1", "version 2"))
    wait_for(lambda: _get_text(p.url + "/") == "version 2", 15, "the reloaded version")
    # A broken edit keeps the watcher alive; fixing it serves again.
    source.write_text("this is not python(")
    wait_for(lambda: p.wait_for_output("waiting for a change", 0.1), 15, "the crash to be noticed")
    source.write_text(source.read_text().replace("this is not python(", "") or "")
    source.write_text(
        "from tiercel import Tiercel\napp = Tiercel(__file__)\n@app.get('/')\ndef index():\n    return 'version 3'\n"
    )
    wait_for(lambda: _get_text(p.url + "/") == "version 3", 15, "the fixed version")
    assert p.stop(signal.SIGTERM) == 0


def _get_text(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _answers(url: str, status: int, text: str) -> bool:
    r = _get(url)
    return r is not None and r.status_code == status and text in r.text


GOOD_DEV_APP = "from tiercel import Tiercel\napp = Tiercel(__file__)\n@app.get('/')\ndef index():\n    return 'good'\n"


@pytest.mark.parametrize(
    "broken, shown",
    [
        ("from tiercel import Tiercel\napp = Tiercel(__file__\n", "SyntaxError"),
        ("import no_such_module_here\n", "ModuleNotFoundError: No module named 'no_such_module_here'"),
        ("raise RuntimeError('broken at import')\n", "RuntimeError: broken at import"),
    ],
    ids=["syntax", "import", "raised"],
)
@pytest.mark.parametrize("how", ["cli", "app.start"])
def test_dev_mode_answers_a_broken_app_with_its_error(run_script, tmp_path, broken, shown, how):
    """A broken save is answered with a 500 showing the error (not a connection left waiting), and the next good
    save serves the app again."""
    source = tmp_path / "devapp.py"
    good = GOOD_DEV_APP if how == "cli" else GOOD_DEV_APP + "if __name__ == '__main__':\n    app.start(dev=True)\n"
    source.write_text(good)
    args = ["-m", "tiercel", "devapp:app", "--dev"] if how == "cli" else ["devapp.py"]
    p = run_script(*args, cwd=str(tmp_path))
    wait_for(lambda: _answers(p.url + "/", 200, "good"), 15, "the good app")
    source.write_text(broken)
    wait_for(lambda: _answers(p.url + "/anything", 500, shown), 15, "the error page")
    r = httpx.get(p.url + "/")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.startswith("tiercel --dev: the app could not start (exit code 1). Fix it and save")
    source.write_text(good.replace("good", "fixed"))
    wait_for(lambda: _answers(p.url + "/", 200, "fixed"), 15, "the fixed app")
    assert p.stop(signal.SIGTERM) == 0


def test_dev_mode_started_on_a_broken_file(run_script, tmp_path):
    """`tiercel --dev` imports the app in its child, so even a first version that does not compile is answered."""
    source = tmp_path / "devapp.py"
    source.write_text("def broken(:\n")
    p = run_script("-m", "tiercel", "devapp:app", "--dev", cwd=str(tmp_path))
    wait_for(lambda: _answers(p.url + "/", 500, "SyntaxError"), 15, "the error page")
    assert "devapp.py" in httpx.get(p.url + "/").text  # where the error is
    source.write_text(GOOD_DEV_APP)
    wait_for(lambda: _answers(p.url + "/", 200, "good"), 15, "the fixed app")
    assert p.stop(signal.SIGTERM) == 0
