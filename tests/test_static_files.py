"""Static files and downloads served by C++: content types, validators and 304s, ranges (single, multiple, 416),
HEAD, directories, precompressed siblings, and every way out of the directory refused."""

from __future__ import annotations

import email.parser
import gzip
import hashlib
import os
import shutil
import socket
import subprocess
import time

import brotli
import httpx
import pytest

from tiercel import Tiercel, serve_file


def raw_get(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "public"
    (root / "sub").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "style.css").write_text("body { color: red }")
    (root / "sub" / "a.txt").write_text("sub file")
    (root / "sub" / "<b>&.txt").write_text("odd name")
    data = os.urandom(1 << 20)
    (root / "data.bin").write_bytes(data)
    (root / "app.js").write_text("console.log('plain')")
    (root / "app.js.gz").write_bytes(gzip.compress(b"console.log('gzip')"))
    (root / "app.js.br").write_bytes(brotli.compress(b"console.log('br')"))
    (root / "empty.txt").write_bytes(b"")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link-out.txt")
    os.symlink(root / "style.css", root / "link-in.css")
    return tmp_path, root, data


def make_app(root, **kw) -> Tiercel:
    app = Tiercel(__file__)
    app.serve_directory("/static", str(root), **kw)

    @app.get("/download")
    def download():
        return serve_file(root / "data.bin", file_name="report 2026.bin")

    @app.get("/missing")
    def missing():
        return serve_file(root / "nope.txt")

    return app


def test_files_types_and_validators(serve, site):
    tmp, root, data = site
    s = serve(make_app(root))
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/static/style.css")
        assert (r.status_code, r.text, r.headers["content-type"]) == (
            200,
            "body { color: red }",
            "text/css; charset=utf-8",
        )
        assert r.headers["accept-ranges"] == "bytes" and r.headers["etag"].startswith('"')
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert c.get("/static/style.css", headers={"If-None-Match": etag}).status_code == 304
        assert c.get("/static/style.css", headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
        assert c.get("/static/style.css", headers={"If-Modified-Since": modified}).status_code == 304
        assert c.get("/static/style.css", headers={"If-None-Match": '"other"'}).status_code == 200
        r = c.get("/static/data.bin")
        assert r.headers["content-type"] == "application/octet-stream" and r.content == data
        assert c.get("/static/sub/a.txt").text == "sub file"
        assert c.get("/static/link-in.css").text == "body { color: red }"  # a symlink that stays inside
        assert c.get("/static/empty.txt").content == b""
        r = c.head("/static/data.bin")
        assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", str(len(data)))
        assert c.get("/static/nope.txt").status_code == 404


def test_ranges(serve, site):
    tmp, root, data = site
    s = serve(make_app(root))
    size = len(data)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/static/data.bin", headers={"Range": "bytes=0-99"})
        assert (r.status_code, r.content, r.headers["content-range"]) == (206, data[:100], f"bytes 0-99/{size}")
        assert c.get("/static/data.bin", headers={"Range": "bytes=-100"}).content == data[-100:]
        assert c.get("/static/data.bin", headers={"Range": f"bytes={size - 10}-"}).content == data[-10:]
        assert c.get("/static/data.bin", headers={"Range": f"bytes=10-{size * 2}"}).content == data[10:]
        r = c.get("/static/data.bin", headers={"Range": "bytes=0-9, 500-519"})
        assert r.status_code == 206
        ctype = r.headers["content-type"]
        assert ctype.startswith("multipart/byteranges; boundary=")
        message = email.parser.BytesParser().parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + r.content)
        parts = [(p["Content-Range"], p.get_payload(decode=True)) for p in message.get_payload()]
        assert parts == [(f"bytes 0-9/{size}", data[:10]), (f"bytes 500-519/{size}", data[500:520])]
        assert int(r.headers["content-length"]) == len(r.content)
        r = c.get("/static/data.bin", headers={"Range": f"bytes={size}-"})
        assert (r.status_code, r.headers["content-range"]) == (416, f"bytes */{size}")
        # Malformed or stale ranges are ignored: the whole file.
        assert c.get("/static/data.bin", headers={"Range": "bytes=9-1"}).status_code == 200
        assert c.get("/static/data.bin", headers={"Range": "lines=1-2"}).status_code == 200
        r = c.get("/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
        assert (r.status_code, len(r.content)) == (200, size)
        etag = c.head("/static/data.bin").headers["etag"]
        assert c.get("/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206


def test_ranges_with_curl(serve, site):
    tmp, root, data = site
    s = serve(make_app(root))
    out = subprocess.run(
        [shutil.which("curl") or "curl", "-s", "-r", "100-199", f"{s.url}/static/data.bin"],
        capture_output=True,
        check=True,
    )
    assert out.stdout == data[100:200]


@pytest.mark.parametrize(
    "target",
    [
        "/static/../outside.txt",
        "/static/%2e%2e/outside.txt",
        "/static/%2E%2E/outside.txt",
        "/static/..%2foutside.txt",
        "/static/sub/../../outside.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/link-out.txt",
        "/static/sub%5c..%5c..%5coutside.txt",
        "/static/a%00b",
    ],
)
def test_paths_that_leave_the_directory_are_refused(serve, site, target):
    tmp, root, data = site
    s = serve(make_app(root))
    raw = raw_get(s.port, target)
    assert raw.split(b"\r\n", 1)[0] in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 400 Bad Request"), raw[:80]
    assert b"secret" not in raw and b"root:" not in raw


def test_directories(serve, site):
    tmp, root, data = site
    s = serve(make_app(root, index_file="index.html"))
    # As Robyn: a directory's URL ends in '/', so that the relative links of its index page resolve inside it.
    r = httpx.get(s.url + "/static")
    assert (r.status_code, r.headers["location"], r.content) == (302, "/static/", b"")
    assert httpx.get(s.url + "/static", follow_redirects=True).text == "<h1>home</h1>"
    assert httpx.get(s.url + "/static/").text == "<h1>home</h1>"
    assert httpx.get(s.url + "/static/sub").status_code == 404  # no index there, no listing
    assert httpx.get(s.url + "/static/sub/").status_code == 404
    assert httpx.get(s.url + "/static/style.css").status_code == 200  # files are not redirected
    s = serve(make_app(root, show_files_listing=True))
    r = httpx.get(s.url + "/static/sub")
    assert (r.status_code, r.headers["location"]) == (302, "/static/sub/")
    r = httpx.get(s.url + "/static/sub/")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "&lt;b&gt;&amp;.txt" in r.text and "<b>" not in r.text.split("<body>")[1].replace("<h1>", "")
    assert 'href="a.txt"' in r.text
    (root / "evil.example").mkdir()
    (root / "evil.example" / "index.html").write_text("inner")
    app = Tiercel(__file__)
    app.serve_directory("/", str(root), index_file="index.html")
    s = serve(app)
    assert httpx.get(s.url + "/evil.example").headers["location"] == "/evil.example/"
    assert b"Location: //" not in raw_get(s.port, "//evil.example")  # never a scheme-relative //host
    with pytest.raises(ValueError, match="not a directory"):
        Tiercel(__file__).serve_directory("/x", str(tmp / "outside.txt"))


def test_precompressed_siblings(serve, site):
    tmp, root, data = site
    s = serve(make_app(root))
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/static/app.js", headers={"Accept-Encoding": "gzip"})
        assert (r.headers["content-encoding"], r.text) == ("gzip", "console.log('gzip')")
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        r = c.get("/static/app.js", headers={"Accept-Encoding": "br, gzip"})
        assert (r.headers["content-encoding"], r.text) == ("br", "console.log('br')")
        r = c.get("/static/app.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in r.headers and r.text == "console.log('plain')"
        r = c.get("/static/app.js", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
        assert "content-encoding" not in r.headers


def test_serve_file_downloads(serve, site):
    tmp, root, data = site
    s = serve(make_app(root))
    r = httpx.get(s.url + "/download")
    assert r.content == data
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"report 2026.bin\"; filename*=UTF-8''report%202026.bin"
    )
    r = httpx.get(s.url + "/download", headers={"Range": "bytes=5-9"})
    assert (r.status_code, r.content) == (206, data[5:10])
    assert httpx.get(s.url + "/missing").status_code == 404


def test_serve_file_is_a_download_named_after_the_file_as_in_robyn(serve, site):
    tmp, root, data = site
    app = Tiercel(__file__)
    app.get("/style")(lambda: serve_file(root / "style.css"))
    s = serve(app)
    r = httpx.get(s.url + "/style")
    assert (r.text, r.headers["content-type"]) == ("body { color: red }", "text/css; charset=utf-8")
    assert r.headers["content-disposition"] == "attachment; filename=\"style.css\"; filename*=UTF-8''style.css"


def test_large_file_integrity(serve, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    blob = os.urandom(8 << 20)
    (root / "big.bin").write_bytes(blob)
    app = Tiercel(__file__)
    app.serve_directory("/files", str(root))
    s = serve(app)
    with httpx.Client(base_url=s.url) as c, c.stream("GET", "/files/big.bin") as r:
        digest = hashlib.sha256()
        for chunk in r.iter_bytes():
            digest.update(chunk)
    assert digest.digest() == hashlib.sha256(blob).digest()


def test_slow_reader_ranges_and_pipelining_over_sendfile(serve, tmp_path):
    """File bodies go out with sendfile while the socket takes them and through the write queue when it is full:
    a reader that takes its time, multipart ranges and a pipelined request behind a file all get the exact bytes."""
    root = tmp_path / "big"
    root.mkdir()
    blob = os.urandom(24 << 20)
    (root / "big.bin").write_bytes(blob)
    app = Tiercel(__file__)
    app.serve_directory("/files", str(root))

    @app.get("/after")
    def after():
        return "after"

    s = serve(app)
    with socket.create_connection(("127.0.0.1", s.port), timeout=20) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        c.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"after"):
            chunk = c.recv(256 * 1024)
            assert chunk, "the connection closed early"
            data += chunk
            if len(data) < 4 << 20:
                time.sleep(0.002)  # slow at first: the socket fills and the rest goes through the queue
    head, rest = data.split(b"\r\n\r\n", 1)
    assert b"Content-Length: %d" % len(blob) in head
    assert hashlib.sha256(rest[: len(blob)]).digest() == hashlib.sha256(blob).digest()
    assert rest[len(blob) :].startswith(b"HTTP/1.1 200 OK") and rest.endswith(b"after")
    r = httpx.get(s.url + "/files/big.bin", headers={"Range": "bytes=0-9,10000000-10000009,-5"})
    assert r.status_code == 206
    for part in (blob[:10], blob[10_000_000:10_000_010], blob[-5:]):
        assert part in r.content
