"""The `memory` scenario: how much resident memory an idle keep-alive connection costs a server.

Open ``count`` connections, send `GET /` on each and check its answer (keep-alive: no `Connection: close`), then
hold them all idle for HOLD_S and read the server's RSS (its whole process tree, /proc/<pid>/statm): (RSS with the
connections - RSS just before them) / count = bytes per idle keep-alive connection. At the end of the hold every
connection must still be open (the server closed none, sent nothing), or the run fails: a server whose keep-alive
timeout is shorter than the time it takes to open them all would otherwise be measured with fewer connections.

The client is one thread of non-blocking sockets and epoll (no asyncio: its per-connection objects would cost the
driver more than the sockets), with at most IN_FLIGHT connections being opened or awaiting their answer at once:
fewer than any server's listen backlog, so no SYN is dropped and retried a second later.

    python -m benchmarks run --scenarios memory                # every server, 10,000 connections, 3 rounds
    python -m benchmarks run --scenarios memory --servers tiercel,uvicorn-raw --memory-connections 2000 --runs 1
"""

from __future__ import annotations

import errno
import os
import resource
import selectors
import socket
import time
from collections.abc import Callable
from typing import cast

from benchmarks.measure import Record, tree_rss_kib

CONNECTIONS = 10_000
IN_FLIGHT = 256  # connections being opened or awaiting their answer at once
HOLD_S = 1.0  # how long the answered connections sit idle before the RSS is read
# Before the RSS is first read, the server is left alone this long: memory its start-up freed (and the first checks'
# connections) is given back to the system within ~3.3 s of a connection count falling (Tiercel's MemoryReturn: a
# trim after 250 ms, then three more 1 s apart), and must not be given back during the hold instead, where it would
# hide what the connections cost.
SETTLE_S = 4.0
TIMEOUT_S = 10.0  # no progress for this long fails the run
MAX_HEAD = 16384
# File descriptors beyond the connections: the driver's (or the server's) own files, sockets and pipes.
FD_MARGIN = 1024

# Why a reply is wrong (status, lower-cased headers, body), or None.
ReplyCheck = Callable[[int, dict[str, str], bytes], str | None]


class IdleError(Exception):
    """A connection could not be opened, answered or held: the run fails with this message."""


def raise_nofile(connections: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE (inherited by the servers it starts afterwards) so that it, and a server,
    can hold ``connections`` sockets: to the hard limit, or RuntimeError when even that is too low."""
    needed = connections + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise RuntimeError(f"RLIMIT_NOFILE hard limit {hard} < {needed} (for {connections} connections); raise it")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_reply(buf: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """(status, headers with lower-cased names, body) of the complete reply in ``buf``, None while it is incomplete.

    parse_reply(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi") -> (200, {"content-length": "2"}, b"hi").
    Raises IdleError on a reply without Content-Length, or with bytes after it (nothing else was asked for)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise IdleError(f"no end of the response head in {MAX_HEAD} bytes: {buf[:120]!r}")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("HTTP/1.") or not status[1].isdigit():
        raise IdleError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    if "content-length" not in headers:
        raise IdleError(f"a reply without Content-Length: {buf[:200]!r}")
    size = int(headers["content-length"])
    body = buf[end + 4 :]
    if len(body) > size:
        raise IdleError(f"{len(body) - size} bytes after the reply: {body[size : size + 60]!r}")
    return (int(status[1]), headers, bytes(body)) if len(body) == size else None


def open_idle(host: str, port: int, count: int, check: ReplyCheck, in_flight: int = IN_FLIGHT) -> list[socket.socket]:
    """``count`` connections to ``host``:``port``, each with one `GET /` answered (and checked), all left open; the
    caller closes them. Raises IdleError (having closed them) when a connection fails or a reply is wrong."""
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    opened: list[socket.socket] = []
    held: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    busy = 0
    try:
        while len(held) < count:
            while busy < in_flight and len(opened) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                opened.append(sock)
                sock.setblocking(False)
                err = sock.connect_ex((host, port))
                if err not in (0, errno.EINPROGRESS):
                    raise IdleError(f"connect: {os.strerror(err)} (after {len(held)} connections)")
                sel.register(sock, selectors.EVENT_WRITE, bytearray())
                busy += 1
            events = sel.select(TIMEOUT_S)
            if not events:
                raise IdleError(f"no progress for {TIMEOUT_S:.0f} s, {len(held)} of {count} connections answered")
            for key, mask in events:
                sock, buf = cast(socket.socket, key.fileobj), key.data
                if mask & selectors.EVENT_WRITE:  # the connect finished, or failed
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise IdleError(f"connect: {os.strerror(err)} (after {len(held)} connections)")
                    if sock.send(request) != len(request):  # a fresh socket's send buffer takes a whole request
                        raise IdleError("the request did not fit the empty send buffer")
                    sel.modify(sock, selectors.EVENT_READ, buf)
                    continue
                chunk = sock.recv(65536)
                if not chunk:
                    raise IdleError(f"the server closed a connection before answering (after {len(held)})")
                buf += chunk
                reply = parse_reply(buf)
                if reply is None:
                    continue
                problem = check(*reply)
                if problem is None and "close" in reply[1].get("connection", "").lower():
                    problem = "the reply says Connection: close (not a keep-alive connection)"
                if problem:
                    raise IdleError(f"wrong reply: {problem}")
                sel.unregister(sock)
                held.append(sock)
                busy -= 1
    except BaseException as exc:
        for sock in opened:
            sock.close()
        if isinstance(exc, OSError):
            raise IdleError(f"connection failed: {exc!r} (after {len(held)} connections)") from exc
        raise
    finally:
        sel.close()
    return held


def count_closed(socks: list[socket.socket]) -> int:
    """How many of these idle connections the server has closed (or sent something on): the readable ones."""
    sel = selectors.DefaultSelector()
    try:
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        return len(sel.select(0))
    finally:
        sel.close()


def run_memory(server_pid: int, host: str, port: int, count: int, check: ReplyCheck) -> Record:
    """One memory run against the server rooted at ``server_pid`` (see the module docstring)."""
    time.sleep(SETTLE_S)
    before_kib = tree_rss_kib(server_pid)
    started = time.monotonic()
    try:
        socks = open_idle(host, port, count, check)
    except IdleError as exc:
        return {"ok": False, "failure": str(exc), "connections": count, "rss_before_kib": before_kib}
    open_s = time.monotonic() - started
    try:
        time.sleep(HOLD_S)  # the hold is the measurement: the connections sit idle, then the RSS is read
        held_kib = tree_rss_kib(server_pid)
        closed = count_closed(socks)
    finally:
        for sock in socks:
            sock.close()
    record: Record = {
        "ok": closed == 0,
        "connections": count,
        "open_s": open_s,
        "hold_s": HOLD_S,
        "rss_before_kib": before_kib,
        "rss_held_kib": held_kib,
        "bytes_per_conn": (held_kib - before_kib) * 1024 / count,
        "closed_early": closed,
    }
    if closed:
        record["failure"] = (
            f"the server closed (or wrote on) {closed} of {count} idle connections within {open_s + HOLD_S:.1f} s"
        )
    return record


def describe(record: Record) -> str:
    if not record["ok"]:
        return f"FAILED ({record['failure']})"
    return (
        f"{record['bytes_per_conn']:>9,.0f} B/connection  RSS {record['rss_before_kib'] / 1024:.1f} -> "
        f"{record['rss_held_kib'] / 1024:.1f} MiB with {record['connections']:,} idle connections "
        f"(opened in {record['open_s']:.1f} s)"
    )
