"""Inputs and peer drivers for tests/test_parser_differential.py.

Two sources of requests:
* tests/request_cases.txt, the project's table of parser cases (each with its expected verdict, read here by
  `load_table` and by the native test tests/native/test_request_cases.cpp; its header explains the format);
* HOSTILE below: hand-written smuggling and parser-confusion vectors.

And three parsers run over each input the way a server connection would: Tiercel's core parser (through
the test-only `tiercel._parser_probe` module), httptools (llhttp) and h11. Each yields a `Verdict`: "accept"
(every byte used, or the connection closes after a complete request, with at least one request),
"refuse" (an error), or "incomplete" (bytes left that do not finish a request), plus the requests parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TABLE = Path(__file__).with_name("request_cases.txt")

# ---------------------------------------------------------------------------------------------------
# The table of request cases


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "accept" | "refuse" | "incomplete"
    requests: int  # accept N, or the N of "refuse S after N" / "incomplete after N"
    status: int | None  # the status of a refusal
    rfc: str
    what: str
    data: bytes
    checks: tuple[tuple[str, bytes], ...]  # (key, value) about the first request, see the table's header


_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "|": b"|"}
_ID = re.compile(r"[a-z][a-z0-9_]*\.[a-z0-9_.]+")
_EXPECT = re.compile(r"(accept) (\d+)|(refuse) (\d{3})(?: after (\d+))?|(incomplete)(?: after (\d+))?")
_CHECK_KEYS = ("method", "target", "version", "body", "close", "header", "headers")


def unescape(text: str) -> bytes:
    """The table's escapes: \\r \\n \\t \\0 \\\\ \\| \\xHH, and \\{N:text} for `text` repeated N times."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            if not 0x20 <= ord(c) <= 0x7E:
                raise ValueError(f"write byte {ord(c):#x} as an escape")
            out += c.encode()
            i += 1
            continue
        esc = text[i + 1 : i + 2]
        if esc in _SIMPLE:
            out += _SIMPLE[esc]
            i += 2
        elif esc == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif m := re.match(r"\{(\d+):([^}]*)\}", text[i + 1 :]):
            out += unescape(m.group(2)) * int(m.group(1))
            i += 1 + m.end()
        else:
            raise ValueError(f"unknown escape at {text[i : i + 8]!r}")
    return bytes(out)


def parse_case(line: str) -> Case:
    parts = line.split(" | ")
    if len(parts) not in (5, 6):
        raise ValueError("want: id | expect | rfc | what | bytes [| checks]")
    cid, expect, rfc, what, data = parts[:5]
    if not _ID.fullmatch(cid):
        raise ValueError(f"bad id {cid!r}")
    m = _EXPECT.fullmatch(expect)
    if not m:
        raise ValueError(f"bad expect {expect!r}")
    if m.group(1):
        kind, count, status = "accept", int(m.group(2)), None
    elif m.group(3):
        kind, count, status = "refuse", int(m.group(5) or 0), int(m.group(4))
    else:
        kind, count, status = "incomplete", int(m.group(7) or 0), None
    checks = []
    for item in parts[5].split(" ") if len(parts) == 6 else []:
        key, sep, value = item.partition("=")
        if not sep or key not in _CHECK_KEYS or kind != "accept":
            raise ValueError(f"bad check {item!r} (checks are key=value, for accepted cases)")
        checks.append((key, unescape(value)))
    return Case(cid, kind, count, status, rfc, what, unescape(data), tuple(checks))


def load_table(path: Path = TABLE) -> list[Case]:
    """Every case of the table, in file order; a malformed line or a repeated id raises ValueError."""
    cases: list[Case] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        try:
            case = parse_case(line)
        except ValueError as e:
            raise ValueError(f"{path.name}:{n}: {e}") from None
        if case.id in seen:
            raise ValueError(f"{path.name}:{n}: id {case.id} repeated")
        seen.add(case.id)
        cases.append(case)
    return cases


def table_mismatch(case: Case, got: Verdict) -> str | None:
    """None when Tiercel's verdict is the one the table expects (outcome, status, number of requests and
    the checks about the first request); else what differs."""
    status = int(got.detail) if got.kind == "refuse" else None
    if (got.kind, status, len(got.requests)) != (case.kind, case.status, case.requests):
        return f"expected {case.kind} {case.status or ''} after {case.requests} request(s), got {got.summary()}"
    for key, want in case.checks:
        first = got.requests[0]
        if key == "header":
            name, _, value = want.partition(b":")
            values = [v for n, v in first.headers if n.lower() == name.lower()]
            ok, have = bool(values) and values[0] == value, values[:1]
        elif key == "headers":
            ok, have = len(first.headers) == int(want), len(first.headers)
        elif key == "close":
            ok, have = first.keep_alive == (want == b"no"), first.keep_alive
        else:
            have = first.version.encode() if key == "version" else getattr(first, key)
            ok = have == want
        if not ok:
            return f"{key}: expected {want!r}, got {have!r}"
    return None


# ---------------------------------------------------------------------------------------------------
# Hand-written hostile inputs (smuggling and parser-confusion vectors)


def _req(head: str, body: bytes = b"") -> bytes:
    """`head` is written with "\\n" line ends, turned into CRLF; the blank line must be written."""
    return head.replace("\n", "\r\n").encode("latin-1") + body


H = "Host: a\n"


def _post(fields: str, body: bytes = b"") -> bytes:
    """`POST / HTTP/1.1` with `Host: a`, then `fields` ("\\n"-separated field lines, any latin-1 bytes)."""
    return _req(f"POST / HTTP/1.1\n{H}{fields}\n\n", body)


def _chunked(body: bytes) -> bytes:
    """A chunked POST with `body` as its (raw) chunked body."""
    return _post("Transfer-Encoding: chunked", body)


def _te(value: str, body: bytes = b"0\r\n\r\n") -> bytes:
    """A POST with `Transfer-Encoding: <value>` (any bytes, latin-1) and an empty chunked body."""
    return _post(f"Transfer-Encoding: {value}", body)


def _cl(value: str, body: bytes) -> bytes:
    """A POST with `Content-Length: <value>` (any bytes, latin-1) and `body`."""
    return _post(f"Content-Length: {value}", body)


CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"
NEXT = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

HOSTILE: dict[str, bytes] = {
    # --- sanity: plain requests every parser should accept -----------------------------------------
    "plain_get": _req(f"GET /a?b=c HTTP/1.1\n{H}\n"),
    "plain_post_cl": _req(f"POST /a HTTP/1.1\n{H}Content-Length: 5\n\n", b"hello"),
    "plain_post_chunked": _req(f"POST /a HTTP/1.1\n{H}Transfer-Encoding: chunked\n\n", CHUNKED_HELLO),
    "plain_pipelined_three": _req(f"GET /1 HTTP/1.1\n{H}\n")
    + _req(f"POST /2 HTTP/1.1\n{H}Content-Length: 2\n\n", b"ok")
    + _req(f"GET /3 HTTP/1.1\n{H}\n"),
    "plain_http10_no_host": b"GET / HTTP/1.0\r\n\r\n",
    "plain_chunked_trailer": _req(
        f"POST /a HTTP/1.1\n{H}Transfer-Encoding: chunked\n\n", b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
    ),
    "plain_chunk_ext": _req(
        f"POST /a HTTP/1.1\n{H}Transfer-Encoding: chunked\n\n", b'5;a=b;c="d"\r\nhello\r\n0\r\n\r\n'
    ),
    # --- CL.TE / TE.CL ------------------------------------------------------------------------------
    "clte_both": _post("Content-Length: 6\nTransfer-Encoding: chunked", b"0\r\n\r\nG"),
    "tecl_both": _post("Transfer-Encoding: chunked\nContent-Length: 4", b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"),
    "clte_cl_zero_with_te": _post("Content-Length: 0\nTransfer-Encoding: chunked", b"0\r\n\r\n"),
    # --- TE.TE: obfuscated Transfer-Encoding --------------------------------------------------------
    "te_space_before_colon": _post("Transfer-Encoding : chunked", b"0\r\n\r\n"),
    "te_xchunked": _te("xchunked"),
    "te_chunked_identity": _te("chunked, identity"),
    "te_identity_chunked": _te("identity, chunked"),
    "te_identity_only_with_cl": _post("Transfer-Encoding: identity\nContent-Length: 3", b"abc"),
    "te_leading_comma": _te(",chunked"),
    "te_chunked_params": _te("chunked;x=y"),
    "te_uppercase": _te("CHUNKED"),
    "te_name_uppercase": _post("TRANSFER-ENCODING: chunked", b"0\r\n\r\n"),
    "te_tab_before_value": _post("Transfer-Encoding:\tchunked", b"0\r\n\r\n"),
    "te_tab_after_value": _te("chunked\t"),
    "te_vtab_before_value": _post("Transfer-Encoding:\x0bchunked", b"0\r\n\r\n"),
    "te_vtab_after_value": _te("chunked\x0b"),
    "te_formfeed_before_value": _post("Transfer-Encoding:\x0cchunked", b"0\r\n\r\n"),
    "te_formfeed_after_value": _te("chunked\x0c"),
    "te_nbsp_before_value": _post("Transfer-Encoding:\xa0chunked", b"0\r\n\r\n"),
    "te_nel_after_value": _te("chunked\x85"),
    "te_nbsp_in_name": _post("Transfer-Encoding\xa0: chunked", b"0\r\n\r\n"),
    "te_duplicate": _post("Transfer-Encoding: chunked\nTransfer-Encoding: chunked", b"0\r\n\r\n"),
    "te_duplicate_identity_first": _req(
        f"POST / HTTP/1.1\n{H}Transfer-Encoding: identity\nTransfer-Encoding: chunked\n\n", b"0\r\n\r\n"
    ),
    "te_chunked_twice_listed": _post("Transfer-Encoding: chunked, chunked", b"0\r\n\r\n"),
    "te_space_after_value": _te("chunked "),
    "te_space_tab_after_value": _te("chunked \t "),
    "te_nul_after_value": _te("chunked\0"),
    "te_tab_before_comma": _te("gzip\t,chunked"),
    "te_on_http10_with_cl": _req("POST / HTTP/1.0\nTransfer-Encoding: chunked\nContent-Length: 5\n\n", b"hello"),
    "te_obs_fold": _post("Transfer-Encoding:\n chunked", b"0\r\n\r\n"),
    "te_on_http10": _req("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n", b"0\r\n\r\n"),
    "te_quoted": _post('Transfer-Encoding: "chunked"', b"0\r\n\r\n"),
    "te_gzip_only": _te("gzip"),
    # --- Content-Length games -----------------------------------------------------------------------
    "cl_plus": _cl("+5", b"hello"),
    "cl_minus_one": _cl("-1", b"hello"),
    "cl_hex": _cl("0x5", b"hello"),
    "cl_list_same": _cl("5 ,5", b"hello"),
    "cl_list_comma": _cl("5, 5", b"hello"),
    "cl_list_different": _cl("3, 4", b"hello"),
    "cl_duplicate_same": _post("Content-Length: 5\nContent-Length: 5", b"hello"),
    "cl_duplicate_different": _post("Content-Length: 5\nContent-Length: 6", b"hello!"),
    "cl_huge": _cl("99999999999999999999999999", b"hello"),
    "cl_2_pow_64": _cl("18446744073709551616", b"hello"),
    "cl_over_max_body": _cl("16777217", b"hello"),
    "cl_leading_zeros": _cl("0000005", b"hello"),
    "cl_underscore": _cl("1_0", b"helloworld"),
    "cl_space_inside": _cl("1 0", b"helloworld"),
    "cl_empty": _post("Content-Length:"),
    "cl_decimal_point": _cl("5.0", b"hello"),
    "cl_vtab_after": _cl("5\x0b", b"hello"),
    "cl_space_before_colon": _post("Content-Length : 5", b"hello"),
    "cl_tab_before_value": _post("Content-Length:\t5", b"hello"),
    "cl_tab_after_value": _cl("5\t", b"hello"),
    "cl_on_get_smuggle": _req(f"GET / HTTP/1.1\n{H}Content-Length: {len(NEXT)}\n\n", NEXT),
    # --- chunk-size games ---------------------------------------------------------------------------
    "chunk_0x_prefix": _chunked(b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk_negative": _chunked(b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk_plus": _chunked(b"+5\r\nhello\r\n0\r\n\r\n"),
    "chunk_overflow": _chunked(b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "chunk_overflow_wraps_to_5": _chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
    "chunk_leading_zeros": _chunked(b"0005\r\nhello\r\n000\r\n\r\n"),
    "chunk_size_space_before_crlf": _chunked(b"5 \r\nhello\r\n0\r\n\r\n"),
    "chunk_size_empty": _chunked(b"\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_bare_lf": _chunked(b"5;a=b\nhello\r\n0\r\n\r\n"),
    "chunk_ext_lf_inside": _chunked(b"5;a\n=b\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_bare_cr": _chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_bare_lf": _chunked(b"5\nhello\r\n0\r\n\r\n"),
    "chunk_data_missing_crlf": _chunked(b"5\r\nhello0\r\n\r\n"),
    "chunk_data_too_long": _chunked(b"3\r\nhello\r\n0\r\n\r\n"),
    "chunk_data_bare_lf_after": _chunked(b"5\r\nhello\n0\r\n\r\n"),
    "chunk_data_bare_cr_after": _chunked(b"5\r\nhello\r0\r\n\r\n"),
    "chunk_last_bare_lf": _chunked(b"5\r\nhello\r\n0\n\n"),
    "chunk_trailer_bare_lf": _chunked(b"5\r\nhello\r\n0\r\nX: y\n\r\n"),
    "chunk_trailer_obs_fold": _chunked(b"5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n"),
    "chunk_trailer_cl_smuggle": _chunked(b"0\r\nContent-Length: 5\r\n\r\n"),
    "chunk_size_nul": _chunked(b"5\0\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_vtab": _chunked(b"5\x0b\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_tab_then_ext": _chunked(b"5\t;a=b\r\nhello\r\n0\r\n\r\n"),
    # RFC 9112: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), but llhttp
    # (strict) refuses any whitespace on the chunk-size line
    "chunk_size_space_then_ext": _chunked(b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_space_after_semicolon": _chunked(b"5; a=b\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_space_around_equals": _chunked(b"5;a = b\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_value_space_semicolon": _chunked(b"5;a=b ;c\r\nhello\r\n0\r\n\r\n"),
    "chunk_last_space_then_ext": _chunked(b"5\r\nhello\r\n0 ;a\r\n\r\n"),
    "chunk_ext_value_trailing_space": _chunked(b"5;a=b \r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_non_token": _chunked(b"5;a@b\r\nhello\r\n0\r\n\r\n"),
    "chunk_ext_quoted_ctl": _chunked(b'5;a="b\x01"\r\nhello\r\n0\r\n\r\n'),
    "chunk_ext_quoted_pair_lf": _chunked(b'5;a="b\\\n"\r\nhello\r\n0\r\n\r\n'),
    "chunk_ext_5000_bytes": _chunked(b"5;a=" + b"b" * 5000 + b"\r\nhello\r\n0\r\n\r\n"),
    "chunk_trailer_te": _chunked(b"0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "chunk_trailer_space_before_colon": _chunked(b"0\r\nX : y\r\n\r\n"),
    "chunk_trailer_nul": _chunked(b"0\r\nX: y\0\r\n\r\n"),
    # --- line endings -------------------------------------------------------------------------------
    "lf_only": b"GET / HTTP/1.1\nHost: a\n\n",
    "lf_only_request_line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "lf_only_header_line": b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
    "lf_only_final": b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    "cr_only": b"GET / HTTP/1.1\rHost: a\r\r",
    "cr_only_header_line": b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
    "bare_cr_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "crcrlf": b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
    "leading_crlf": b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "leading_bare_lf": b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    # --- NUL and control bytes ----------------------------------------------------------------------
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
    "nul_in_name": b"GET / HTTP/1.1\r\nHost: a\r\nX\0Y: b\r\n\r\n",
    "nul_in_target": b"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n",
    "nul_in_method": b"GE\0T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "del_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
    "esc_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n",
    "tab_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n",
    "obs_text_in_value": b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
    "nbsp_around_value": b"GET / HTTP/1.1\r\nHost: a\r\nX:\xa0v\xa0\r\n\r\n",
    "nel_around_value": b"GET / HTTP/1.1\r\nHost: a\r\nX:\x85v\x85\r\n\r\n",
    "nbsp_after_name": b"GET / HTTP/1.1\r\nHost: a\r\nX\xa0: v\r\n\r\n",
    "nel_before_name": b"GET / HTTP/1.1\r\nHost: a\r\n\x85X: v\r\n\r\n",
    "cl_nbsp_value": _post("Content-Length:\xa05", b"hello"),
    # --- request line -------------------------------------------------------------------------------
    "target_with_space": b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
    "double_space_after_method": b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    "double_space_before_version": b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
    "trailing_space_after_version": b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
    "leading_space_request_line": b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "tab_separator": b"GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n",
    "tab_in_target": b"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
    "http09_style": b"GET /\r\n",
    "http09_style_with_blank": b"GET /\r\n\r\n",
    "version_1_32": b"GET / HTTP/1.32\r\nHost: a\r\n\r\n",
    "version_2_0": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "version_1_2": b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    "version_0_9": b"GET / HTTP/0.9\r\n\r\n",
    "version_lowercase": b"GET / http/1.1\r\nHost: a\r\n\r\n",
    "version_missing_minor": b"GET / HTTP/1\r\nHost: a\r\n\r\n",
    "version_leading_zero": b"GET / HTTP/01.1\r\nHost: a\r\n\r\n",
    "method_very_long": b"G" * 9000 + b" / HTTP/1.1\r\nHost: a\r\n\r\n",
    "method_lowercase": b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    "method_non_token": b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_non_ascii": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_empty": b"GET  HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_too_long": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_fragment": b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_relative": b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute_form_host_mismatch": b"GET http://evil.example/a HTTP/1.1\r\nHost: good.example\r\n\r\n",
    "asterisk_get": b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    "connect_origin_form": b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
    "pri_http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "absolute_form_userinfo": b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
    "version_followed_by_tab": b"GET / HTTP/1.1\t\r\nHost: a\r\n\r\n",
    # --- Host ---------------------------------------------------------------------------------------
    "host_duplicate": b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "host_empty_http11": b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
    "host_missing_http11": b"GET / HTTP/1.1\r\n\r\n",
    "host_list": b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
    "host_with_space": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "host_with_at": b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
    "host_bad_port": b"GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n",
    "host_tab_inside": b"GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n",
    "host_ipv6": b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    # --- header syntax ------------------------------------------------------------------------------
    "name_non_token_paren": b"GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n",
    "name_non_token_slash": b"GET / HTTP/1.1\r\nHost: a\r\nX/y: z\r\n\r\n",
    "name_with_space": b"GET / HTTP/1.1\r\nHost: a\r\nX y: z\r\n\r\n",
    "name_empty": b"GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n",
    "name_non_ascii": b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: z\r\n\r\n",
    "no_colon": b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
    "space_before_first_header": b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    "obs_fold_continuation": b"GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n",
    "obs_fold_tab_continuation": b"GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n\ttwo\r\n\r\n",
    "too_many_headers": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(120)) + b"\r\n",
    "header_section_too_big": b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 70000 + b"\r\n\r\n",
    "cr_in_name": b"GET / HTTP/1.1\r\nHost: a\r\nX\rY: z\r\n\r\n",
    "value_leading_vtab": b"GET / HTTP/1.1\r\nHost: a\r\nX:\x0bv\r\n\r\n",
    "value_only_tab": b"GET / HTTP/1.1\r\nHost: a\r\nX:\t\r\n\r\n",
    "expect_100_continue": _post("Expect: 100-continue\nContent-Length: 2", b"ok"),
    "upgrade_h2c": _req(
        f"GET / HTTP/1.1\n{H}Connection: Upgrade, HTTP2-Settings\nUpgrade: h2c\n"
        "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\n\n"
    ),
    # --- pipelining ---------------------------------------------------------------------------------
    "pipelined_second_bad": _req(f"GET /1 HTTP/1.1\n{H}\n") + b"GET /2 HTTP/1.1\r\nHost: a\r\nX y: z\r\n\r\n",
    "pipelined_second_lf_only": _req(f"GET /1 HTTP/1.1\n{H}\n") + b"GET /2 HTTP/1.1\nHost: a\n\n",
    "pipelined_second_incomplete": _req(f"GET /1 HTTP/1.1\n{H}\n") + b"GET /2 HTTP/1.1\r\nHost: a\r\n",
    "pipelined_after_close": _req(f"GET /1 HTTP/1.1\n{H}Connection: close\n\n") + NEXT,
    "pipelined_http10_then_more": b"GET /1 HTTP/1.0\r\n\r\n" + NEXT,
    "pipelined_close_with_tab": _req(f"GET /1 HTTP/1.1\n{H}Connection: close\t\n\n") + NEXT,
    "pipelined_http10_keep_alive": _req("POST /1 HTTP/1.0\nConnection: keep-alive\nContent-Length: 2\n\n", b"ok")
    + b"GET /2 HTTP/1.0\r\n\r\n",
    "pipelined_chunked_then_smuggle": _chunked(b"0\r\n\r\n" + NEXT),
    "pipelined_cl_short_body_swallows": _cl("40", NEXT),
}


def load_hostile() -> list[tuple[str, bytes]]:
    return [(f"hostile/{name}", data) for name, data in HOSTILE.items()]


# ---------------------------------------------------------------------------------------------------
# Parser drivers


@dataclass
class Req:
    method: bytes
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool

    def key(self) -> tuple:
        """What is compared across parsers (header names case-insensitively, values byte-exact)."""
        return (
            self.method,
            self.target,
            self.version,
            [(n.lower(), v) for n, v in self.headers],
            self.body,
            self.keep_alive,
        )


@dataclass
class Verdict:
    kind: str  # "accept" | "refuse" | "incomplete"
    requests: list[Req] = field(default_factory=list)
    detail: str = ""

    def summary(self) -> str:
        return f"{self.kind}({len(self.requests)} req){' ' + self.detail if self.detail else ''}"


def run_tiercel(data: bytes) -> Verdict:
    try:
        from tiercel import _parser_probe
    except ImportError:
        raise RuntimeError(
            "tiercel._parser_probe is missing: install with scripts/install.sh (it builds the test-only probe with "
            "-C cmake.define.TIERCEL_BUILD_PROBES=ON)"
        ) from None
    reqs, outcome = _parser_probe.parse_requests(data)
    parsed = [Req(r["method"], r["target"], r["version"], list(r["headers"]), r["body"], r["keep_alive"]) for r in reqs]
    if isinstance(outcome, int):
        return Verdict("refuse", parsed, str(outcome))
    if outcome in ("complete", "complete-closed") and parsed:
        return Verdict("accept", parsed, outcome)
    return Verdict("incomplete", parsed, outcome)


class _LlhttpProtocol:
    def __init__(self) -> None:
        self.parser = None
        self.done: list[Req] = []
        self.begun = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_trailers = False
        self._body = b""
        self._head: tuple | None = None

    def on_message_begin(self) -> None:
        self.begun += 1
        self._url, self._headers, self._body, self._in_trailers, self._head = b"", [], b"", False, None

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_trailers:  # trailer fields are not part of the head
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_trailers = True
        self._head = (self.parser.get_method(), self.parser.get_http_version())

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        method, version = self._head
        self.done.append(
            Req(method, self._url, version, self._headers, self._body, bool(self.parser.should_keep_alive()))
        )


def run_llhttp(data: bytes) -> Verdict:
    import httptools

    proto = _LlhttpProtocol()
    parser = httptools.HttpRequestParser(proto)
    proto.parser = parser
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        # llhttp stops after the head of an Upgrade/CONNECT request: the rest belongs to the new protocol
        return Verdict("accept", proto.done, "upgrade")
    except httptools.HttpParserError as e:
        msg = str(e)
        if "after `Connection: close`" in msg and proto.done and proto.begun == len(proto.done):
            # a server closes after such a request; llhttp (strict) reports the rest as an error
            return Verdict("accept", proto.done, "closed")
        return Verdict("refuse", proto.done, f"{type(e).__name__}: {msg}")
    if proto.done and proto.begun == len(proto.done):
        return Verdict("accept", proto.done)
    return Verdict("incomplete", proto.done)


def run_h11(data: bytes) -> Verdict:
    import h11

    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    done: list[Req] = []
    cur: Req | None = None
    try:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                if cur is None and not conn.trailing_data[0] and done:
                    return Verdict("accept", done)
                return Verdict("incomplete", done)
            if ev is h11.PAUSED:  # the connection closes after the last request
                return Verdict("accept", done, "closed") if done else Verdict("incomplete", done)
            if isinstance(ev, h11.Request):
                cur = Req(ev.method, ev.target, ev.http_version.decode(), list(ev.headers.raw_items()), b"", True)
            elif isinstance(ev, h11.Data):
                assert cur is not None
                cur.body += bytes(ev.data)
            elif isinstance(ev, h11.EndOfMessage):
                assert cur is not None
                # answer (a 404 accepts no Upgrade/CONNECT), then go on with the next pipelined request
                conn.send(h11.Response(status_code=404, headers=[(b"content-length", b"0")]))
                conn.send(h11.EndOfMessage())
                cur.keep_alive = conn.their_state is h11.DONE  # else MUST_CLOSE
                done.append(cur)
                cur = None
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                else:
                    return Verdict("accept", done, "closed")
            else:  # ConnectionClosed cannot happen: no EOF is fed
                raise AssertionError(f"unexpected h11 event {ev!r}")
    except h11.RemoteProtocolError as e:
        return Verdict("refuse", done, f"RemoteProtocolError: {e}")


PEERS = {"llhttp": run_llhttp, "h11": run_h11}


def disagreement(ours: Verdict, peer: Verdict) -> str | None:
    """None when both parsers agree: same accept/refuse/incomplete and, when both accept, the same requests
    (method, target, version, header list with names compared case-insensitively and values byte-exact,
    body, keep-alive). Otherwise a description of the first difference."""
    if ours.kind != peer.kind:
        return f"outcome: Tiercel {ours.summary()} vs {peer.summary()}"
    if ours.kind != "accept":
        return None
    if len(ours.requests) != len(peer.requests):
        return f"request count: Tiercel {len(ours.requests)} vs {len(peer.requests)}"
    names = ("method", "target", "version", "headers", "body", "keep_alive")
    for i, (a, b) in enumerate(zip(ours.requests, peer.requests, strict=True)):
        for name, x, y in zip(names, a.key(), b.key(), strict=True):
            if x != y:
                return f"request {i} {name}: Tiercel {x!r} vs {y!r}"
    return None


_REQUEST_LINE_11 = re.compile(rb"(?:(?<=\r\n)|^)([!-~]+ [^\r\n ]+ HTTP/1\.1\r\n)")


def with_host(data: bytes) -> bytes:
    """`data` with a `Host: h` line after each HTTP/1.1 request line (for corpus cases written without
    one)."""
    return _REQUEST_LINE_11.sub(lambda m: m.group(1) + b"Host: h\r\n", data)
