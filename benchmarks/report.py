"""Results JSON -> Markdown (medians, ratios, targets) and a PNG bar chart of CPU µs per request.

Everything here is recomputed from the raw runs in the JSON, so `python -m benchmarks report RESULTS.json`
gives the same report as the run that wrote it.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import Record, summarize

TIERCEL = "tiercel"
DB_PEERS_NOTE = "database scenarios: Tiercel ahead of every peer (lower CPU µs/req)"


@dataclass(frozen=True)
class Target:
    scenario: str
    peer: str
    limit: float  # Tiercel CPU/req ÷ peer CPU/req must be <= limit (< limit when strict)
    limit_text: str
    goal: str
    strict: bool = False


@dataclass(frozen=True)
class TargetResult:
    target: Target
    tiercel: float | None  # median CPU µs/req
    peer: float | None
    problem: str | None  # why it could not be judged

    @property
    def ratio(self) -> float | None:
        return self.tiercel / self.peer if self.tiercel is not None and self.peer else None

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if ratio is None:
            return None
        return ratio < self.target.limit if self.target.strict else ratio <= self.target.limit

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "n/a"}[self.met]


# --------------------------------------------------------------------------- data


def pair_median(entry: Record) -> Record | None:
    return summarize(entry.get("runs", [])) if not entry.get("validation") else None


def pair_status(entry: Record) -> str:
    """'ok', 'ok (2/3 runs; 1 failed: ...)' or 'failed: <why>'."""
    validation: str | None = entry.get("validation")
    if validation:
        return "failed: " + validation.splitlines()[0]
    runs = entry.get("runs", [])
    failures = [r["failure"].splitlines()[0] for r in runs if not r["ok"]]
    if not runs:
        return "failed: not measured"
    if len(failures) == len(runs):
        return f"failed: {failures[0]}"
    if failures:
        return f"ok ({len(runs) - len(failures)}/{len(runs)} runs; {len(failures)} failed: {failures[0]})"
    return "ok"


def cpu_medians(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """scenario -> server label -> median CPU µs/req, for the pairs with at least one successful run."""
    out: dict[str, dict[str, float]] = {}
    for scenario, by_server in results["results"].items():
        if is_memory(results, scenario):
            continue
        for label, entry in by_server.items():
            median = pair_median(entry)
            if median is not None:
                out.setdefault(scenario, {})[label] = median["cpu_us_per_req"]
    return out


def is_memory(results: dict[str, Any], scenario: str) -> bool:
    """Whether ``scenario`` is the memory one (bytes per idle connection, no CPU per request)."""
    return bool(results["scenarios"].get(scenario, {}).get("memory"))


def targets(results: dict[str, Any]) -> list[Target]:
    """The issue's targets that apply to the scenarios and servers of this run."""
    by_scenario = {name: entries for name, entries in results["results"].items() if not is_memory(results, name)}
    db = {name for name, s in results["scenarios"].items() if s["db"]}
    found: list[Target] = []

    def add(scenario: str, peer: str, limit: float, limit_text: str, goal: str, strict: bool = False) -> None:
        if TIERCEL in by_scenario.get(scenario, {}) and peer in by_scenario[scenario]:
            found.append(Target(scenario, peer, limit, limit_text, goal, strict))

    add("plaintext", "nginx", 1.2, "≤ 1.2", "Hello handler ≤ 1.2× nginx's CPU per request")
    add("const", "nginx", 1.05, "≤ 1.05", "const route ≤ 1.05× nginx")
    for scenario in by_scenario:
        if scenario != "const":
            add(scenario, "robyn", 1 / 3, "≤ 1/3", "≤ 1/3 of Robyn's CPU per request (non-const scenarios)")
        add(scenario, "granian-rsgi", 2 / 3, "≤ 2/3", "≤ 2/3 of Granian RSGI's")
        add(scenario, "fastapi", 1 / 4, "≤ 1/4", "≤ 1/4 of FastAPI's")
    for scenario in by_scenario:
        if scenario in db:
            for peer in by_scenario[scenario]:
                if peer != TIERCEL and "#" not in peer:  # not Tiercel, nor a repeated server (an A/A check)
                    add(scenario, peer, 1.0, "< 1", DB_PEERS_NOTE, strict=True)
    return found


def judge(results: dict[str, Any]) -> list[TargetResult]:
    cpu = cpu_medians(results)
    judged = []
    for target in targets(results):
        got = cpu.get(target.scenario, {})
        missing = [name for name in (TIERCEL, target.peer) if name not in got]
        problem = None
        if missing:
            entries = results["results"][target.scenario]
            problem = "; ".join(f"{name} {pair_status(entries[name])}" for name in missing)
        judged.append(TargetResult(target, got.get(TIERCEL), got.get(target.peer), problem))
    return judged


# ----------------------------------------------------------------------- markdown


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def machine(env: dict[str, Any]) -> str:
    memory = f", {env['memory_gib']:.1f} GiB RAM" if env.get("memory_gib") else ""
    return f"{env['cpu_model']}, {env['cpus']} CPUs{memory}, Linux {env['kernel']}, {env['python']}"


def target_line(result: TargetResult) -> str:
    t = result.target
    numbers = (
        f"Tiercel {_num(result.tiercel, '.2f')} µs ÷ {t.peer} {_num(result.peer, '.2f')} µs = "
        f"{_num(result.ratio, '.2f')} (target {t.limit_text})"
    )
    return f"{result.verdict:<6} {t.scenario:<10} {numbers}" + (f" — {result.problem}" if result.problem else "")


def markdown(results: dict[str, Any], image: str | None) -> str:
    """The report; ``image`` is the chart's file name (None: no chart, as when only `memory` was run)."""
    env, settings = results["environment"], results["settings"]
    date = datetime.datetime.fromisoformat(env["date"]).strftime("%Y-%m-%d %H:%M UTC")
    packages = ", ".join(f"{name} {v}" for name, v in env["packages"].items() if v)
    tools = ", ".join(v for v in (env.get(k) for k in ("nginx", "postgres", "wrk", "h2load", "openssl")) if v)
    lines = [
        f"# Tiercel benchmarks — {date}",
        "",
        f"* Machine: {machine(env)}",
        f"* Command: `{results['command']}`",
        f"* Method: server pinned to CPU {settings['server_cpu']}; wrk (-t{settings['threads']} "
        f"-c{settings['connections']}), PostgreSQL and the driver on CPU {settings['load_cpu']}; "
        f"{settings['warmup_s']} s warm-up, then {settings['runs']} alternating runs × {settings['duration_s']} s "
        "per server and scenario; medians over the successful runs. CPU µs/req = the server process tree's "
        "user+system CPU time ÷ requests served. Peak RSS = max of the tree's summed RSS, sampled every 0.1 s."
        + (
            f" WebSocket scenario: benchmarks/wsload.py instead of wrk, {settings['connections']} connections × "
            f"{settings.get('ws_window', '?')} messages in flight, CPU per message echoed."
            if any(info.get("websocket") for info in results["scenarios"].values())
            else ""
        )
        + (
            " TLS scenarios: each server's TLS instance, with an ECDSA P-256 certificate made for the run; loaded "
            f"by h2load (-c{settings['connections']}, TLS 1.3 pinned to TLS_AES_128_GCM_SHA256; `--h1` for HTTP/1.1, "
            "-m for the streams in flight on each connection, as the scenario's load column says) where the "
            "scenario says so, else by wrk (whose OpenSSL settles on TLS 1.3 TLS_AES_256_GCM_SHA384 with every server)."
            if any(info.get("tls") for info in results["scenarios"].values())
            else ""
        ),
        f"* Versions: {packages}; {tools}",
        "",
        *([f"![Server CPU µs per request, per scenario]({image})", ""] if image else []),
    ]

    judged = judge(results)
    if judged:
        lines += [
            "## Targets",
            "",
            "| scenario | goal | Tiercel CPU µs/req | peer | peer CPU µs/req | Tiercel ÷ peer | target | result |",
            "|---|---|--:|---|--:|--:|--:|---|",
        ]
        for r in judged:
            t = r.target
            verdict = r.verdict + (f" ({r.problem})" if r.problem else "")
            lines.append(
                f"| {t.scenario} | {t.goal} | {_num(r.tiercel, '.2f')} | {t.peer} | {_num(r.peer, '.2f')} | "
                f"{_num(r.ratio, '.2f')} | {t.limit_text} | {verdict} |"
            )
        counts = {v: sum(r.verdict == v for r in judged) for v in ("met", "MISSED", "n/a")}
        lines += ["", ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ".", ""]

    cpu = cpu_medians(results)
    labels = list(results["servers"])
    websocket = [name for name, info in results["scenarios"].items() if info.get("websocket")]
    loads = [name for name in results["results"] if not is_memory(results, name)]
    if loads:
        lines += [
            "## CPU µs per request (median; lower is better)",
            "",
            *([f"Per WebSocket message for {', '.join(websocket)}.", ""] if websocket else []),
            "| scenario | " + " | ".join(labels) + " |",
            "|---|" + "--:|" * len(labels),
        ]
        for scenario in loads:
            by_server = results["results"][scenario]
            cells = [_num(cpu.get(scenario, {}).get(label), ".2f") if label in by_server else "" for label in labels]
            lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
        lines.append("")

    for scenario, by_server in results["results"].items():
        info = results["scenarios"][scenario]
        if info.get("memory"):
            lines += memory_table(scenario, info, by_server)
            continue
        tiercel = cpu.get(scenario, {}).get(TIERCEL)
        unit, target = (
            ("msg", f"WebSocket {info['path']}")
            if info.get("websocket")
            else ("req", f"{info['method']} {info['path']}")
        )
        summary = info["summary"]
        if info.get("websocket"):
            summary += (
                f" ({settings['connections']} connections × {settings.get('ws_window', '?')} messages in flight, "
                "benchmarks/wsload.py)"
            )
        if info.get("load", "wrk") != "wrk" and not info.get("websocket"):
            summary += f"; loaded by {info['load']}"
        if info.get("tls"):
            summary += tls_note(by_server)
        lines += [
            f"## {scenario} — `{target}`",
            "",
            summary,
            "",
            f"| server | {unit}/s | CPU µs/{unit} | (min–max) | server CPU | p50 ms | p99 ms | peak RSS MiB "
            f"| Tiercel CPU/{unit} ÷ this | status |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for label, entry in by_server.items():
            m = pair_median(entry)
            status = pair_status(entry).replace("|", "\\|")
            if m is None:
                lines.append(f"| {label} | | | | | | | | | {status} |")
                continue
            ratio = tiercel / m["cpu_us_per_req"] if tiercel is not None else None
            lines.append(
                f"| {label} | {m['rps']:,.0f} | {m['cpu_us_per_req']:.2f} | "
                f"{m['cpu_us_per_req_min']:.2f}–{m['cpu_us_per_req_max']:.2f} | {m['server_cpu_util']:.0%} | "
                f"{m['p50_us'] / 1000:.2f} | {m['p99_us'] / 1000:.2f} | {m['peak_rss_mib']:.1f} | "
                f"{_num(ratio, '.2f')} | {status} |"
            )
        lines.append("")
    return "\n".join(lines)


def memory_table(scenario: str, info: dict[str, Any], by_server: dict[str, Record]) -> list[str]:
    """The memory scenario's section: per server the median bytes per idle keep-alive connection and Tiercel's ÷ it."""
    medians = {label: pair_median(entry) for label, entry in by_server.items()}
    tiercel = medians.get(TIERCEL)
    lines = [
        f"## {scenario} — `GET {info['path']}` on each connection, then idle",
        "",
        info["summary"] + ". RSS = the server process tree's summed resident set; bytes per connection = (RSS with "
        "the connections held - RSS before) ÷ connections; a fresh server instance per run.",
        "",
        "| server | connections | bytes/connection | (min–max) | RSS before MiB | RSS held MiB "
        "| Tiercel ÷ this | status |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for label, entry in by_server.items():
        m = medians[label]
        status = pair_status(entry).replace("|", "\\|")
        if m is None:
            lines.append(f"| {label} | | | | | | | {status} |")
            continue
        ratio = tiercel["bytes_per_conn"] / m["bytes_per_conn"] if tiercel and m["bytes_per_conn"] > 0 else None
        lines.append(
            f"| {label} | {m['connections']:,} | {m['bytes_per_conn']:,.0f} | {m['bytes_per_conn_min']:,.0f}–"
            f"{m['bytes_per_conn_max']:,.0f} | {m['rss_before_mib']:.1f} | {m['rss_held_mib']:.1f} | "
            f"{_num(ratio, '.2f')} | {status} |"
        )
    env = [f"{label} `{' '.join(f'{k}={v}' for k, v in e['memory_env'].items())}`"
           for label, e in by_server.items() if e.get("memory_env")]  # fmt: skip
    return [*lines, "", *([f"Set for these instances: {'; '.join(env)}.", ""] if env else [])]


def tls_note(by_server: dict[str, Record]) -> str:
    """What each server's TLS handshake settled with the validation's client (Python's ssl): the version, the ALPN
    protocol when the client offered any (the HTTP/2 scenarios), and for
    a scenario that reconnects, whether the server resumes sessions (then the handshakes measured are resumptions)."""
    parts = []
    for label, entry in by_server.items():
        tls = entry.get("tls")
        if tls:
            resumes = {True: ", resumes sessions", False: ", no session resumption", None: ""}[tls.get("resumes")]
            alpn = f" {tls['alpn']}" if tls.get("alpn") else ""
            parts.append(f"{label} {tls.get('version')}{alpn}{resumes}")
    return f" (TLS: {'; '.join(parts)})" if parts else ""


# -------------------------------------------------------------------------- chart


def chart(results: dict[str, Any], path: Path) -> None:
    """Grouped bars: one group per scenario, one bar per server, median CPU µs/req on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cpu = cpu_medians(results)
    scenarios = [s for s in results["results"] if s in cpu]
    labels = [label for label in results["servers"] if any(label in cpu[s] for s in scenarios)]
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(min(18.0, max(7.0, 1.5 + 0.16 * len(scenarios) * len(labels))), 5.5), dpi=120)
    for i, label in enumerate(labels):
        xs = [n + (i - (len(labels) - 1) / 2) * width for n, s in enumerate(scenarios) if label in cpu[s]]
        ys = [cpu[s][label] for s in scenarios if label in cpu[s]]
        bars = ax.bar(xs, ys, width, label=label, color=plt.get_cmap("tab10")(i % 10))
        ax.bar_label(bars, [f"{y:.0f}" if y >= 100 else f"{y:.3g}" for y in ys], rotation=90, padding=2, fontsize=6)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_yscale("log")
    # Bars start at a power of ten at least 2x below the smallest value; there is room above for their labels.
    low = min((v for by_server in cpu.values() for v in by_server.values()), default=1.0)
    high = max((v for by_server in cpu.values() for v in by_server.values()), default=10.0)
    ax.set_ylim(10 ** math.floor(math.log10(low / 2)), high * 3)
    per_message = any(info.get("websocket") for name, info in results["scenarios"].items() if name in scenarios)
    ax.set_ylabel("server CPU µs per request" + (" (ws: per message)" if per_message else "") + ", log scale")
    date = results["environment"]["date"][:10]
    ax.set_title(f"Server CPU per request, median (lower is better) — {date}\n{machine(results['environment'])}")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize="small", ncols=min(len(labels), 8), loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(results: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path | None]:
    """Write ``stem``.md and ``stem``.png into ``out_dir``; return their paths (no PNG without a load scenario: the
    chart is of CPU per request)."""
    md_path, png_path = out_dir / f"{stem}.md", out_dir / f"{stem}.png"
    if any(not is_memory(results, name) for name in results["results"]):
        chart(results, png_path)
    else:
        png_path.unlink(missing_ok=True)
    md_path.write_text(markdown(results, png_path.name if png_path.exists() else None))
    return md_path, png_path if png_path.exists() else None
