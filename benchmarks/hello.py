"""Hello-world benchmark: Tiercel vs uvicorn raw ASGI, req/s and server CPU per request.

Run from the repository root:

    python -m benchmarks.hello --quick
    python -m benchmarks.hello --servers tiercel,uvicorn-raw --json results.json

Every server is pinned to CPU 0 and wrk to CPU 1. All servers stay up for the
whole benchmark; they are loaded one at a time, in alternating rounds (A1, B1,
A2, B2, ...), and the medians over the successful rounds are reported. See
benchmarks/README.md for the method and what the numbers mean.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = REPO_ROOT / "benchmarks" / "apps"
WRK_SCRIPT = REPO_ROOT / "benchmarks" / "wrk_report.lua"

HOST = "127.0.0.1"
SERVER_CPU = "0"
WRK_CPU = "1"
BASELINE = "uvicorn-raw"
EXPECTED_BODY = b"Hello, World!"

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
WARMUP_S = 2
# wrk is given this much on top of its -d before it is considered hung.
WRK_GRACE_S = 30.0

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Kind:
    """How to start one kind of server and which path to load."""

    path: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _uvicorn(app: str, port: int) -> list[str]:
    # `python -m uvicorn` with one worker serves in the very process we start.
    return [
        sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--log-level", "warning", "--workers", "1",
    ]  # fmt: skip


def _granian(interface: str, app: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", interface, "--host", HOST, "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--log-level", "warning", "--no-ws", app,
    ]  # fmt: skip


def server_kinds(port: int) -> dict[str, Kind]:
    """The servers this benchmark knows, listening on ``port``. Peers other than uvicorn come from
    benchmarks/requirements.txt."""
    tiercel_env = {"TIERCEL_HOST": HOST, "TIERCEL_PORT": str(port)}
    tiercel_argv = [sys.executable, str(APPS_DIR / "tiercel_hello.py")]
    bench_env = {"BENCH_HOST": HOST, "BENCH_PORT": str(port)}
    robyn_argv = [sys.executable, str(APPS_DIR / "robyn_hello.py")]
    return {
        "tiercel": Kind("/", tiercel_argv, tiercel_env),
        "tiercel-async": Kind("/async", tiercel_argv, tiercel_env),
        "tiercel-const": Kind("/const", tiercel_argv, tiercel_env),
        "uvicorn-raw": Kind("/", _uvicorn("benchmarks.apps.uvicorn_raw:app", port)),
        "fastapi": Kind("/", _uvicorn("benchmarks.apps.fastapi_hello:app", port)),
        "granian-rsgi": Kind("/", _granian("rsgi", "benchmarks.apps.granian_rsgi:app", port)),
        "granian-asgi": Kind("/", _granian("asgi", "benchmarks.apps.uvicorn_raw:app", port)),
        "robyn": Kind("/", robyn_argv, bench_env),
        "robyn-const": Kind("/const", robyn_argv, bench_env),
        "socketify": Kind("/", [sys.executable, str(APPS_DIR / "socketify_hello.py")], bench_env),
    }


KINDS = tuple(server_kinds(0))


def free_port() -> int:
    """A port the kernel just handed out for HOST (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- CPU


def _proc_table() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Scan /proc once: (children by parent pid, CPU ticks by pid).

    The ticks are utime+stime+cutime+cstime; a process's own counters already
    include all of its threads, and cutime/cstime cover children it has reaped.
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


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user+system) consumed so far by ``root`` and all its descendants."""
    children, ticks = _proc_table()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += ticks.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total / CLOCK_TICKS


# ------------------------------------------------------------------------ servers


class Server:
    """One server process pinned to SERVER_CPU, in its own process group."""

    def __init__(self, label: str, kind: str, log_dir: Path) -> None:
        self.label = label
        self.kind = kind
        self.port = free_port()
        spec = server_kinds(self.port)[kind]
        self.path = spec.path
        self.argv = ["taskset", "-c", SERVER_CPU, *spec.argv]
        self.env = {**os.environ, **spec.env}
        self.log_path = log_dir / f"{label.replace('#', '-')}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            # taskset execs the server, so proc.pid is the server itself. A new
            # session keeps the driver's Ctrl-C away from it: we stop it ourselves.
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.label} exited with code {self.proc.returncode}; last lines of its log:\n{self.log_tail()}"
            )

    def wait_ready(self) -> None:
        """Poll a TCP connect + GET until it answers 200 with the hello body."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no attempt yet"
        while True:
            self.check_alive()
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2.0)
            try:
                conn.connect()
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 200 and body == EXPECTED_BODY:
                    return
                if resp.status == 200:
                    raise RuntimeError(f"{self.label} answered {self.url} with {body[:80]!r}")
                last = f"HTTP {resp.status}"
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.label} not ready on {self.url} after "
                    f"{READY_TIMEOUT_S:.0f} s (last: {last}); "
                    f"last lines of its log:\n{self.log_tail()}"
                )
            time.sleep(0.05)  # poll interval, not a readiness guess

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """SIGINT, wait up to STOP_TIMEOUT_S, then SIGKILL the whole process group."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # session leader, so also the process group id
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(
                    f"warning: {self.label} ignored SIGINT for {STOP_TIMEOUT_S:.0f} s; killing its process group",
                    file=sys.stderr,
                )
                _kill_group(pgid)
                self.proc.wait()
                return
        # Anything it forked and left behind (e.g. worker processes) goes too.
        if _group_exists(pgid):
            print(
                f"warning: {self.label} left processes behind; killing them",
                file=sys.stderr,
            )
            _kill_group(pgid)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


# ---------------------------------------------------------------------------- wrk


def run_wrk(server: Server, duration: int, connections: int, threads: int) -> dict:
    """Load ``server`` with wrk pinned to WRK_CPU; return one run's record."""
    wrk = shutil.which("wrk") or "wrk"
    argv = [
        "taskset",
        "-c",
        WRK_CPU,
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "-s",
        str(WRK_SCRIPT),
        server.url,
    ]
    cpu_before = server.cpu_seconds()
    proc = subprocess.run(
        argv,
        check=False,
        capture_output=True,
        text=True,
        timeout=duration + WRK_GRACE_S,
    )
    cpu_after = server.cpu_seconds()

    record: dict = {
        "server": server.label,
        "ok": False,
        "cpu_s": cpu_after - cpu_before,
    }
    report = next(
        (line[len("WRK_JSON ") :] for line in proc.stdout.splitlines() if line.startswith("WRK_JSON ")),
        None,
    )
    if proc.returncode != 0 or report is None:
        output = (proc.stderr or proc.stdout).strip()[-300:]
        record["failure"] = f"wrk exited {proc.returncode}: {output}"
        return record

    wrk_result = json.loads(report)
    requests = wrk_result["requests"]
    duration_s = wrk_result["duration_us"] / 1e6
    errors = wrk_result["errors"]
    record.update(
        requests=requests,
        duration_s=duration_s,
        rps=requests / duration_s if duration_s else 0.0,
        cpu_us_per_req=record["cpu_s"] / requests * 1e6 if requests else None,
        server_cpu_util=record["cpu_s"] / duration_s if duration_s else None,
        latency_us=wrk_result["latency_us"],
        errors=errors,
    )
    # wrk's "status" error counts responses with status >= 400 ("Non-2xx or 3xx").
    bad = {name: count for name, count in errors.items() if count}
    if requests == 0:
        record["failure"] = "no requests completed"
    elif bad:
        record["failure"] = "errors: " + ", ".join(f"{k}={v}" for k, v in bad.items())
    else:
        record["ok"] = True
    return record


def describe(record: dict) -> str:
    if not record["ok"]:
        return f"FAILED ({record['failure']})"
    lat = record["latency_us"]
    return (
        f"{record['rps']:>9,.0f} req/s  {record['cpu_us_per_req']:6.2f} µs CPU/req  "
        f"server CPU {record['server_cpu_util']:4.0%}  "
        f"p50 {lat['p50'] / 1000:.2f} ms  p99 {lat['p99'] / 1000:.2f} ms"
    )


# ------------------------------------------------------------------------ summary


def summarize(runs: list[dict]) -> dict | None:
    """Medians over the successful runs (failed runs are never averaged in)."""
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return None
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
    }


def print_table(medians: dict[str, dict | None], runs: int) -> dict[str, dict]:
    """Print the medians table and the ratios against BASELINE; return the ratios."""
    print()
    header = (
        f"{'server':<16} {'req/s':>10} {'CPU µs/req':>11} {'(min-max)':>15} "
        f"{'srv CPU':>8} {'p50 ms':>7} {'p99 ms':>7} {'ok runs':>8}"
    )
    print(header)
    print("-" * len(header))
    for label, m in medians.items():
        if m is None:
            print(f"{label:<16} {'all runs failed':>10}  {'':>54} {0:>4}/{runs}")
            continue
        spread = f"{m['cpu_us_per_req_min']:.2f}-{m['cpu_us_per_req_max']:.2f}"
        print(
            f"{label:<16} {m['rps']:>10,.0f} {m['cpu_us_per_req']:>11.2f} {spread:>15} "
            f"{m['server_cpu_util']:>8.0%} "
            f"{m['p50_us'] / 1000:>7.2f} {m['p99_us'] / 1000:>7.2f} "
            f"{m['ok_runs']:>4}/{m['runs']}"
        )

    ratios: dict[str, dict] = {}
    base = medians.get(BASELINE)
    print()
    if base is None:
        print(f"(no ratios: {BASELINE} not measured or all its runs failed)")
        return ratios
    for label, m in medians.items():
        if label == BASELINE or m is None:
            continue
        cpu_ratio = m["cpu_us_per_req"] / base["cpu_us_per_req"]
        rps_ratio = m["rps"] / base["rps"]
        ratios[label] = {"cpu_per_request": cpu_ratio, "requests_per_second": rps_ratio}
        print(f"{label} / {BASELINE} CPU per request: {cpu_ratio:.2f}x   (req/s: {rps_ratio:.2f}x)")
    return ratios


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hello",
        description="Hello-world benchmark: requests/s and server CPU µs per request.",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per server (3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--quick", action="store_true", help="short runs: --duration 3 --runs 3")
    parser.add_argument(
        "--servers",
        default="tiercel,tiercel-async,uvicorn-raw",
        help=f"comma list from {', '.join(KINDS)}; repeat a name for an A/A check",
    )
    parser.add_argument("--json", metavar="OUT", type=Path, help="write raw results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.runs = 3, 3
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = sorted(set(args.servers) - set(KINDS))
    if unknown or not args.servers:
        parser.error(f"unknown or missing servers {unknown}; choose from {', '.join(KINDS)}")
    if args.duration < 1 or args.runs < 1 or args.threads < 1 or args.connections < args.threads:
        parser.error("need --duration >= 1, --runs >= 1, --threads >= 1 and --connections >= --threads")
    return args


def labels_for(kinds: list[str]) -> list[str]:
    """Unique labels: a repeated kind becomes 'kind#2', 'kind#3', ..."""
    seen: dict[str, int] = {}
    labels = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        labels.append(kind if seen[kind] == 1 else f"{kind}#{seen[kind]}")
    return labels


def environment() -> dict:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    wrk = subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True, timeout=10)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else None,
        "packages": {d: version(d) for d in ("tiercel", "uvicorn", "uvloop", "httptools")},
    }


def measure(
    args: argparse.Namespace, servers: list[Server], log_dir: Path
) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Start the servers (appending each to ``servers`` so the caller can stop
    them whatever happens), warm each up, then run the alternating rounds.

    Returns (warm-up record by label, measured run records by label).
    """
    log = sys.stderr
    for label, kind in zip(labels_for(args.servers), args.servers, strict=True):
        server = Server(label, kind, log_dir)
        servers.append(server)
        server.start()
    for server in servers:
        server.wait_ready()
        print(f"{server.label}: ready on {server.url}", file=log)

    warmups: dict[str, dict] = {}
    for server in servers:
        warmups[server.label] = record = run_wrk(server, WARMUP_S, args.connections, args.threads)
        print(f"{server.label}: warm-up {describe(record)}", file=log)
        server.check_alive()

    runs: dict[str, list[dict]] = {server.label: [] for server in servers}
    for round_no in range(1, args.runs + 1):
        for server in servers:
            record = run_wrk(server, args.duration, args.connections, args.threads)
            record["round"] = round_no
            runs[server.label].append(record)
            print(
                f"[{round_no}/{args.runs}] {server.label:<16}",
                describe(record),
                file=log,
            )
            server.check_alive()
    return warmups, runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} not found on PATH")
    if not {int(SERVER_CPU), int(WRK_CPU)} <= os.sched_getaffinity(0):
        sys.exit(f"error: need CPUs {SERVER_CPU} and {WRK_CPU}")
    # SIGTERM unwinds like Ctrl-C, so the finally below still stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    env = environment()
    print(
        f"{args.runs} runs x {args.duration} s per server, wrk -t{args.threads} "
        f"-c{args.connections}; servers on CPU {SERVER_CPU}, wrk on CPU {WRK_CPU}; "
        f"load average {env['loadavg_at_start'][0]:.2f}",
        file=sys.stderr,
    )

    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="tiercel-bench-") as log_dir:
        try:
            warmups, runs = measure(args, servers, Path(log_dir))
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                server.stop()

    medians = {s.label: summarize(runs[s.label]) for s in servers}
    ratios = print_table(medians, args.runs)

    if args.json:
        result = {
            "benchmark": "hello",
            "config": {
                "duration_s": args.duration,
                "runs": args.runs,
                "connections": args.connections,
                "threads": args.threads,
                "warmup_s": WARMUP_S,
                "server_cpu": SERVER_CPU,
                "wrk_cpu": WRK_CPU,
            },
            "environment": env,
            "servers": {
                s.label: {
                    "kind": s.kind,
                    "url": s.url,
                    "command": s.argv,
                    "warmup": warmups[s.label],
                    "runs": runs[s.label],
                    "median": medians[s.label],
                }
                for s in servers
            },
            "ratios_vs": BASELINE,
            "ratios": ratios,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nraw results written to {args.json}", file=sys.stderr)
    return 0 if all(m is not None for m in medians.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
