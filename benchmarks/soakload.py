"""The soak's own client (benchmarks/soak.py): the traffic wrk and h2load do not make, paced, for a duration.

* **abandoned**: `GET /stream` (16 KiB, chunked) sent, then the connection closed without reading the answer; every
  other one closed with a reset (SO_LINGER 0) instead of a FIN, so the server meets both a peer gone quietly and one
  that resets while it writes.
* **cut_post**: `POST /echo` announcing a 1 KiB body (`Content-Length: 1024`), 300 bytes of it sent, then closed:
  the server is left waiting for a body that never comes.
* **ws_session**: a whole WebSocket session (wsload.check: upgrade, echoes of 32 B, non-ASCII, 1,000 B and
  66,500 B text messages, the closing handshake), each on a new connection.

Each runs in its own thread at a fixed rate (so the client's TIME_WAIT sockets stay far below the ephemeral ports);
a connection that fails, or a WebSocket session that goes wrong, is an error. At the end, one line
"SOAK_JSON {...}": the count of each kind, the errors, the first error's message.

    python -m benchmarks.soakload 127.0.0.1 8000 --duration 10
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

from benchmarks import wsload

ABANDON_RATE = 100  # abandoned GETs per second; as many cut POSTs
WS_RATE = 50  # WebSocket sessions per second
TIMEOUT_S = 10.0
CUT_BODY = b"{" + b"x" * 299  # 300 of the 1,024 bytes announced
KINDS = ("abandoned", "cut_post", "ws_session")


class Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(KINDS, 0)
        self.errors = dict.fromkeys(KINDS, 0)
        self.first_error: str | None = None

    def add(self, kind: str, error: str | None) -> None:
        with self.lock:
            self.counts[kind] += 1
            if error:
                self.errors[kind] += 1
                self.first_error = self.first_error or f"{kind}: {error}"


def abandon(host: str, port: int, reset: bool) -> None:
    """GET /stream, then close without reading (with a reset when ``reset``)."""
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.sendall(f"GET /stream HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def cut_post(host: str, port: int) -> None:
    """POST /echo announcing 1,024 bytes, 300 sent, then closed."""
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        head = (
            f"POST /echo HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1024\r\n\r\n"
        )
        sock.sendall(head.encode() + CUT_BODY)


def paced(
    kind: str, rate: float, start: float, duration: float, totals: Totals, once: Callable[[int], str | None]
) -> None:
    """Call ``once(n)`` at ``start`` + n / ``rate`` (monotonic; late calls catch up) for the n that fall within
    ``duration``, each counted as ``kind``: rate x duration calls, fewer when they take longer than their share and
    the duration is over first."""
    n = 0
    while n / rate < duration and time.monotonic() < start + duration:
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        try:
            error = once(n)
        except OSError as exc:
            error = repr(exc)
        totals.add(kind, error)
        n += 1


def run(host: str, port: int, duration: float, abandon_rate: float, ws_rate: float) -> dict[str, object]:
    totals = Totals()
    start = time.monotonic()

    def abandoned(n: int) -> None:
        abandon(host, port, reset=n % 2 == 1)

    def posted(n: int) -> None:
        cut_post(host, port)

    def session(n: int) -> str | None:
        return wsload.check(host, port, "/ws/echo", TIMEOUT_S)

    threads = [
        threading.Thread(target=paced, args=("abandoned", abandon_rate, start, duration, totals, abandoned)),
        threading.Thread(target=paced, args=("cut_post", abandon_rate, start, duration, totals, posted)),
        threading.Thread(target=paced, args=("ws_session", ws_rate, start, duration, totals, session)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"counts": totals.counts, "errors": totals.errors, "first_error": totals.first_error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soakload", description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--abandon-rate", type=float, default=ABANDON_RATE, help=f"per second, each ({ABANDON_RATE})")
    parser.add_argument("--ws-rate", type=float, default=WS_RATE, help=f"WebSocket sessions per second ({WS_RATE})")
    args = parser.parse_args(argv)
    result = run(args.host, args.port, args.duration, args.abandon_rate, args.ws_rate)
    print("SOAK_JSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
