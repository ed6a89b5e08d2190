"""examples/files/files.py run as a user runs it: a streamed upload (with Content-Length and chunked), the listing,
ranged downloads, and the refusals (413 over the limit, 400 for a name that leaves the directory, 404, 416)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "files" / "files.py")
LIMIT = 256 * 1024


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def client(run_script, store: Path):
    server = run_script(EXAMPLE, env={"UPLOAD_DIR": str(store), "MAX_UPLOAD": str(LIMIT)}, cwd=str(store.parent))
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def test_upload_list_and_download(client: httpx.Client, store: Path) -> None:
    assert client.get("/files").json() == []
    data = os.urandom(100_000)
    created = client.put("/files/report-1.bin", content=data)
    assert (created.status_code, created.json()) == (201, {"name": "report-1.bin", "size": len(data)})
    assert (store / "report-1.bin").read_bytes() == data

    # A chunked upload (no Content-Length) in pieces, as a client streaming from a pipe sends it.
    pieces = [os.urandom(30_000) for _ in range(5)]
    created = client.put("/files/notes.txt", content=iter(pieces))
    assert (created.status_code, created.json()["size"]) == (201, 150_000)

    assert client.get("/files").json() == [
        {"name": "notes.txt", "size": 150_000},
        {"name": "report-1.bin", "size": len(data)},
    ]
    whole = client.get("/files/notes.txt")
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).digest() == hashlib.sha256(b"".join(pieces)).digest()
    assert whole.headers["accept-ranges"] == "bytes"

    # Uploading again replaces the file.
    assert client.put("/files/notes.txt", content=b"short").status_code == 201
    assert client.get("/files/notes.txt").content == b"short"


def test_ranged_downloads(client: httpx.Client) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    assert client.put("/files/blob.bin", content=data).status_code == 201

    part = client.get("/files/blob.bin", headers={"Range": "bytes=1000-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1099/{len(data)}"
    assert part.content == data[1000:1100]

    tail = client.get("/files/blob.bin", headers={"Range": "bytes=-16"})
    assert (tail.status_code, tail.content) == (206, data[-16:])
    assert tail.headers["content-range"] == f"bytes {len(data) - 16}-{len(data) - 1}/{len(data)}"

    # A resumed download: everything from an offset on.
    rest = client.get("/files/blob.bin", headers={"Range": "bytes=10000-"})
    assert (rest.status_code, rest.content) == (206, data[10000:])

    beyond = client.get("/files/blob.bin", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"


def test_uploads_over_the_limit_are_refused(client: httpx.Client, store: Path) -> None:
    declared = client.put("/files/big.bin", content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413
    # Chunked: no length to check first, so the handler stops reading once the count passes the limit.
    chunked = client.put("/files/big.bin", content=iter([b"y" * 65536] * 8))
    assert chunked.status_code == 413
    assert client.get("/files/big.bin").status_code == 404
    assert sorted(p.name for p in store.iterdir()) == []  # no partial file left behind
    exactly = client.put("/files/big.bin", content=iter([b"z" * (LIMIT // 4)] * 4))
    assert (exactly.status_code, exactly.json()["size"]) == (201, LIMIT)


@pytest.mark.parametrize("name", ["..%2Fescaped.txt", "%2E%2E", ".hidden", "a%5Cb.txt", "sub%2Fdir.txt"])
def test_names_that_leave_the_directory_are_refused(client: httpx.Client, store: Path, name: str) -> None:
    assert client.put(f"/files/{name}", content=b"evil").status_code == 400
    assert client.get(f"/files/{name}").status_code == 400
    assert list(store.iterdir()) == []
    assert not (store.parent / "escaped.txt").exists()


def test_missing_file(client: httpx.Client) -> None:
    missing = client.get("/files/nothing.txt")
    assert missing.status_code == 404
    assert "nothing.txt" in missing.text
