"""Tiercel vs its peers: requests/s, server CPU µs per request, latency and memory, per scenario.

Run from the repository root:

    python -m benchmarks run                      # every server and scenario (about 30 min)
    python -m benchmarks run --quick              # a reduced set in under 3 min, for iterating
    python -m benchmarks run --servers tiercel,robyn --scenarios plaintext,json --runs 5 --duration 10
    python -m benchmarks run --quick --scenarios ws       # the WebSocket echo only (tiercel, robyn, granian-rsgi)
    python -m benchmarks run --quick --scenarios https,https_handshake --servers tiercel,granian-rsgi,nginx
    python -m benchmarks run --scenarios memory   # RSS per idle keep-alive connection (10,000 held), every server
    python -m benchmarks report benchmarks/results/latest.json   # Markdown + PNG again from a results JSON
    python -m benchmarks soak --duration 60       # Tiercel under the mixed load: errors, RSS and fd growth

See benchmarks/README.md for the method and what the numbers mean.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks import memory, report, soak
from benchmarks.measure import BENCH_DIR, LOAD_CPU, SERVER_CPU
from benchmarks.runner import Settings, run
from benchmarks.scenarios import SCENARIOS
from benchmarks.servers import BASE_PYTHON, SERVERS
from benchmarks.wsload import WINDOW

RESULTS_DIR = BENCH_DIR / "results"
QUICK_SERVERS = ("tiercel", "robyn", "granian-rsgi", "nginx")
QUICK_SCENARIOS = ("plaintext", "json", "db", "const")
# (warm-up s, run s) for full and quick mode; both do 3 runs.
FULL_TIMES, QUICK_TIMES, RUNS = (2, 5), (1, 2), 3
SOAK_S, SOAK_WARMUP_S = 60, 5


def _names(text: str, known: Mapping[str, object], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        parser.error(f"unknown or missing {what} {unknown}; choose from {', '.join(known)}")
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run_cmd = commands.add_parser("run", help="run the benchmark and write JSON + Markdown + PNG")
    quick = f"{', '.join(QUICK_SERVERS)} on {', '.join(QUICK_SCENARIOS)}; {QUICK_TIMES[0]} s warm-up, {RUNS} x "
    run_cmd.add_argument("--quick", action="store_true", help=f"{quick}{QUICK_TIMES[1]} s runs")
    run_cmd.add_argument("--servers", help=f"comma list (all): {', '.join(SERVERS)}; repeat one for an A/A check")
    run_cmd.add_argument("--scenarios", help=f"comma list (all): {', '.join(SCENARIOS)}")
    run_cmd.add_argument("--runs", type=int, default=RUNS, help=f"measured runs per server and scenario ({RUNS})")
    run_cmd.add_argument("--duration", type=int, help=f"seconds per run ({FULL_TIMES[1]}, quick {QUICK_TIMES[1]})")
    run_cmd.add_argument("--warmup", type=int, help=f"warm-up seconds ({FULL_TIMES[0]}, quick {QUICK_TIMES[0]})")
    run_cmd.add_argument("--connections", type=int, default=64, help="wrk (and h2load) connections (64)")
    run_cmd.add_argument("--threads", type=int, default=1, help="wrk (and h2load) threads (1)")
    run_cmd.add_argument(
        "--ws-window", type=int, default=WINDOW, help=f"ws: messages in flight per WebSocket connection ({WINDOW})"
    )
    run_cmd.add_argument(
        "--memory-connections",
        type=int,
        default=memory.CONNECTIONS,
        help=f"memory: idle keep-alive connections held ({memory.CONNECTIONS:,})",
    )
    run_cmd.add_argument("--out", type=Path, default=RESULTS_DIR, help="output directory (benchmarks/results)")

    report_cmd = commands.add_parser("report", help="write Markdown + PNG again from a results JSON")
    report_cmd.add_argument("results", type=Path, help="a results JSON written by `run`")
    report_cmd.add_argument("--out", type=Path, help="output directory (default: the JSON's)")

    soak_cmd = commands.add_parser("soak", help="Tiercel under a mixed load for a while: errors, RSS and fd growth")
    soak_cmd.add_argument("--duration", type=int, default=SOAK_S, help=f"seconds of the mixed load ({SOAK_S})")
    soak_cmd.add_argument("--warmup", type=int, default=SOAK_WARMUP_S, help=f"warm-up seconds ({SOAK_WARMUP_S})")
    soak_cmd.add_argument("--no-tls", dest="tls", action="store_false", help="leave out the TLS and HTTP/2 parts")
    soak_cmd.add_argument("--json", type=Path, help="also write the result as JSON to this file")

    args = parser.parse_args(argv)
    if args.command == "soak" and (args.duration < 1 or args.warmup < 0):
        parser.error("need --duration >= 1 and --warmup >= 0")
    if args.command == "run":
        warmup, duration = QUICK_TIMES if args.quick else FULL_TIMES
        args.warmup = warmup if args.warmup is None else args.warmup
        args.duration = duration if args.duration is None else args.duration
        everyone = [name for name, spec in SERVERS.items() if spec.in_default]
        default_servers, default_scenarios = (QUICK_SERVERS, QUICK_SCENARIOS) if args.quick else (everyone, SCENARIOS)
        args.servers = _names(args.servers or ",".join(default_servers), SERVERS, "servers", parser)
        if "tiercel-base" in args.servers and not os.environ.get(BASE_PYTHON):
            parser.error(
                f"tiercel-base runs Tiercel with the interpreter in ${BASE_PYTHON}: set it to the python of a "
                "venv where the base build is installed (with asyncpg, jinja2, pydantic and msgspec)"
            )
        args.scenarios = _names(args.scenarios or ",".join(default_scenarios), SCENARIOS, "scenarios", parser)
        if args.duration < 1 or args.warmup < 0 or args.runs < 1 or args.threads < 1 or args.connections < args.threads:
            parser.error("need --duration >= 1, --warmup >= 0, --runs >= 1, --threads >= 1, --connections >= --threads")
        if args.ws_window < 1 or args.memory_connections < 1:
            parser.error("need --ws-window >= 1 and --memory-connections >= 1")
    return args


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    tools = ["wrk", "taskset"] + (["h2load"] if any(SCENARIOS[name].h2load for name in args.scenarios) else [])
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} not found on PATH (run benchmarks/setup.sh)")
    if not {SERVER_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"error: need CPUs {SERVER_CPU} and {LOAD_CPU}")
    # SIGTERM unwinds like Ctrl-C, so the servers and the database are still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    settings = Settings(
        servers=args.servers,
        scenarios=args.scenarios,
        warmup_s=args.warmup,
        duration_s=args.duration,
        runs=args.runs,
        connections=args.connections,
        threads=args.threads,
        ws_window=args.ws_window,
        memory_connections=args.memory_connections,
    )
    try:
        results = run(settings, "python -m benchmarks " + shlex.join(argv))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:  # the setup failed (PostgreSQL, psql)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    args.out.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    started = datetime.datetime.fromisoformat(results["environment"]["date"])
    stem = f"{started:%Y-%m-%d-%H%M}-{mode}-py{sys.version_info.major}{sys.version_info.minor}"
    json_path = args.out / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path, png_path = report.write(results, args.out, stem)
    shutil.copyfile(json_path, args.out / "latest.json")
    report.write(results, args.out, "latest")
    print(report.markdown(results, png_path.name if png_path else None))
    _print_targets(results)
    print(f"\nwrote {json_path}, {md_path}{f', {png_path}' if png_path else ''} (and latest.*)", file=sys.stderr)
    failed = any(report.pair_median(entry) is None for pairs in results["results"].values() for entry in pairs.values())
    return 1 if failed else 0


def _print_targets(results: dict[str, Any]) -> None:
    judged = report.judge(results)
    if judged:
        print("\nTargets:", file=sys.stderr)
        for result in judged:
            print("  " + report.target_line(result), file=sys.stderr)


def cmd_soak(args: argparse.Namespace) -> int:
    for tool in ("wrk", "taskset", *(["h2load"] if args.tls else [])):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} not found on PATH (run benchmarks/setup.sh)")
    if not {SERVER_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"error: need CPUs {SERVER_CPU} and {LOAD_CPU}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        result = soak.soak(args.duration, args.warmup, args.tls)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(soak.describe(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if "setup" in result:
        return 2
    return 1 if soak.failed(result) else 0


def cmd_report(args: argparse.Namespace) -> int:
    results = json.loads(args.results.read_text())
    md_path, png_path = report.write(results, args.out or args.results.parent, args.results.stem)
    _print_targets(results)
    print(f"wrote {md_path}{f', {png_path}' if png_path else ''}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "soak":
        return cmd_soak(args)
    return cmd_run(args, argv) if args.command == "run" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
