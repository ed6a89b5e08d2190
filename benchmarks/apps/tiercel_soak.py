"""Tiercel soak app (benchmarks/soak.py): the benchmark app (apps/tiercel_bench.py, every route of it) plus what
the soak's mix needs besides: `/raise`, a handler that raises (an unhandled exception: 500), and `/stream`, an async
generator streamed in chunks (bench_common.STREAM_CHUNKS, chunked transfer encoding).

Tiercel logs every unhandled exception with its traceback through the "tiercel" logger; a filter on that logger drops
the records of `/raise` (millions in a long soak) before they are formatted and written: the exception is still
caught, turned into a 500 and handed to the logger, only not written to the log.

Run (repository root as the working directory), like the benchmark app:
    BENCH_HOST=127.0.0.1 BENCH_PORT=8000 python benchmarks/apps/tiercel_soak.py
    BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem BENCH_PORT=8443 python benchmarks/apps/tiercel_soak.py  # HTTPS
"""

import asyncio
import logging
import os

import bench_common as common
from tiercel_bench import app

from tiercel import StreamingResponse

RAISE_PATH = "/raise"


class SoakError(RuntimeError):
    """What /raise raises."""


@app.get(RAISE_PATH)
def fail(request):
    raise SoakError("the soak's unhandled exception (answered with 500)")


async def chunks():
    for chunk in common.STREAM_CHUNKS:
        await asyncio.sleep(0)
        yield chunk


@app.get("/stream")
def stream(request):
    return StreamingResponse(chunks(), media_type="application/octet-stream")


class DropRaiseRecords(logging.Filter):
    """Drops the log records of /raise's exceptions (each names the path among its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (RAISE_PATH in args and record.exc_info and record.exc_info[0] is SoakError)


drop_raise_records = DropRaiseRecords()
logging.getLogger("tiercel").addFilter(drop_raise_records)


@app.shutdown_handler
def remove_filter():
    # The logger outlives this module: left attached, the filter would keep the app (and its engine) alive to the
    # interpreter's very end, where nanobind reports them as leaked.
    logging.getLogger("tiercel").removeFilter(drop_raise_records)


if __name__ == "__main__":
    cert, key = os.environ.get("BENCH_TLS_CERT"), os.environ.get("BENCH_TLS_KEY")
    tls = {"ssl_certfile": cert, "ssl_keyfile": key} if cert and key else {}
    app.start(host=os.environ.get("BENCH_HOST", "127.0.0.1"), port=int(os.environ.get("BENCH_PORT", "8080")), **tls)
