"""Request bodies beyond JSON: urlencoded and multipart forms, uploaded files (spilled to a temporary file when
large), malformed bodies refused with a 400, bodies over the limit refused with a 413 before they are read."""

from __future__ import annotations

import os
import socket

import httpx
import pytest

from tiercel import TestClient, Tiercel


def make_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.post("/form")
    def form(request):
        files = {
            name: {
                "filename": f.filename,
                "type": f.content_type,
                "size": f.size,
                "sha": f.content[:16].hex(),
                "spilled": f.path is not None,
            }  # fmt: skip
            for name, f in request.files.items()
        }
        return {"form": request.form_data, "files": files}

    @app.post("/params")
    async def by_name(form_data, files):
        return {"fields": sorted(form_data), "files": sorted(files)}

    @app.post("/keep")
    def keep(files):
        f = files["doc"]
        data = f.read()
        return {"path_exists": f.path is not None and os.path.exists(f.path), "len": len(data)}

    return app


def test_urlencoded(serve):
    s = serve(make_app())
    r = httpx.post(s.url + "/form", data={"name": "Ada Lovelace", "lang": "caf\u00e9", "a": ["1", "2"]})
    assert r.json() == {"form": {"name": "Ada Lovelace", "lang": "caf\u00e9", "a": "1"}, "files": {}}


def test_multipart_fields_and_files(serve):
    s = serve(make_app())
    png = bytes(range(256)) * 4
    r = httpx.post(
        s.url + "/form",
        data={"title": "holiday\nphotos", "tag": "x"},
        files={"photo": ("beach.png", png, "image/png"), "notes": ("n\u00f6tes.txt", b"hello")},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["form"] == {"title": "holiday\nphotos", "tag": "x"}
    assert body["files"]["photo"] == {"filename": "beach.png", "type": "image/png", "size": 1024,
                                      "sha": png[:16].hex(), "spilled": False}  # fmt: skip
    assert body["files"]["notes"]["filename"] == "n\u00f6tes.txt"
    r = httpx.post(s.url + "/params", data={"b": "1", "a": "2"}, files={"f": ("f.bin", b"x")})
    assert r.json() == {"fields": ["a", "b"], "files": ["f"]}
    assert httpx.post(s.url + "/form", json={"not": "a form"}).json() == {"form": {}, "files": {}}


def test_large_upload_spills_to_a_temporary_file(serve, tmp_path):
    s = serve(make_app(), form_spill_size=64 * 1024, max_body=64 * 1024 * 1024)
    blob = os.urandom(5 * 1024 * 1024)
    r = httpx.post(s.url + "/form", files={"doc": ("big.bin", blob)}, timeout=30)
    assert r.json()["files"]["doc"]["spilled"] is True and r.json()["files"]["doc"]["size"] == len(blob)
    r = httpx.post(s.url + "/keep", files={"doc": ("big.bin", blob)}, timeout=30)
    assert r.json() == {"path_exists": True, "len": len(blob)}
    leftovers = [f for f in os.listdir(os.environ.get("TMPDIR", "/tmp")) if f.startswith("tiercel-upload-")]
    assert leftovers == [], "temporary files must be removed with their UploadFile"


def raw_multipart(port: int, body: bytes, content_type: str) -> bytes:
    head = (f"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


GOOD = b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ--\r\n'


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (GOOD, "multipart/form-data", b"without a valid boundary"),
        (GOOD, 'multipart/form-data; boundary="bad boundary "', b"without a valid boundary"),
        (b"no boundary anywhere", "multipart/form-data; boundary=XyZ", b"has no multipart boundary"),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1',
            "multipart/form-data; boundary=XyZ",
            b"truncated",
        ),  # fmt: skip
        (b'--XyZ\r\nContent-Disposition: form-data; name="a"', "multipart/form-data; boundary=XyZ", b"truncated"),
        (
            b"--XyZ\r\nContent-Type: text/plain\r\n\r\n1\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
            b"no Content-Disposition",
        ),  # fmt: skip
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\nX-Evil\r\n\r\n1\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            b"malformed header line",
        ),  # fmt: skip
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\nX: a\rb\r\n\r\n1\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            b"malformed header line",
        ),  # fmt: skip
        (
            b'--XyZ\r\nContent-Disposition: attachment; name="a"\r\n\r\n1\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            b"not form-data",
        ),  # fmt: skip
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a\r\n\r\n1\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            b"malformed",
        ),  # fmt: skip
    ],
)
def test_malformed_multipart_is_a_400(serve, body, content_type, message):
    s = serve(make_app())
    raw = raw_multipart(s.port, body, content_type)
    assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]
    assert message in raw, raw


def test_good_raw_multipart_and_preamble(serve):
    s = serve(make_app())
    raw = raw_multipart(s.port, b"preamble\r\n" + GOOD + b"epilogue", "multipart/form-data; boundary=XyZ")
    assert raw.startswith(b"HTTP/1.1 200 ") and b'"form":{"a":"1"}' in raw


def test_body_over_the_limit_is_refused_before_it_is_read(serve):
    s = serve(make_app(), max_body=1024)
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        answer = sock.recv(4096)  # sent at once: the server does not wait for the 10 MB
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_forms_in_the_test_client():
    with TestClient(make_app()) as client:
        assert client.post("/form", data={"k": "v"}).json() == {"form": {"k": "v"}, "files": {}}
