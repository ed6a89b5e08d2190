"""Settings (tiercel.config): the precedence of code, environment and command line, refusals, and environment
settings reaching the engine of a real server process."""

from __future__ import annotations

import httpx
import pytest
from server_processes import APP_DIR, tiercel


def test_precedence_code_env_cli():
    from tiercel.config import resolve

    s = resolve({"port": 1, "processes": 2}, {"TIERCEL_PORT": "2", "TIERCEL_MAX_BODY": "10"}, {"port": "3"})
    assert (s.port, s.processes, s.max_body) == (3, 2, 10)
    assert s.sources == {"port": "--port", "processes": "app.start()", "max_body": "TIERCEL_MAX_BODY"}
    with pytest.raises(TypeError, match="unknown setting 'prcesses'"):
        resolve({"prcesses": 2})
    with pytest.raises(ValueError, match="app.start\\(\\): processes must be from 1 to 1024"):
        resolve({"processes": 0})
    assert resolve({"keepalive_timeout": 2}).timeout_keep_alive == 2.0  # the older name still works


def test_a_bad_setting_names_the_call_that_gave_it():
    from tiercel import TestClient, Tiercel

    app = Tiercel(__file__)
    with pytest.raises(ValueError, match="^app.server\\(\\): max_body must be"):
        app.server(max_body="1MB")
    with pytest.raises(ValueError, match="^TestClient\\(\\): max_body must be"):
        TestClient(app, max_body=0)


def test_env_settings_reach_the_engine(run_script):
    p = run_script(*tiercel(), cwd=APP_DIR, env={"TIERCEL_MAX_BODY": "8", "TIERCEL_SERVER_HEADER": "edge"})
    r = httpx.get(p.url + "/pid")
    assert r.headers["server"] == "edge"
    assert httpx.post(p.url + "/pid", content=b"123456789").status_code == 413
