"""The production runtime with real processes, signals and sockets: the CLI and its settings, the supervisor
(respawn, crash loop, heartbeat, recycling, rolling restart, scaling), graceful shutdown, Unix sockets,
blocking handlers."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tiercel import TestClient, Tiercel

APP_DIR = os.path.join(os.path.dirname(__file__), "apps")


def tiercel(*flags: str) -> list[str]:
    return ["-m", "tiercel", "runtime_app:app", "--app-dir", APP_DIR, *flags]


def children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Load:
    """Requests on fresh connections from a few threads until stopped; counts outcomes."""

    def __init__(self, url: str, path: str = "/pid", threads: int = 4) -> None:
        self.url, self.path = url, path
        self.ok = 0
        self.errors: list[str] = []
        self.pids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while self.running:
            try:
                r = httpx.get(self.url + self.path, timeout=10)  # a new connection each time
                with self.lock:
                    if r.status_code == 200:
                        self.ok += 1
                        self.pids[r.text] += 1
                    else:
                        self.errors.append(f"status {r.status_code}")
            except httpx.HTTPError as e:
                with self.lock:
                    self.errors.append(repr(e))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        for t in self.threads:
            t.join(15)


# ---- CLI and settings ----------------------------------------------------------------------------------
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
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    counts = re.findall(r"each of the (\d+) settings", readme)
    assert counts, "the README's 'Running in production' section counts the settings"
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


def test_env_settings_reach_the_engine(run_script):
    p = run_script(*tiercel(), cwd=APP_DIR, env={"TIERCEL_MAX_BODY": "8", "TIERCEL_SERVER_HEADER": "edge"})
    r = httpx.get(p.url + "/pid")
    assert r.headers["server"] == "edge"
    assert httpx.post(p.url + "/pid", content=b"123456789").status_code == 413


# ---- supervisor ----------------------------------------------------------------------------------------
def test_workers_serve_and_a_killed_worker_is_replaced(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    workers = children(p.proc.pid)
    assert len(workers) == 2
    with Load(p.url) as load:
        time.sleep(0.3)
        victim = next(iter(workers))
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children(p.proc.pid) - {victim}) == 2, 10, "a replacement worker")
        time.sleep(0.5)
        # New connections after the kill all succeed.
        load.errors.clear()
        ok_before = load.ok
        time.sleep(1.0)
        assert load.ok > ok_before and load.errors == []
    assert victim not in children(p.proc.pid)
    assert p.wait_for_output(f"worker {victim} was killed by SIGKILL: starting another", 5)
    assert p.stop(signal.SIGTERM) == 0


def test_sigterm_lets_in_flight_requests_finish(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    # Connected and sent before the signal (threads starting httpx clients could still be connecting when it
    # came, on a loaded machine, and find the listening socket closed).
    socks = [socket.create_connection(("127.0.0.1", p.port), timeout=10) for _ in range(8)]
    for s in socks:
        s.sendall(b"GET /slow?s=1.5 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.5)
    p.proc.send_signal(signal.SIGTERM)
    answers = []
    for s in socks:
        with s:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            answers.append(data)
    assert p.proc.wait(10) == 0
    for a in answers:
        head, _, body = a.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), a
        assert b"\r\nconnection: close" in head.lower() and body.startswith(b"slept 1.5"), a
    assert sum("shutdown handler ran" in line for line in p.output) == 2


def test_sighup_rolling_restart_refuses_nothing(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    before = children(p.proc.pid)
    with Load(p.url) as load:
        wait_for(lambda: load.ok >= 10, 15, "requests before the restart")
        p.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(children(p.proc.pid)) == 2 and not children(p.proc.pid) & before, 15, "new workers")
        after = children(p.proc.pid)
        wait_for(lambda: sum(load.pids[str(pid)] for pid in after) >= 10, 15, "requests served by the new workers")
    assert load.errors == [], load.errors[:5]
    assert {int(pid) for pid in load.pids} & before  # the old workers served until they were replaced
    assert p.stop(signal.SIGTERM) == 0


def test_heartbeat_kills_a_stuck_worker(run_script):
    p = run_script(*tiercel("--processes", "2", "--heartbeat-timeout", "1.5"), cwd=APP_DIR)
    with pytest.raises(httpx.HTTPError):
        httpx.get(p.url + "/hang", timeout=6)  # the worker that took it is killed: the connection dies
    assert p.wait_for_output("its event loop stopped answering", 5)
    wait_for(lambda: len(children(p.proc.pid)) == 2, 10, "a replacement worker")
    assert httpx.get(p.url + "/pid").status_code == 200
    assert p.stop(signal.SIGTERM) == 0


def test_max_requests_recycles_workers_without_failures(run_script):
    p = run_script(*tiercel("--max-requests", "30", "--max-requests-jitter", "5"), cwd=APP_DIR)
    first = children(p.proc.pid)
    assert len(first) == 1
    with Load(p.url, threads=2) as load:
        wait_for(lambda: len(load.pids) >= 3, 30, "two recyclings")  # checked once a second by each worker
    assert load.errors == [], load.errors[:5]
    assert p.wait_for_output("asking to be replaced", 1)
    assert p.stop(signal.SIGTERM) == 0


def test_workers_dying_at_start_up_stop_the_supervisor(run_script):
    r = subprocess.run(
        [sys.executable, *tiercel("--processes", "2", "--port", "0")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RUNTIME_APP_FAIL_STARTUP": "1"},
        cwd=APP_DIR,
    )
    assert r.returncode == 3
    assert "workers keep dying at start-up (5 in a row): giving up" in r.stderr
    assert "the database is unreachable" in r.stderr


def test_sigttin_and_sigttou_scale_the_workers(run_script):
    p = run_script(*tiercel("--processes", "2"), cwd=APP_DIR)
    p.proc.send_signal(signal.SIGTTIN)
    wait_for(lambda: len(children(p.proc.pid)) == 3, 10, "3 workers")
    # One signal at a time: the kernel merges a signal sent again before the first was handled.
    p.proc.send_signal(signal.SIGTTOU)
    wait_for(lambda: len(children(p.proc.pid)) == 2, 10, "2 workers")
    p.proc.send_signal(signal.SIGTTOU)
    wait_for(lambda: len(children(p.proc.pid)) == 1, 10, "1 worker")
    assert httpx.get(p.url + "/pid").status_code == 200
    assert p.stop(signal.SIGTERM) == 0


def test_second_signal_exits_at_once(run_script):
    p = run_script(*tiercel("--processes", "2", "--timeout-graceful-shutdown", "30"), cwd=APP_DIR)

    def hold() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(p.url + "/slow?s=20", timeout=30)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    time.sleep(0.5)
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(10) == 1
    assert time.monotonic() - started < 5


# ---- single process ---------------------------------------------------------------------------------------
def test_single_process_graceful_shutdown(run_script):
    p = run_script(*tiercel(), cwd=APP_DIR)
    results: list[httpx.Response] = []
    t = threading.Thread(target=lambda: results.append(httpx.get(p.url + "/slow?s=1", timeout=10)))
    t.start()
    with httpx.Client() as idle:  # an idle keep-alive connection is closed at once, not after the grace period
        idle.get(p.url + "/pid")
        time.sleep(0.3)
        p.proc.send_signal(signal.SIGTERM)
        t.join(10)
        try:
            assert p.proc.wait(10) == 0
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not stop:\n" + "".join(p.output)) from None
    assert results[0].status_code == 200 and results[0].headers["connection"] == "close"


def test_unix_domain_socket(run_script, tmp_path):
    path = str(tmp_path / "tiercel.sock")
    proc = subprocess.Popen(
        [sys.executable, *tiercel("--uds", path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if k != "TIERCEL_PORT"}, cwd=APP_DIR,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while "Tiercel listening" not in line:
            assert line, "server did not start"
            line = proc.stdout.readline()
        assert f"unix:{path}" in line
        with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as c:
            assert c.get("http://x/pid").text == str(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not os.path.exists(path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


# ---- blocking handlers ---------------------------------------------------------------------------------
def test_blocking_handler_does_not_stall_the_loop(run_script):
    p = run_script(*tiercel(), cwd=APP_DIR)
    slow: list[httpx.Response] = []
    t = threading.Thread(target=lambda: slow.append(httpx.get(p.url + "/blocking?s=1.5", timeout=10)))
    t.start()
    time.sleep(0.2)
    with httpx.Client(base_url=p.url) as c:
        fast = [c.get("/pid", timeout=5) for _ in range(20)]
    assert slow == []  # all served while the blocking one still sleeps
    assert all(r.status_code == 200 for r in fast)
    t.join(10)
    assert slow[0].text == "blocked 1.5"


def test_blocking_handlers_in_process():
    app = Tiercel(__file__)
    seen_threads = set()

    @app.get("/b/:n", blocking=True)
    def b(n: int, request):
        seen_threads.add(threading.current_thread().name)
        return {"n": n, "path": request.path}

    @app.before_request("/hooked")
    def before(request):
        request.headers.set("x-b", "1")

    @app.get("/hooked", blocking=True)
    def hooked(headers):
        return headers.get("x-b")

    @app.get("/fails", blocking=True)
    def fails():
        raise ValueError("nope")

    with TestClient(app, blocking_threads=2) as client:
        assert client.get("/b/4").json() == {"n": 4, "path": "/b/4"}
        assert client.get("/b/x").status_code == 400
        assert client.get("/hooked").text == "1"
        assert client.get("/fails").status_code == 500
    assert seen_threads and all(name.startswith("tiercel-blocking") for name in seen_threads)

    with pytest.raises(TypeError, match="blocking=True runs a sync handler"):

        @app.get("/async", blocking=True)
        async def not_sync():
            return "x"


# ---- observability -------------------------------------------------------------------------------------
def test_access_log_lines(run_script):
    p = run_script(*tiercel("--access-log"), cwd=APP_DIR)
    with httpx.Client(base_url=p.url) as c:
        c.get("/pid")
        c.get("/nowhere?x=1")
        c.get("/boom")
        c.post("/pid", content=b"12345")
    assert p.wait_for_output('"POST /pid HTTP/1.1" 405', 5)  # flushed within a second
    lines = [line for line in p.output if '"' in line and " - - [" in line]
    stamp = r"^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d\d\d\d:\d\d:\d\d:\d\d \+0000\] "
    for request, status in [("GET /pid", 200), ("GET /nowhere?x=1", 404), ("GET /boom", 500), ("POST /pid", 405)]:
        pattern = stamp + re.escape(f'"{request} HTTP/1.1" {status} ') + r"\d+ \d+\.\d\d\d$"
        assert any(re.match(pattern, line.strip()) for line in lines), (request, lines)
    # Off by default.
    q = run_script(*tiercel(), cwd=APP_DIR)
    httpx.get(q.url + "/pid")
    time.sleep(1.2)
    assert not any(" - - [" in line for line in q.output)


def test_metrics_across_workers_and_restarts(run_script):
    p = run_script(*tiercel("--processes", "2", "--metrics", "/metrics"), cwd=APP_DIR)
    with httpx.Client(base_url=p.url) as c:
        for _ in range(30):
            assert c.get("/pid").status_code == 200
        for _ in range(5):
            c.get("/nowhere")
    # New connections until both workers have answered some: the counts must add up across them.
    with Load(p.url, threads=4) as load:
        wait_for(lambda: len(load.pids) == 2, 20, "both workers to answer")
    assert load.errors == []
    pid_requests = 30 + load.ok

    def metric(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{") and line.rsplit(" ", 1)[0] == name:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    text = httpx.get(p.url + "/metrics").text
    assert metric(text, 'tiercel_requests_total{route="/pid",method="GET",status="2xx"}') == pid_requests
    assert metric(text, 'tiercel_requests_total{route="",method="",status="4xx"}') == 5
    assert metric(text, 'tiercel_request_duration_seconds_count{route="/pid",method="GET"}') == pid_requests
    assert metric(text, "tiercel_open_connections") >= 1
    assert metric(text, "tiercel_worker_restarts_total") == 0
    # A worker dies: its counts are kept, and the restart is counted.
    victim = next(iter(children(p.proc.pid)))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(children(p.proc.pid) - {victim}) == 2, 10, "a replacement worker")
    time.sleep(0.3)
    text = httpx.get(p.url + "/metrics").text
    assert metric(text, 'tiercel_requests_total{route="/pid",method="GET",status="2xx"}') == pid_requests
    assert metric(text, 'tiercel_requests_total{route="/metrics",method="GET",status="2xx"}') == 1
    assert metric(text, "tiercel_worker_restarts_total") == 1
    assert p.stop(signal.SIGTERM) == 0


def test_metrics_in_process():
    app = Tiercel(__file__)
    app.get("/a/:x")(lambda x: x)
    with TestClient(app, metrics="/metrics") as client:
        client.get("/a/1")
        client.get("/a/2")
        text = client.get("/metrics").text
    assert 'tiercel_requests_total{route="/a/:x",method="GET",status="2xx"} 2' in text
    assert "# TYPE tiercel_request_duration_seconds histogram" in text


# ---- development mode ----------------------------------------------------------------------------------
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
