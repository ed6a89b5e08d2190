"""`python -m benchmarks soak`: Tiercel under a mixed load for a while, then what it kept: errors, RSS and fds.

Tiercel (`apps/tiercel_soak.py`: the benchmark app plus `/raise` and `/stream`) runs as two one-worker processes
pinned to SERVER_CPU, one plain, one serving TLS (HTTP/1.1 and HTTP/2 by ALPN). Every kind of the mix is validated
once, then all the load generators run at once on LOAD_CPU, first for a warm-up, then for the duration:

* wrk (`wrk_soak.lua`, 16 connections): plain `GET /`, JSON, a 1 KiB JSON POST echoed, a 404, a 500 (a handler that
  raises) and a chunked stream, in turn; each answer matched against the validated one (status and body);
* wsload: 2 WebSocket connections echoing 32-byte messages, one at a time on each;
* soakload: abandoned requests (closed, or reset, before the answer is read), POSTs cut off mid-body, whole
  WebSocket sessions (upgrade, echoes, close);
* over TLS: h2load `--h1` (HTTP/1.1 keep-alive) and h2load over HTTP/2 (8 streams per connection) on `/`, `/json`,
  `/stream`, and wrk with `Connection: close` (a TLS handshake per request).

Errors: anything unexpected (a status or body other than the validated one, a reset, a timeout, a failed WebSocket
check, a generator that failed). Leaks: the server's fd count after the run (once the clients are gone) against the
count after the warm-up, and its RSS: after the warm-up, peak (VmHWM) and at the end. The exit status is 1 when an
error happened or the fds grew, 2 when the setup failed (a server that did not start, a kind that did not validate).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import wsload
from benchmarks.apps.bench_common import STREAM_CHUNKS
from benchmarks.infra import APPS_DIR, HOST, make_tls_files
from benchmarks.measure import BENCH_DIR, H2LOAD_REQUESTS, H2LOAD_STATUS, LOAD_CPU, SERVER_CPU, WRK_TIMEOUT_S
from benchmarks.runner import log, validate
from benchmarks.scenarios import POST_BODY, SCENARIOS, WRK_CLOSE, Reply
from benchmarks.servers import Server, ServerSpec, stop_all

WRK_SOAK = BENCH_DIR / "wrk_soak.lua"
GRACE_S = 30.0  # a generator still running this long after its duration is killed (and an error)
SETTLE_S = 10.0  # how long the server may take to close its side of the clients' connections after a phase
STABLE_S = 1.0  # after the warm-up, the fd count is taken once it has not changed for this long
RSS_TRACE_S = 1.0  # the RSS of each server is sampled this often during the run
WRK_CONNECTIONS, WS_CONNECTIONS, TLS_CONNECTIONS, H2_STREAMS = 16, 2, 4, 8
TLS_PATHS = ("/", "/json", "/stream")

SPEC = ServerSpec(
    "tiercel",
    lambda port, workdir, tls: [sys.executable, str(APPS_DIR / "tiercel_soak.py")],
    (),
    "Tiercel, `apps/tiercel_soak.py`",
)


@dataclass(frozen=True)
class Kind:
    """One request of wrk's mix: what is sent and how its answer is validated (then matched exactly)."""

    name: str
    path: str
    status: int
    check: Callable[[Reply], str | None]
    method: str = "GET"
    body: bytes = b""
    content_type: str | None = None


def _scenario_check(name: str) -> Callable[[Reply], str | None]:
    check = SCENARIOS[name].check
    assert check is not None
    return lambda reply: check(reply, None)


def _body(expected: bytes) -> Callable[[Reply], str | None]:
    return lambda reply: None if reply.body == expected else f"body {reply.body[:80]!r}, expected {expected[:80]!r}"


MIX = (
    Kind("plain", "/", 200, _scenario_check("plaintext")),
    Kind("json", "/json", 200, _scenario_check("json")),
    Kind("post_1k", "/echo", 200, _scenario_check("post_json"), "POST", POST_BODY, "application/json"),
    Kind("not_found", "/soak/nowhere", 404, lambda reply: None),
    Kind("error_500", "/raise", 500, lambda reply: None),
    Kind("stream", "/stream", 200, _body(b"".join(STREAM_CHUNKS))),
)


# ------------------------------------------------------------------------- the server


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak resident set) of one process, in KiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    return {name: int(value.split()[0]) for name, value in fields.items()}


class RssTrace:
    """Samples each pid's VmRSS every RSS_TRACE_S in a thread (``samples``: pid -> KiB, in order): a leak keeps
    growing through the run, an allocator warming up levels off."""

    def __init__(self, pids: list[int]) -> None:
        self.samples: dict[int, list[int]] = {pid: [] for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-trace", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(RSS_TRACE_S):
            for pid, samples in self.samples.items():
                with contextlib.suppress(OSError, KeyError):
                    samples.append(memory_kib(pid)["VmRSS"])

    def __enter__(self) -> RssTrace:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settled_fds(pid: int, target: int | None = None) -> int:
    """The server's fd count once its side of the finished clients' connections is closed: as soon as it is at most
    ``target``, or (without one) once it has not changed for STABLE_S; whatever it is after SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    count, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        if target is not None and count <= target:
            return count
        if target is None and time.monotonic() - since >= STABLE_S:
            return count
        time.sleep(0.05)  # polling the count, not waiting for a guess
        now = fd_count(pid)
        if now != count:
            count, since = now, time.monotonic()
    return count


def validate_mix(server: Server) -> tuple[dict[str, Reply], str | None]:
    """One request of each kind on the plain server, checked: (the replies, what was wrong or None)."""
    replies: dict[str, Reply] = {}
    for kind in MIX:
        conn = server.connection(10.0)
        try:
            headers = {"Content-Type": kind.content_type} if kind.content_type else {}
            conn.request(kind.method, kind.path, body=kind.body or None, headers=headers)
            resp = conn.getresponse()
            reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        except (OSError, http.client.HTTPException) as exc:
            return replies, f"{kind.name}: request failed: {exc!r}"
        finally:
            conn.close()
        problem = f"HTTP {reply.status}, expected {kind.status}" if reply.status != kind.status else kind.check(reply)
        if problem:
            return replies, f"{kind.name} ({kind.method} {kind.path}): {problem}"
        replies[kind.name] = reply
    return replies, None


def write_mix(path: Path, replies: dict[str, Reply]) -> None:
    """The mix file wrk_soak.lua reads: each kind's request and the answer it must get (see the script)."""
    with open(path, "wb") as f:
        for kind in MIX:
            answer = replies[kind.name].body
            line = (
                f"{kind.name} {kind.method} {kind.path} {kind.content_type or '-'} {kind.status} "
                f"{len(kind.body)} {len(answer)}\n"
            )
            f.write(line.encode() + kind.body + b"\n" + answer + b"\n")


# ---------------------------------------------------------------------- the generators


@dataclass
class Generator:
    """One load generator of the mix: its command, and how its output becomes counts and errors."""

    name: str
    argv: list[str]
    parse: Callable[[str], tuple[dict[str, int], dict[str, int]]]  # stdout -> (counts by kind, errors by kind)


def _marked(stdout: str, marker: str) -> dict[str, Any]:
    line = next((line for line in stdout.splitlines() if line.startswith(marker)), None)
    if line is None:
        raise ValueError(f"no {marker.strip()} line")
    result: dict[str, Any] = json.loads(line[len(marker) :])
    return result


def parse_wrk_soak(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
    """wrk_soak.lua's counts: answers matched per kind; errors: wrk's, the unexpected answers, and any kind with more
    requests sent than answered beyond the connections' last requests (in flight when wrk stopped)."""
    result = _marked(stdout, "WRK_SOAK_JSON ")
    errors = {f"wrk {name}": n for name, n in result["errors"].items()}
    errors["unexpected answer" + (f" (first: {result['sample'][:80]!r})" if result["unexpected"] else "")] = result[
        "unexpected"
    ]
    lost = sum(max(0, result["sent"][kind] - result["got"][kind]) for kind in result["sent"])
    # In flight at the end: one request per connection, and one more that wrk asks of the script before it starts
    # (script_verify_request, on its first thread) and never sends.
    errors["unanswered beyond the last in flight"] = max(0, lost - WRK_CONNECTIONS - 1)
    return dict(result["got"]), errors


def parse_wrk(kind: str) -> Callable[[str], tuple[dict[str, int], dict[str, int]]]:
    """wrk with wrk_report.lua (wrk_close.lua): its requests as ``kind``; errors: all of wrk's, status >= 400 too."""

    def parse(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
        result = _marked(stdout, "WRK_JSON ")
        return {kind: result["requests"]}, {f"{kind} {name}": n for name, n in result["errors"].items()}

    return parse


def parse_h2load(kind: str) -> Callable[[str], tuple[dict[str, int], dict[str, int]]]:
    """h2load's succeeded requests as ``kind``; errors: errored (no answer), timeouts, answers >= 400."""

    def parse(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
        requests, status = H2LOAD_REQUESTS.search(stdout), H2LOAD_STATUS.search(stdout)
        if not requests or not status:
            raise ValueError("no h2load summary")
        errors = {
            f"{kind} errored": int(requests["errored"]),
            f"{kind} timeout": int(requests["timeout"]),
            f"{kind} status >= 400": int(status.group(3)) + int(status.group(4)),
        }
        return {kind: int(requests["succeeded"])}, errors

    return parse


def parse_wsload(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
    result = _marked(stdout, "WSLOAD_JSON ")
    first = f" (first: {result['first_error']})" if result.get("first_error") else ""
    errors = {f"ws echo {name}{first}": n for name, n in result["errors"].items()}
    return {"ws_echo": result["messages"] + result["late"]}, errors


def parse_soakload(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
    result = _marked(stdout, "SOAK_JSON ")
    first = f" (first: {result['first_error']})" if result.get("first_error") else ""
    return dict(result["counts"]), {f"{kind}{first}": n for kind, n in result["errors"].items()}


def generators(plain: Server, tls: Server | None, mix_file: Path, duration: int) -> list[Generator]:
    pin = ["taskset", "-c", str(LOAD_CPU)]
    wrk, h2load = shutil.which("wrk") or "wrk", shutil.which("h2load") or "h2load"
    timed = [f"-d{duration}s", f"--timeout={WRK_TIMEOUT_S}s"]
    mix = [*pin, wrk, "-t1", f"-c{WRK_CONNECTIONS}", *timed, "-s", str(WRK_SOAK), plain.base_url + "/", "--",
           str(mix_file)]  # fmt: skip
    # Niced, with one message in flight per connection: a closed loop in Python would take most of the load CPU.
    ws = [*pin, "nice", "-n", "10", sys.executable, "-m", "benchmarks.wsload", f"ws://{HOST}:{plain.port}/ws/echo",
          f"--duration={duration}", f"--connections={WS_CONNECTIONS}", "--window=1",
          f"--timeout={WRK_TIMEOUT_S}"]  # fmt: skip
    own = [*pin, sys.executable, "-m", "benchmarks.soakload", HOST, str(plain.port), f"--duration={duration}"]
    found = [
        Generator("wrk (mix)", mix, parse_wrk_soak),
        Generator("wsload", ws, parse_wsload),
        Generator("soakload", own, parse_soakload),
    ]
    if tls is not None:
        urls = [tls.base_url + path for path in TLS_PATHS]
        h2 = [*pin, h2load, f"-D{duration}", f"-N{WRK_TIMEOUT_S}", "-t1", f"-c{TLS_CONNECTIONS}"]
        close = [*pin, wrk, "-t1", f"-c{TLS_CONNECTIONS}", *timed, "-s", str(WRK_CLOSE), tls.base_url + "/"]
        found += [
            Generator("h2load --h1", [*h2, "--h1", "-m1", *urls], parse_h2load("https_keepalive")),
            Generator("h2load", [*h2, f"-m{H2_STREAMS}", *urls], parse_h2load("h2_stream")),
            Generator("wrk (TLS, Connection: close)", close, parse_wrk("https_handshake")),
        ]
    return found


def run_phase(gens: list[Generator], duration: int) -> tuple[dict[str, int], dict[str, int]]:
    """Run every generator at once for ``duration``: (requests by kind, errors by kind, only those that happened)."""
    procs = [
        subprocess.Popen(g.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BENCH_DIR.parent)
        for g in gens
    ]
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    deadline = time.monotonic() + duration + GRACE_S
    for gen, proc in zip(gens, procs, strict=True):
        try:
            stdout, stderr = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            errors[f"{gen.name}: still running {GRACE_S:.0f} s after the duration; killed"] = 1
            continue
        try:
            if proc.returncode != 0:
                raise ValueError(f"exited {proc.returncode}")
            got, failed = gen.parse(stdout)
        except (ValueError, KeyError) as exc:
            errors[f"{gen.name}: {exc}: {(stderr or stdout).strip()[-300:]}"] = 1
            continue
        for kind, n in got.items():
            counts[kind] = counts.get(kind, 0) + n
        errors.update({kind: n for kind, n in failed.items() if n})
    return counts, errors


# ---------------------------------------------------------------------------- the soak


def soak(duration: int, warmup: int, use_tls: bool) -> dict[str, Any]:
    """The whole soak; the servers are stopped when this returns or raises. A ``setup`` entry means it did not run."""
    os.sched_setaffinity(0, {LOAD_CPU})  # the driver stays off the server's CPU
    servers: list[Server] = []
    result: dict[str, Any] = {"duration_s": duration, "warmup_s": warmup, "tls": use_tls, "servers": {}}
    with tempfile.TemporaryDirectory(prefix="tiercel-soak-") as tmp:
        root = Path(tmp)
        try:
            plain = Server("tiercel", SPEC, root / "plain", None)
            tls = Server("tiercel", SPEC, root / "tls", None, make_tls_files(root / "certs")) if use_tls else None
            servers += [s for s in (plain, tls) if s is not None]
            for server in servers:
                server.start()
            for server in servers:
                if not server.wait_ready():
                    result["setup"] = f"{server.name}: {server.failure}"
                    return result
            replies, problem = validate_mix(plain)
            problem = problem or wsload.check(HOST, plain.port, "/ws/echo")
            if tls is not None:
                problem = problem or validate(tls, SCENARIOS["https"], None) or validate(tls, SCENARIOS["h2"], None)
            if problem:
                result["setup"] = f"validation: {problem}"
                return result
            write_mix(root / "mix", replies)
            for server in servers:
                result["servers"][server.name] = {"pid": server.pid, "fds_started": fd_count(server.pid)}
            log(f"soak: Tiercel on CPU {SERVER_CPU} ({', '.join(s.base_url for s in servers)}), load on CPU {LOAD_CPU}")
            log(f"soak: warm-up {warmup} s")
            gens = generators(plain, tls, root / "mix", warmup)
            warm_counts, warm_errors = run_phase(gens, warmup) if warmup else ({}, {})
            result["warmup"] = {"counts": warm_counts, "errors": warm_errors}
            for server in servers:
                if not server.alive():
                    result.update(counts={}, errors={f"{server.name} died in the warm-up: {server.failure}": 1})
                    return result
                entry = result["servers"][server.name]
                entry["fds_start"] = settled_fds(server.pid)
                entry["rss_start_kib"] = memory_kib(server.pid)["VmRSS"]
            log(f"soak: {duration} s")
            with RssTrace([server.pid for server in servers]) as trace:
                counts, errors = run_phase(generators(plain, tls, root / "mix", duration), duration)
            result.update(counts=counts, errors=errors)
            for server in servers:
                entry = result["servers"][server.name]
                if not server.alive():
                    errors[f"{server.name} {server.failure}"] = 1
                    continue
                entry["fds_end"] = settled_fds(server.pid, entry["fds_start"])
                mem, samples = memory_kib(server.pid), trace.samples[server.pid]
                entry.update(rss_end_kib=mem["VmRSS"], rss_peak_kib=mem["VmHWM"], rss_trace_kib=samples)
                entry["rss_mid_kib"] = samples[len(samples) // 2] if samples else entry["rss_start_kib"]
        finally:
            stop_all(servers)
    return result


def failed(result: dict[str, Any]) -> bool:
    """Errors (in the warm-up too), or an fd count that grew."""
    if result.get("errors") or result.get("warmup", {}).get("errors"):
        return True
    return any(s.get("fds_end", 0) > s.get("fds_start", 0) for s in result["servers"].values())


def describe(result: dict[str, Any]) -> str:
    """The soak's report as text."""
    if "setup" in result:
        return f"soak: setup failed: {result['setup']}"
    counts, errors = result["counts"], result["errors"]
    total = sum(counts.values())
    lines = [
        f"soak: {result['duration_s']} s after a {result['warmup_s']} s warm-up: {total:,} requests and messages "
        f"({total / result['duration_s']:,.0f}/s), {sum(errors.values()):,} errors",
        "",
        f"{'kind':<18} {'count':>12}",
        *(f"{kind:<18} {n:>12,}" for kind, n in counts.items()),
        "",
    ]
    for phase, errs in (("warm-up", result.get("warmup", {}).get("errors", {})), ("soak", errors)):
        lines += [f"{phase} error: {what} = {n}" for what, n in errs.items()]
    lines.append(
        f"{'server':<16} {'RSS start':>10} {'mid-run':>10} {'end':>10} {'peak':>10} {'growth':>9} {'2nd half':>9}"
        "   fds: started  start  end"
    )
    for name, s in result["servers"].items():
        if "rss_end_kib" not in s:
            lines.append(f"{name:<16} (not measured)")
            continue
        growth, second_half = s["rss_end_kib"] - s["rss_start_kib"], s["rss_end_kib"] - s["rss_mid_kib"]
        mib = [f"{s[key] / 1024:>6.1f} MiB" for key in ("rss_start_kib", "rss_mid_kib", "rss_end_kib", "rss_peak_kib")]
        lines.append(
            f"{name:<16} {mib[0]:>10} {mib[1]:>10} {mib[2]:>10} {mib[3]:>10} {growth:>+6,} kB {second_half:>+6,} kB"
            f"   {s['fds_started']:>12} {s['fds_start']:>6} "
            f"{s['fds_end']:>4}" + ("  GREW" if s["fds_end"] > s["fds_start"] else "")
        )
    lines.append("soak: " + ("FAILED" if failed(result) else "ok: no errors, fds back to their start count"))
    return "\n".join(lines)
