"""One measured run: wrk (or, for WebSockets, benchmarks/wsload.py) pinned to the load CPU, the server's CPU time
and peak RSS read from /proc.

The server's cost is counted over its whole process tree (workers it forked count too); nothing else is:
the load generator, PostgreSQL and this driver all run on the other CPU.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WRK_REPORT = BENCH_DIR / "wrk_report.lua"

SERVER_CPU = 0  # the server under test (and the idle ones)
LOAD_CPU = 1  # wrk, PostgreSQL and this driver

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
RSS_SAMPLE_S = 0.1
# wrk (or wsload) is given this much on top of its duration before it is considered hung.
WRK_GRACE_S = 30.0
# Per-request timeout inside wrk (its default, 2 s, is short for 20-query requests on a slow host).
WRK_TIMEOUT_S = 10

Record = dict[str, Any]


@dataclass(frozen=True)
class Load:
    """What wrk sends: the URL and the Lua script (which also prints the summary)."""

    url: str
    script: Path = WRK_REPORT
    headers: dict[str, str] = field(default_factory=dict)  # h2load: sent with every request (wrk: in the script)
    h1: bool = True  # h2load: HTTP/1.1 (`--h1`) rather than HTTP/2
    streams: int = 1  # h2load -m: requests in flight per connection


# --------------------------------------------------------------------------- /proc


def _proc_table() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Scan /proc once: (children by parent pid, CPU ticks by pid).

    The ticks are utime+stime+cutime+cstime; a process's own counters already include all of its threads,
    and cutime/cstime cover children it has reaped.
    """
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the process exited while we were scanning
            continue
        # comm (field 2) may hold spaces and parentheses: split after the last ')'.
        rest = stat[stat.rindex(b")") + 2 :].split()
        pid, ppid = int(entry), int(rest[1])
        children.setdefault(ppid, []).append(pid)
        ticks[pid] = sum(int(x) for x in rest[11:15])  # fields 14-17 of proc(5)
    return children, ticks


def process_tree(root: int) -> tuple[list[int], float]:
    """(pids of ``root`` and all its descendants, CPU seconds (user+system) they have used so far)."""
    children, ticks = _proc_table()
    pids, total, stack = [], 0, [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        total += ticks.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return pids, total / CLOCK_TICKS


def _rss_kib(pid: int) -> int:
    """Resident set size of one process (field 2 of /proc/<pid>/statm, in pages), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_KIB
    except (OSError, IndexError):
        return 0


def tree_rss_kib(root: int) -> int:
    """The summed resident set of ``root`` and all its descendants, in KiB."""
    return sum(_rss_kib(pid) for pid in process_tree(root)[0])


class PeakRss:
    """Samples the summed RSS of a fixed set of pids every RSS_SAMPLE_S in a thread; ``peak_kib`` is the max."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(pid) for pid in self.pids))
            if self._stop.wait(RSS_SAMPLE_S):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------- wrk


def wrk_argv(load: Load, duration: int, connections: int, threads: int) -> list[str]:
    wrk = shutil.which("wrk") or "wrk"
    return [
        "taskset", "-c", str(LOAD_CPU), wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s",
        f"--timeout={WRK_TIMEOUT_S}s", "-s", str(load.script), load.url,
    ]  # fmt: skip


def _load(
    server_pid: int, tool: str, argv: list[str], duration: int
) -> tuple[subprocess.CompletedProcess[str] | None, Record]:
    """Run the load generator ``tool`` (``argv``) against the server rooted at ``server_pid``: (its process, or None
    when it hung and was killed; a record with the server's CPU seconds and peak RSS over the run)."""
    pids, cpu_before = process_tree(server_pid)
    with PeakRss(pids) as rss:
        try:
            proc = subprocess.run(
                argv, check=False, capture_output=True, text=True, timeout=duration + WRK_GRACE_S, cwd=BENCH_DIR.parent
            )
        except subprocess.TimeoutExpired:
            proc = None
    cpu_s = process_tree(server_pid)[1] - cpu_before
    record: Record = {"ok": False, "cpu_s": cpu_s, "peak_rss_kib": rss.peak_kib}
    if proc is None:
        record["failure"] = f"{tool} still running {WRK_GRACE_S:.0f} s after its duration; killed"
    return proc, record


def _report(tool: str, proc: subprocess.CompletedProcess[str], marker: str, record: Record) -> dict[str, Any] | None:
    """The JSON ``tool`` printed after ``marker``, or None (and ``record["failure"]``) when it did not."""
    report = next((line[len(marker) :] for line in proc.stdout.splitlines() if line.startswith(marker)), None)
    if proc.returncode != 0 or report is None:
        output = (proc.stderr or proc.stdout).strip()[-300:]
        record["failure"] = f"{tool} exited {proc.returncode}: {output}"
        return None
    result: dict[str, Any] = json.loads(report)
    return result


def _complete(record: Record, done: int, served: int, duration_s: float, latency: Any, errors: dict[str, int]) -> None:
    """Fill in a run's figures: ``done`` requests (or messages) within ``duration_s``; the server's CPU is divided by
    ``served``, everything it answered during the run (for WebSockets, also the echoes after the end)."""
    cpu_s = record["cpu_s"]
    record.update(
        requests=done,
        duration_s=duration_s,
        rps=done / duration_s if duration_s else 0.0,
        cpu_us_per_req=cpu_s / served * 1e6 if served else None,
        server_cpu_util=cpu_s / duration_s if duration_s else None,
        latency_us=latency,
        errors=errors,
    )
    bad = {name: count for name, count in errors.items() if count}
    if done == 0:
        record["failure"] = "no requests completed"
    elif bad:
        record["failure"] = "errors: " + ", ".join(f"{k}={v}" for k, v in bad.items())
    else:
        record["ok"] = True


def run_wrk(server_pid: int, load: Load, duration: int, connections: int, threads: int) -> Record:
    """Load the server whose process tree is rooted at ``server_pid``; return one run's record."""
    proc, record = _load(server_pid, "wrk", wrk_argv(load, duration, connections, threads), duration)
    result = _report("wrk", proc, "WRK_JSON ", record) if proc is not None else None
    if result is None:
        return record
    # wrk's "status" error counts responses with status >= 400 (its "Non-2xx or 3xx responses").
    requests = result["requests"]
    _complete(record, requests, requests, result["duration_us"] / 1e6, result["latency_us"], result["errors"])
    return record


# ------------------------------------------------------------------------- h2load

# h2load's summary lines (nghttp2 1.52): the request counts, the status classes, the run's duration.
H2LOAD_REQUESTS = re.compile(
    r"requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, (?P<succeeded>\d+) succeeded, "
    r"(?P<failed>\d+) failed, (?P<errored>\d+) errored, (?P<timeout>\d+) timeout"
)
H2LOAD_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
H2LOAD_FINISHED = re.compile(r"finished in ([\d.]+)(us|ms|s),")
H2LOAD_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
# One TLS 1.3 suite for every server: without it each would pick its own (a server that prefers its own order takes
# OpenSSL's first, AES-256; the others follow h2load's first, AES-128). AES-128-GCM is what browsers prefer.
H2LOAD_TLS13_CIPHERS = "TLS_AES_128_GCM_SHA256"


def h2load_argv(load: Load, duration: int, connections: int, threads: int, log_file: Path) -> list[str]:
    h2load = shutil.which("h2load") or "h2load"
    headers = [arg for name, value in load.headers.items() for arg in ("-H", f"{name}: {value}")]
    return [
        "taskset", "-c", str(LOAD_CPU), h2load, *(["--h1"] if load.h1 else []), f"-t{threads}", f"-c{connections}",
        f"-m{load.streams}", f"-D{duration}", f"-N{WRK_TIMEOUT_S}", f"--tls13-ciphers={H2LOAD_TLS13_CIPHERS}",
        f"--log-file={log_file}", *headers, load.url,
    ]  # fmt: skip


def latency_from_log(log_file: Path) -> dict[str, int]:
    """p50/p90/p99/max of the request times (µs: the third of the tab-separated columns h2load writes per request).

    A log of the lines "1\t200\t10", "2\t200\t30" -> {"p50": 30, "p90": 30, "p99": 30, "max": 30}.
    """
    with open(log_file, "rb") as f:
        times = sorted(int(fields[2]) for fields in (line.split(b"\t") for line in f) if len(fields) >= 3)
    if not times:
        return {"p50": 0, "p90": 0, "p99": 0, "max": 0}
    at = {q: times[min(len(times) - 1, int(q * len(times)))] for q in (0.5, 0.9, 0.99)}
    return {"p50": at[0.5], "p90": at[0.9], "p99": at[0.99], "max": times[-1]}


def run_h2load(server_pid: int, load: Load, duration: int, connections: int, threads: int, log_file: Path) -> Record:
    """One h2load run (HTTP/1.1 with ``load.h1``, else HTTP/2) against the server rooted at ``server_pid``; its
    per-request log goes to ``log_file`` (for the latency percentiles, which h2load's summary lacks)."""
    proc, record = _load(server_pid, "h2load", h2load_argv(load, duration, connections, threads, log_file), duration)
    if proc is None:
        return record
    requests, status, finished = (rx.search(proc.stdout) for rx in (H2LOAD_REQUESTS, H2LOAD_STATUS, H2LOAD_FINISHED))
    if proc.returncode != 0 or not requests or not status or not finished:
        record["failure"] = f"h2load exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"
        return record
    counts = {name: int(value) for name, value in requests.groupdict().items()}
    # h2load's `failed` = `errored` (no response: the connection failed or timed out, `timeout` included) + responses
    # >= 400 (wrk's "status"). Requests still in flight at the end are `started` but not `done`: not errors.
    errors = {
        "errored": counts["errored"],
        "timeout": counts["timeout"],
        "status": int(status.group(3)) + int(status.group(4)),
    }
    duration_s = float(finished.group(1)) * H2LOAD_UNITS[finished.group(2)]
    _complete(record, counts["succeeded"], counts["done"], duration_s, latency_from_log(log_file), errors)
    return record


# ------------------------------------------------------------------ WebSocket load


def wsload_argv(url: str, duration: int, connections: int, window: int) -> list[str]:
    return [
        "taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "benchmarks.wsload", url, f"--duration={duration}",
        f"--connections={connections}", f"--window={window}", f"--timeout={WRK_TIMEOUT_S}",
    ]  # fmt: skip


def run_wsload(server_pid: int, url: str, duration: int, connections: int, window: int) -> Record:
    """One WebSocket echo run (benchmarks/wsload.py, the interpreter running this driver) against ``url``."""
    proc, record = _load(server_pid, "wsload", wsload_argv(url, duration, connections, window), duration)
    result = _report("wsload", proc, "WSLOAD_JSON ", record) if proc is not None else None
    if result is None:
        return record
    record["ws"] = {key: result[key] for key in ("late", "close_unanswered", "window", "payload_bytes")}
    messages = result["messages"]
    served = messages + result["late"]
    _complete(record, messages, served, result["duration_us"] / 1e6, result["latency_us"], result["errors"])
    if result["first_error"] and not record["ok"]:
        record["failure"] += f" (first: {result['first_error']})"
    return record


def describe(record: Record, unit: str = "req") -> str:
    if not record["ok"]:
        return f"FAILED ({record['failure']})"
    lat = record["latency_us"]
    return (
        f"{record['rps']:>9,.0f} {unit}/s  {record['cpu_us_per_req']:7.2f} µs CPU/{unit}  "
        f"server CPU {record['server_cpu_util']:4.0%}  p50 {lat['p50'] / 1000:.2f} ms  "
        f"p99 {lat['p99'] / 1000:.2f} ms  RSS {record['peak_rss_kib'] / 1024:.1f} MiB"
    )


def summarize(runs: list[Record]) -> Record | None:
    """Medians over the successful runs (failed runs are never averaged in); None when none succeeded."""
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return None
    if "bytes_per_conn" in ok[0]:  # the memory scenario (benchmarks/memory.py)
        per_conn = [r["bytes_per_conn"] for r in ok]
        return {
            "ok_runs": len(ok),
            "runs": len(runs),
            "connections": ok[0]["connections"],
            "bytes_per_conn": statistics.median(per_conn),
            "bytes_per_conn_min": min(per_conn),
            "bytes_per_conn_max": max(per_conn),
            "rss_before_mib": statistics.median(r["rss_before_kib"] for r in ok) / 1024,
            "rss_held_mib": statistics.median(r["rss_held_kib"] for r in ok) / 1024,
        }
    cpu = [r["cpu_us_per_req"] for r in ok]
    return {
        "ok_runs": len(ok),
        "runs": len(runs),
        "rps": statistics.median(r["rps"] for r in ok),
        "cpu_us_per_req": statistics.median(cpu),
        "cpu_us_per_req_min": min(cpu),
        "cpu_us_per_req_max": max(cpu),
        "server_cpu_util": statistics.median(r["server_cpu_util"] for r in ok),
        "p50_us": statistics.median(r["latency_us"]["p50"] for r in ok),
        "p99_us": statistics.median(r["latency_us"]["p99"] for r in ok),
        "peak_rss_mib": statistics.median(r["peak_rss_kib"] for r in ok) / 1024,
    }
