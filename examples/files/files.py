"""File upload and download: an upload streamed to disk as it arrives (413 above a size limit), a listing, and
downloads that answer Range requests (206 with Content-Range, 416 when unsatisfiable).

Run it with `python examples/files/files.py` (files go to ./uploads, or to $UPLOAD_DIR), then:

    curl -T photo.jpg localhost:8080/files/photo.jpg    # upload
    curl localhost:8080/files                           # list
    curl -r 0-99 localhost:8080/files/photo.jpg         # the first 100 bytes
"""

import os
import re
import secrets
from pathlib import Path

from tiercel import HTTPException, Tiercel, serve_file

app = Tiercel(__file__)

UPLOAD_DIR = Path(os.environ.get("UPLOAD_DIR", "uploads")).resolve()
MAX_UPLOAD = int(os.environ.get("MAX_UPLOAD", 100 * 1024 * 1024))
# What a name may be rather than what it may not: no "/" or "\", no leading dot, so no ".." and no hidden files.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


@app.startup_handler
def make_upload_dir() -> None:
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)


def stored_path(name: str) -> Path:
    if not SAFE_NAME.fullmatch(name):
        raise HTTPException(400, detail="a file name is letters, digits, '.', '_' and '-', not starting with '.'")
    return UPLOAD_DIR / name


@app.put("/files/:name", stream_body=True)
async def upload(request, name: str):
    path = stored_path(name)
    too_large = HTTPException(413, detail=f"at most {MAX_UPLOAD} bytes")
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
        raise too_large  # refused before a byte of the body is read
    # Written under a temporary name and renamed once complete, so that nobody downloads half a file.
    partial = UPLOAD_DIR / f".{name}.{secrets.token_hex(4)}.part"
    size = 0
    try:
        with partial.open("wb") as out:
            async for chunk in request.stream():  # a chunked upload declares no length: count as it comes
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise too_large
                out.write(chunk)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return {"name": name, "size": size}, 201


@app.get("/files")
async def listing():
    files = sorted(p for p in UPLOAD_DIR.iterdir() if p.is_file() and not p.name.startswith("."))
    return [{"name": p.name, "size": p.stat().st_size} for p in files]


@app.get("/files/:name")
async def download(name: str):
    path = stored_path(name)
    if not path.is_file():
        raise HTTPException(404, detail=f"no file {name}")
    return serve_file(path)  # Range (206/416), ETag and 304 are the framework's, answered from C++


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
