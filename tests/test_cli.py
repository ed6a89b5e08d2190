"""`python -m tiercel module:app`: serving and stopping, `--help` (every setting, grouped, one default each, as the
the Operations page counts them), and the one message a bad setting or a bad app target gets."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server_processes import APP_DIR, tiercel


def test_cli_serves_and_stops_on_sigterm(run_script):
    p = run_script(*tiercel("--port", "0"), cwd=APP_DIR)
    assert httpx.get(p.url + "/pid").text == str(p.proc.pid)  # one process: no supervisor
    assert p.stop(signal.SIGTERM) == 0
    assert any("shutdown handler ran" in line for line in p.output)


def test_help_lists_every_setting():
    from tiercel.config import OPTIONS

    out = subprocess.run(
        [sys.executable, "-m", "tiercel", "--help"], capture_output=True, text=True, check=True, cwd=APP_DIR
    )
    for option in OPTIONS:
        assert option.flag in out.stdout
        assert option.env in out.stdout


def _help_groups() -> dict[str, dict[str, str]]:
    """`tiercel --help` as {group title: {--flag: its help text}}."""
    out = subprocess.run(
        [sys.executable, "-m", "tiercel", "--help"], capture_output=True, text=True, check=True, cwd=APP_DIR,
    ).stdout  # fmt: skip
    groups: dict[str, dict[str, str]] = {}
    title = flag = ""
    for line in out.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title, flag = line[:-1], ""
            groups[title] = {}
        elif title and line.startswith("  -"):
            flag = line.split()[0]
            groups[title][flag] = " ".join(line.split()[2:])
        elif title and flag and line.startswith("      "):
            groups[title][flag] += " " + line.strip()
    return groups


def test_readme_counts_the_settings_help_lists():
    from tiercel.config import OPTIONS

    flags = [f for title, group in _help_groups().items() if title != "options" for f in group]
    readme = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    counts = re.findall(r"each of the (\d+) settings", readme)
    assert counts, "the Operations page (docs/operations.md) counts the settings"
    assert {int(c) for c in counts} == {len(flags)} == {len(OPTIONS)}, (counts, len(flags), len(OPTIONS))
    # The multi-process section says what a newcomer's in-memory state becomes with --processes N.
    assert "module globals, `app.state`, caches and in-memory counters are per worker process" in " ".join(
        readme.split()
    )


def test_help_shows_one_default_per_setting_and_the_websocket_flags_together():
    groups = _help_groups()
    for title, flags in groups.items():
        for flag, text in flags.items():
            if title != "options":
                assert text.count("default") == 1, (flag, text)
    tls = groups["TLS (HTTPS) and HTTP/2"]
    assert "(default: Mozilla's intermediate suites, forward-secret AEAD only;" in tls["--ssl-ciphers"]
    ws = {title for title, flags in groups.items() for f in flags if f.startswith("--ws-")}
    assert ws == {"WebSockets"} and len(groups["WebSockets"]) == 4, groups.get("WebSockets")


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--port", "http"], {}, "--port must be an integer, got 'http'"),
        (["--processes", "0"], {}, "--processes must be from 1 to 1024, got 0"),
        ([], {"TIERCEL_MAX_BODY": "lots"}, "environment variable TIERCEL_MAX_BODY must be an integer, got 'lots'"),
        ([], {"TIERCEL_ACCESS_LOG": "perhaps"}, "TIERCEL_ACCESS_LOG must be true or false"),
        (["--log-level", "loud"], {}, "--log-level must be one of critical, error, warning, info, debug"),
        (["--forwarded-allow-ips", "10.0.0.300"], {}, "and '10.0.0.300' is neither"),
        (["--timeout-keep-alive", "-1"], {}, "must be a positive number of seconds"),
        (["--max-requests-jitter", "5"], {}, "max_requests_jitter needs max_requests"),
    ],
)
def test_bad_settings_fail_at_start_up_with_a_clear_message(args, env, message):
    r = subprocess.run(
        [sys.executable, *tiercel(*args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
        cwd=APP_DIR,
    )
    assert r.returncode != 0
    assert message in r.stderr


@pytest.mark.parametrize(
    "target, message",
    [
        ("runtime_app", "module:attribute"),
        ("nosuchmodule:app", "cannot import 'nosuchmodule'"),
        ("runtime_app:nope", "has no attribute 'nope'"),
        ("runtime_app:os", "not a Tiercel app"),
    ],
)
def test_bad_app_targets(target, message):
    r = subprocess.run(
        [sys.executable, "-m", "tiercel", target, "--app-dir", APP_DIR], capture_output=True, text=True, timeout=30,
        cwd=APP_DIR,
    )  # fmt: skip
    assert r.returncode != 0 and message in r.stderr, r.stderr


@pytest.mark.parametrize(
    "argv, app, values",
    [
        (["--dev", "app:app"], "app:app", {"dev": "true"}),
        (["--access-log", "--proxy-headers", "app:app"], "app:app", {"access_log": "true", "proxy_headers": "true"}),
        (["--http2", "off", "app:app"], "app:app", {"http2": "off"}),
        (["app:app", "--disable-openapi"], "app:app", {"disable_openapi": "true"}),
        (["app:app", "--dev", "YES"], "app:app", {"dev": "YES"}),
    ],
)
def test_a_true_false_flag_does_not_swallow_the_app(argv, app, values):
    from tiercel.cli import explicit_bools, parser

    args = parser().parse_args(explicit_bools(argv))
    assert args.app == app
    assert {name: getattr(args, name) for name in values} == values


def test_access_log_flag_before_the_app_serves_it(run_script):
    p = run_script("-m", "tiercel", "--access-log", "runtime_app:app", "--app-dir", APP_DIR, "--port", "0", cwd=APP_DIR)
    assert httpx.get(p.url + "/pid").status_code == 200
    assert p.wait_for_output('"GET /pid HTTP/1.1" 200', 5), p.output


def test_a_wsgi_app_or_another_callable_is_named_in_one_line(tmp_path):
    # A Flask app handed to the CLI was called as an app factory and ended in a traceback (ASGI apps are served:
    # tests/test_asgi.py).
    (tmp_path / "others.py").write_text(
        "from flask import Flask\n"
        "flask_app = Flask(__name__)\n"
        "def raw_wsgi(environ, start_response): ...\n"
        "def one(x): ...\n"
    )
    for attr, message in [
        ("flask_app", "is a WSGI application (Flask); Tiercel serves Tiercel and ASGI apps (WSGI: not yet)"),
        ("raw_wsgi", "is a WSGI application (function)"),
        ("one", "is a callable taking 1 argument, not an app or an app factory"),
    ]:
        r = subprocess.run(
            [sys.executable, "-m", "tiercel", f"others:{attr}", "--app-dir", str(tmp_path), "--port", "0"],
            capture_output=True, text=True, timeout=30, cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode != 0 and message in r.stderr, (attr, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_an_app_factory_is_called(run_script, tmp_path):
    (tmp_path / "made.py").write_text(
        "from tiercel import Tiercel\n"
        "def create_app():\n"
        "    app = Tiercel(__file__)\n"
        "    app.get('/')(lambda: 'made')\n"
        "    return app\n"
    )
    p = run_script("-m", "tiercel", "made:create_app", "--app-dir", str(tmp_path), "--port", "0", cwd=str(tmp_path))
    assert httpx.get(p.url + "/").text == "made"
