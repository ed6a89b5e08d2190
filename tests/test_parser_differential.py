"""Differential test of Tiercel's HTTP/1.1 request parser against httptools (llhttp) and h11.

DESIGN §6/§7: the parser is Tiercel's own and must be at least as strict as llhttp's default (strict) mode.
Every input below is parsed three times, the way a server connection would (pipelined requests, stop after
a request that closes the connection): by the core parser through the test-only `tiercel._parser_probe`,
by httptools.HttpRequestParser and by h11 (see differential_cases.py for the inputs and the drivers).
The outcomes (accept / refuse / incomplete) are compared and, where both accept, every request's method,
target, version, header list (names case-insensitively, values byte-exact), body and keep-alive.

Inputs: every case of the project's table tests/request_cases.txt (ids "table/<id>"; Tiercel's own verdict
on each is checked against the table too, here through the Python hook and in tests/native through the
core), and hand-written hostile requests (differential_cases.HOSTILE, ids "hostile/<name>"). Each (case,
peer) pair is its own test.

Every disagreement must be listed in KNOWN_DISAGREEMENTS with its reason, and every entry there must still
be a disagreement: a new disagreement fails, and so does a stale entry. NO_HOST entries are checked
further: with a `Host` line added to each HTTP/1.1 request the two parsers must agree completely.
Where Tiercel is LESS strict than llhttp on framing (a smuggling risk), the pair is not "known" but a
parser bug, listed in SUSPECTED_BUGS and marked xfail(strict=True): it turns into a failure (XPASS) once
the parser is fixed, and the entry must then be removed.
"""

from __future__ import annotations

import collections
import functools

import differential_cases as dc
import pytest

TABLE: dict[str, dc.Case] = {f"table/{c.id}": c for c in dc.load_table()}
CASES: dict[str, bytes] = {cid: c.data for cid, c in TABLE.items()} | dict(dc.load_hostile())

# ---------------------------------------------------------------------------------------------------
# Reasons, one line each. L_ = about llhttp, H_ = about h11, the others apply to both peers.

NO_HOST = "HTTP/1.1 without Host: 400 (RFC 9112 §3.2, DESIGN §6); they agree once a Host is added"

L_TRAILING_OWS = "llhttp keeps trailing SP/HTAB in a field value; Tiercel strips OWS (RFC 9110 §5.5)"
L_UPGRADE_TAIL = "llhttp stops after an Upgrade head; Tiercel reads the body and what follows as HTTP (RFC 9110 §7.8)"
L_METHOD_TOKEN = "llhttp only knows its method table; any token is a method (RFC 9110 §9.1), router 501s"
L_VERSION_AT_LINE_END = "input ends in `HTTP/5.6`: Tiercel waits for the line end; llhttp refuses"
L_NOT_HTTP_PROTOCOL = "only HTTP-version is accepted; llhttp also parses ICE/1.0 and RTSP/1.0 request lines"
L_HTTP09 = "HTTP/0.9 request line (no version): Tiercel refuses (400); llhttp accepts it as HTTP/0.9"
L_HTTP09_WAIT = "HTTP/0.9 request line (no version): Tiercel refuses (400); llhttp waits for more"
L_TE_CODING = "no transfer coding but chunked is decoded: `x, chunked` is 501 (DESIGN §6); llhttp accepts"
L_TE_REPEATED = "Transfer-Encoding on two field lines: refused (DESIGN §6); llhttp accepts a final chunked"
L_TE_LEADING_COMMA = "`Transfer-Encoding: ,chunked`: refused (DESIGN §6); llhttp skips the empty element"
L_HOST_REPEATED = "two Host fields: refused (RFC 9112 §3.2, DESIGN §6); llhttp does not look at Host"
L_HOST_MISSING = "a pipelined HTTP/1.1 request without Host: 400 (RFC 9112 §3.2); llhttp does not look at Host"
L_REQUEST_LINE_SPACES = "request line with a double space: refused (DESIGN §6); llhttp skips extra spaces"
L_LEADING_BARE_LF = "bare LF before the request line: refused (DESIGN §6, bare LF); llhttp skips it"
L_LEADING_BARE_CR = "bare CR before the request line: refused (RFC 9112 §2.2); llhttp skips it"
L_TRAILING_CRLF = "an empty line after the last request: Tiercel holds it for a next request line; llhttp drops it"

H_BARE_LF = "h11 is lenient: accepts bare LF line endings; Tiercel refuses per DESIGN §6"
H_BARE_LF_WAIT = "h11 takes bare LF as a line end and waits for more; Tiercel refuses bare LF (DESIGN §6)"
H_BARE_CR_WAIT = "bare CR: Tiercel refuses (DESIGN §6); h11 sees no line end and waits for more"
H_OBS_FOLD = "h11 is lenient: unfolds obs-fold (line starting with SP/HTAB); Tiercel refuses (DESIGN §6)"
H_HEAD_UNFINISHED = "the head never ends: h11 checks only complete heads and waits; Tiercel refuses early"
H_CL_WITH_TE = "h11 accepts Content-Length with Transfer-Encoding (TE wins); Tiercel refuses (DESIGN §6)"
H_CL_REPEATED = "h11 accepts repeated/listed identical Content-Length; Tiercel refuses (DESIGN §6)"
H_BIG_NUMBERS = "h11 reads huge Content-Length/chunk sizes as Python ints and waits; Tiercel refuses"
H_LONG_NUMBERS = "h11 refuses a number of over 20 digits even when leading zeros keep it small (1*DIGIT, 1*HEXDIG)"
H_CTL_IN_VALUE = "h11 accepts control bytes (BEL, ESC, DEL) in field values; Tiercel refuses (DESIGN §6)"
H_CHUNK_EXT = "h11 does not check chunk extensions; Tiercel checks their syntax (RFC 9112 §7.1.1)"
H_TARGET_FORM = "h11 does not match the request-target form to the method; Tiercel does (RFC 9112 §3.2)"
H_LEADING_EMPTY_LINE = "h11 refuses an empty line before a request line; RFC 9112 §2.2 lets servers skip it"
H_HTTP10_CLOSE = "h11 never keeps an HTTP/1.0 connection alive (ignores `Connection: keep-alive`)"
H_TE_LOWERCASED = "h11 reports the Transfer-Encoding value lowercased; Tiercel keeps the bytes as sent"

ASTERISK_NOT_OPTIONS = "`*` is a target for OPTIONS only, and `*x` is none: refused (RFC 9112 §3.2.4)"
CONNECT_NOT_AUTHORITY = "CONNECT with a target other than host:port: refused (RFC 9112 §3.2.3)"
BAD_ABSOLUTE_TARGET = "absolute-form that is no http(s) URI with a host: refused (RFC 9112 §3.2.2); the peer accepts"
TE_ON_HTTP10 = "Transfer-Encoding on HTTP/1.0: Tiercel refuses per DESIGN §6; the peer decodes it"
VERSION_505 = "well-formed version other than HTTP/1.0 or 1.1: Tiercel answers 505; the peer accepts"
HOST_SYNTAX = "Host value is no uri-host[:port]: refused (RFC 9112 §3.2); the peer does not check it"
CONTENT_TYPE_REPEATED = "repeated Content-Type (a singleton field): refused (RFC 9110 §5.3, as gunicorn does)"
TRAILER_FORBIDDEN_FIELD = "Content-Length/Transfer-Encoding/Host in a trailer: refused (RFC 9110 §6.5.1)"
EXT_EMPTY_VALUE = "chunk extension `a=` without a value: refused (RFC 9112 §7.1.1); the peer accepts it"
LIMIT_HEADER_COUNT = "over max_header_count (100): 431; the peer has no such limit"
LIMIT_HEADER_BYTES = "header section over max_header_bytes (64 KiB): 431; the peer has no limit here"
LIMIT_TRAILER_BYTES = "trailer section over max_trailer_bytes (16 KiB): 431; the peer has no limit here"
LIMIT_REQUEST_LINE = "request line over max_request_line (8 KiB): 414; the peer has no limit here"
LIMIT_BODY = "body over max_body (16 MiB) by Content-Length or chunk size: 413 at once; the peer waits"
LIMIT_CHUNK_LINE = "chunk-size line over 4 KiB: Tiercel refuses unbounded chunk extensions (DESIGN §6)"

# Tiercel LESS strict than llhttp on framing would be a parser bug: list it here (xfail until fixed).
# The two found so far (a tab in Transfer-Encoding, whitespace on the chunk-size line) are fixed.
SUSPECTED_BUGS: dict[tuple[str, str], str] = {}

H_CHUNK_LINE_WS = "h11 accepts whitespace around `;`/`=` in chunk extensions (RFC BWS); Tiercel refuses, as llhttp"
H_TE_TAB = "h11 strips a tab around `chunked`; Tiercel refuses a tab in Transfer-Encoding, as llhttp (TE.TE)"

L_TE_TAB = "llhttp allows a leading tab (OWS) before `chunked`; Tiercel refuses any tab in Transfer-Encoding"

KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {
    ("llhttp", "table/line.method_unknown_token"): L_METHOD_TOKEN,
    ("llhttp", "table/line.method_starts_with_h"): L_METHOD_TOKEN,
    ("llhttp", "table/line.method_tchar_symbols"): L_METHOD_TOKEN,
    ("llhttp", "table/line.method_lowercase"): L_METHOD_TOKEN,
    ("llhttp", "table/line.method_digits"): L_METHOD_TOKEN,
    ("h11", "table/line.method_too_long"): LIMIT_REQUEST_LINE,
    ("llhttp", "table/line.connect_caps_lowercase"): L_METHOD_TOKEN,
    ("llhttp", "table/line.double_space_after_method"): L_REQUEST_LINE_SPACES,
    ("llhttp", "table/line.double_space_before_version"): L_REQUEST_LINE_SPACES,
    ("llhttp", "table/line.http09"): L_HTTP09,
    ("llhttp", "table/line.http09_no_blank"): L_HTTP09_WAIT,
    ("h11", "table/line.http09_no_blank"): H_HEAD_UNFINISHED,
    ("h11", "table/line.bare_lf_end"): H_BARE_LF,
    ("llhttp", "table/line.too_long"): LIMIT_REQUEST_LINE,
    ("h11", "table/line.too_long"): LIMIT_REQUEST_LINE,
    ("llhttp", "table/line.too_long_unfinished"): LIMIT_REQUEST_LINE,
    ("h11", "table/line.too_long_unfinished"): LIMIT_REQUEST_LINE,
    ("h11", "table/line.leading_crlf"): H_LEADING_EMPTY_LINE,
    ("llhttp", "table/line.leading_bare_lf"): L_LEADING_BARE_LF,
    ("llhttp", "table/line.leading_bare_cr"): L_LEADING_BARE_CR,
    ("h11", "table/version.http12"): VERSION_505,
    ("llhttp", "table/version.http20"): VERSION_505,
    ("h11", "table/version.http20"): VERSION_505,
    ("llhttp", "table/version.http09_explicit"): VERSION_505,
    ("h11", "table/version.http09_explicit"): VERSION_505,
    ("h11", "table/version.http30"): VERSION_505,
    ("h11", "table/version.http56"): VERSION_505,
    ("llhttp", "table/version.ice"): L_NOT_HTTP_PROTOCOL,
    ("llhttp", "table/version.rtsp"): L_NOT_HTTP_PROTOCOL,
    ("llhttp", "table/version.rtsp_announce"): L_NOT_HTTP_PROTOCOL,
    ("llhttp", "table/version.unfinished_wellformed"): L_VERSION_AT_LINE_END,
    ("h11", "table/target.relative"): H_TARGET_FORM,
    ("h11", "table/target.query_only"): H_TARGET_FORM,
    ("llhttp", "table/target.absolute_bad_authority"): BAD_ABSOLUTE_TARGET,
    ("h11", "table/target.absolute_bad_authority"): BAD_ABSOLUTE_TARGET,
    ("llhttp", "table/target.absolute_empty_host"): BAD_ABSOLUTE_TARGET,
    ("h11", "table/target.absolute_empty_host"): BAD_ABSOLUTE_TARGET,
    ("llhttp", "table/target.authority_connect_no_port"): CONNECT_NOT_AUTHORITY,
    ("h11", "table/target.authority_connect_no_port"): CONNECT_NOT_AUTHORITY,
    ("llhttp", "table/target.authority_connect_origin"): CONNECT_NOT_AUTHORITY,
    ("h11", "table/target.authority_connect_origin"): CONNECT_NOT_AUTHORITY,
    ("llhttp", "table/target.authority_connect_absolute"): CONNECT_NOT_AUTHORITY,
    ("h11", "table/target.authority_connect_absolute"): CONNECT_NOT_AUTHORITY,
    ("h11", "table/target.authority_get"): H_TARGET_FORM,
    ("llhttp", "table/target.authority_userinfo"): CONNECT_NOT_AUTHORITY,
    ("h11", "table/target.authority_userinfo"): CONNECT_NOT_AUTHORITY,
    ("llhttp", "table/target.asterisk_get"): ASTERISK_NOT_OPTIONS,
    ("h11", "table/target.asterisk_get"): ASTERISK_NOT_OPTIONS,
    ("llhttp", "table/target.asterisk_msearch"): ASTERISK_NOT_OPTIONS,
    ("h11", "table/target.asterisk_msearch"): ASTERISK_NOT_OPTIONS,
    ("llhttp", "table/target.asterisk_extra"): ASTERISK_NOT_OPTIONS,
    ("h11", "table/target.asterisk_extra"): ASTERISK_NOT_OPTIONS,
    ("llhttp", "table/field.content_type_repeated"): CONTENT_TYPE_REPEATED,
    ("h11", "table/field.content_type_repeated"): CONTENT_TYPE_REPEATED,
    ("llhttp", "table/value.ows_stripped"): L_TRAILING_OWS,
    ("llhttp", "table/value.tab_ows_stripped"): L_TRAILING_OWS,
    ("h11", "table/value.bel"): H_CTL_IN_VALUE,
    ("h11", "table/value.backspace"): H_CTL_IN_VALUE,
    ("h11", "table/value.esc"): H_CTL_IN_VALUE,
    ("h11", "table/value.unit_separator"): H_CTL_IN_VALUE,
    ("h11", "table/value.del"): H_CTL_IN_VALUE,
    ("h11", "table/value.obs_fold_space"): H_OBS_FOLD,
    ("h11", "table/value.obs_fold_tab"): H_OBS_FOLD,
    ("h11", "table/value.obs_fold_empty_first"): H_OBS_FOLD,
    ("h11", "table/value.obs_fold_connection"): H_OBS_FOLD,
    ("h11", "table/value.obs_fold_bare_lf"): H_OBS_FOLD,
    ("h11", "table/value.obs_fold_huge"): H_OBS_FOLD,
    ("h11", "table/eol.lf_only"): H_BARE_LF,
    ("h11", "table/eol.lf_header_line"): H_BARE_LF,
    ("h11", "table/eol.lf_final"): H_BARE_LF,
    ("h11", "table/eol.lf_between_fields"): H_BARE_LF,
    ("h11", "table/eol.cr_only"): H_BARE_CR_WAIT,
    ("h11", "table/eol.cr_empty_headers"): H_BARE_CR_WAIT,
    ("h11", "table/eol.cr_then_body"): H_BARE_CR_WAIT,
    ("h11", "table/eol.two_leading_crlf"): H_LEADING_EMPTY_LINE,
    ("h11", "table/eol.crlf_between_requests"): H_LEADING_EMPTY_LINE,
    ("llhttp", "table/eol.crlf_after_last_request"): L_TRAILING_CRLF,
    ("h11", "table/eol.crlf_after_last_request"): H_LEADING_EMPTY_LINE,
    ("llhttp", "table/host.trailing_ows"): L_TRAILING_OWS,
    ("llhttp", "table/host.missing"): NO_HOST,
    ("llhttp", "table/host.missing_with_fields"): NO_HOST,
    ("llhttp", "table/host.missing_absolute_form"): NO_HOST,
    ("llhttp", "table/host.duplicate"): L_HOST_REPEATED,
    ("llhttp", "table/host.duplicate_same"): L_HOST_REPEATED,
    ("llhttp", "table/host.duplicate_http10"): L_HOST_REPEATED,
    ("llhttp", "table/host.list"): HOST_SYNTAX,
    ("h11", "table/host.list"): HOST_SYNTAX,
    ("llhttp", "table/host.space_inside"): HOST_SYNTAX,
    ("h11", "table/host.space_inside"): HOST_SYNTAX,
    ("llhttp", "table/host.tab_inside"): HOST_SYNTAX,
    ("h11", "table/host.tab_inside"): HOST_SYNTAX,
    ("llhttp", "table/host.userinfo"): HOST_SYNTAX,
    ("h11", "table/host.userinfo"): HOST_SYNTAX,
    ("llhttp", "table/host.two_colons"): HOST_SYNTAX,
    ("h11", "table/host.two_colons"): HOST_SYNTAX,
    ("llhttp", "table/host.port_letters"): HOST_SYNTAX,
    ("h11", "table/host.port_letters"): HOST_SYNTAX,
    ("llhttp", "table/host.slash"): HOST_SYNTAX,
    ("h11", "table/host.slash"): HOST_SYNTAX,
    ("llhttp", "table/host.unclosed_ipv6"): HOST_SYNTAX,
    ("h11", "table/host.unclosed_ipv6"): HOST_SYNTAX,
    ("llhttp", "table/host.non_ascii"): HOST_SYNTAX,
    ("h11", "table/host.non_ascii"): HOST_SYNTAX,
    ("h11", "table/cl.many_zeros"): H_LONG_NUMBERS,
    ("llhttp", "table/cl.ows_spaces"): L_TRAILING_OWS,
    ("llhttp", "table/cl.ows_tabs"): L_TRAILING_OWS,
    ("llhttp", "table/cl.over_max_body"): LIMIT_BODY,
    ("h11", "table/cl.over_max_body"): LIMIT_BODY,
    ("llhttp", "table/cl.huge"): LIMIT_BODY,
    ("h11", "table/cl.huge"): LIMIT_BODY,
    ("llhttp", "table/cl.long_body_next_unfinished"): L_METHOD_TOKEN,
    ("h11", "table/cl.overflow_2_pow_64"): H_BIG_NUMBERS,
    ("h11", "table/cl.overflow_2_pow_64_plus_3"): H_BIG_NUMBERS,
    ("h11", "table/cl.list_same"): H_CL_REPEATED,
    ("h11", "table/cl.list_same_no_space"): H_CL_REPEATED,
    ("h11", "table/cl.repeated_same"): H_CL_REPEATED,
    ("h11", "table/cl.repeated_case"): H_CL_REPEATED,
    ("h11", "table/cl.obs_fold"): H_OBS_FOLD,
    ("h11", "table/te.chunked_uppercase"): H_TE_LOWERCASED,
    ("h11", "table/te.chunked_mixed_case"): H_TE_LOWERCASED,
    ("llhttp", "table/te.ows_space"): L_TRAILING_OWS,
    ("llhttp", "table/te.tab_before"): L_TE_TAB,
    ("h11", "table/te.tab_before"): H_TE_TAB,
    ("h11", "table/te.tab_after"): H_TE_TAB,
    ("h11", "table/te.obs_fold"): H_OBS_FOLD,
    ("llhttp", "table/te.gzip_chunked"): L_TE_CODING,
    ("llhttp", "table/te.deflate_chunked"): L_TE_CODING,
    ("llhttp", "table/te.gzip_chunked_no_space"): L_TE_CODING,
    ("llhttp", "table/te.identity_chunked"): L_TE_CODING,
    ("llhttp", "table/te.leading_comma"): L_TE_LEADING_COMMA,
    ("llhttp", "table/te.repeated_gzip_then_chunked"): L_TE_REPEATED,
    ("llhttp", "table/te.repeated_identity_then_chunked"): L_TE_REPEATED,
    ("llhttp", "table/te.repeated_split_by_field"): L_TE_REPEATED,
    ("h11", "table/te.tab_before_with_cl"): H_CL_WITH_TE,
    ("h11", "table/te.with_cl"): H_CL_WITH_TE,
    ("h11", "table/te.with_cl_te_first"): H_CL_WITH_TE,
    ("h11", "table/te.with_cl_zero"): H_CL_WITH_TE,
    ("llhttp", "table/te.http10"): TE_ON_HTTP10,
    ("h11", "table/te.http10"): TE_ON_HTTP10,
    ("h11", "table/te.http10_with_cl"): H_CL_WITH_TE,
    ("llhttp", "table/te.http10_host"): TE_ON_HTTP10,
    ("h11", "table/te.http10_host"): TE_ON_HTTP10,
    ("h11", "table/chunk.many_leading_zeros"): H_LONG_NUMBERS,
    ("h11", "table/chunk.overflow"): H_BIG_NUMBERS,
    ("h11", "table/chunk.overflow_wraps_to_5"): H_BIG_NUMBERS,
    ("llhttp", "table/chunk.over_max_body"): LIMIT_BODY,
    ("h11", "table/chunk.over_max_body"): LIMIT_BODY,
    ("h11", "table/chunk.space_after_size"): H_CHUNK_EXT,
    ("h11", "table/chunk.tab_after_size"): H_CHUNK_EXT,
    ("h11", "table/chunk.last_bare_lf"): H_BARE_LF_WAIT,
    ("h11", "table/chunk.last_space_after"): H_CHUNK_EXT,
    ("llhttp", "table/ext.too_long"): LIMIT_CHUNK_LINE,
    ("h11", "table/ext.too_long"): LIMIT_CHUNK_LINE,
    ("h11", "table/ext.empty_after_semicolon"): H_CHUNK_EXT,
    ("llhttp", "table/ext.empty_value"): EXT_EMPTY_VALUE,
    ("h11", "table/ext.empty_value"): EXT_EMPTY_VALUE,
    ("h11", "table/ext.space_after_semicolon"): H_CHUNK_LINE_WS,
    ("h11", "table/ext.space_around_equals"): H_CHUNK_LINE_WS,
    ("h11", "table/ext.space_after_value"): H_CHUNK_EXT,
    ("h11", "table/ext.non_token_name"): H_CHUNK_EXT,
    ("h11", "table/ext.non_token_value"): H_CHUNK_EXT,
    ("h11", "table/ext.unbalanced_quote"): H_CHUNK_EXT,
    ("h11", "table/ext.quoted_ctl"): H_CHUNK_EXT,
    ("h11", "table/ext.bare_cr_inside"): H_CHUNK_EXT,
    ("h11", "table/ext.nul"): H_CHUNK_EXT,
    ("h11", "table/trailer.content_length"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "table/trailer.transfer_encoding"): TRAILER_FORBIDDEN_FIELD,
    ("llhttp", "table/trailer.host"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "table/trailer.host"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "table/trailer.obs_fold"): H_OBS_FOLD,
    ("h11", "table/trailer.bare_lf"): H_BARE_LF,
    ("llhttp", "table/trailer.too_large"): LIMIT_TRAILER_BYTES,
    ("h11", "table/trailer.too_large"): LIMIT_TRAILER_BYTES,
    ("llhttp", "table/conn.close_trailing_tab"): L_TRAILING_OWS,
    ("llhttp", "table/conn.keep_alive_lws"): L_TRAILING_OWS,
    ("h11", "table/conn.http10_keep_alive"): H_HTTP10_CLOSE,
    ("h11", "table/conn.http10_keep_alive_body"): H_HTTP10_CLOSE,
    ("h11", "table/conn.second_bare_lf"): H_BARE_LF,
    ("llhttp", "table/conn.second_no_host"): L_HOST_MISSING,
    ("llhttp", "table/conn.upgrade_post_body"): L_UPGRADE_TAIL,
    ("llhttp", "table/limit.headers_101"): LIMIT_HEADER_COUNT,
    ("h11", "table/limit.headers_101"): LIMIT_HEADER_COUNT,
    ("llhttp", "table/limit.headers_many"): LIMIT_HEADER_COUNT,
    ("h11", "table/limit.headers_many"): LIMIT_HEADER_COUNT,
    ("llhttp", "table/limit.header_section_over"): LIMIT_HEADER_BYTES,
    ("h11", "table/limit.header_section_over"): LIMIT_HEADER_BYTES,
    ("llhttp", "table/limit.header_section_over_unfinished"): LIMIT_HEADER_BYTES,
    ("llhttp", "table/limit.request_line_9k"): LIMIT_REQUEST_LINE,
    ("h11", "table/limit.request_line_9k"): LIMIT_REQUEST_LINE,
    ("llhttp", "table/limit.query_too_long"): LIMIT_REQUEST_LINE,
    ("h11", "table/limit.query_too_long"): LIMIT_REQUEST_LINE,
    ("llhttp", "table/limit.body_chunked_total"): LIMIT_BODY,
    ("h11", "table/limit.body_chunked_total"): LIMIT_BODY,
    ("h11", "table/wait.empty_line_only"): H_LEADING_EMPTY_LINE,
    ("llhttp", "hostile/te_tab_before_value"): L_TE_TAB,
    ("h11", "hostile/te_tab_before_value"): H_TE_TAB,
    ("h11", "hostile/te_tab_after_value"): H_TE_TAB,
    ("h11", "hostile/te_space_tab_after_value"): H_TE_TAB,
    ("h11", "hostile/chunk_ext_space_after_semicolon"): H_CHUNK_LINE_WS,
    ("h11", "hostile/chunk_ext_space_around_equals"): H_CHUNK_LINE_WS,
    ("h11", "hostile/chunk_ext_value_space_semicolon"): H_CHUNK_LINE_WS,
    ("llhttp", "hostile/te_identity_chunked"): L_TE_CODING,
    ("llhttp", "hostile/te_leading_comma"): L_TE_LEADING_COMMA,
    ("llhttp", "hostile/te_duplicate_identity_first"): L_TE_REPEATED,
    ("llhttp", "hostile/te_space_after_value"): L_TRAILING_OWS,
    ("llhttp", "hostile/te_tab_before_comma"): L_TE_CODING,
    ("llhttp", "hostile/te_on_http10"): TE_ON_HTTP10,
    ("llhttp", "hostile/cl_over_max_body"): LIMIT_BODY,
    ("llhttp", "hostile/cl_tab_after_value"): L_TRAILING_OWS,
    ("llhttp", "hostile/chunk_ext_5000_bytes"): LIMIT_CHUNK_LINE,
    ("llhttp", "hostile/leading_bare_lf"): L_LEADING_BARE_LF,
    ("llhttp", "hostile/double_space_after_method"): L_REQUEST_LINE_SPACES,
    ("llhttp", "hostile/double_space_before_version"): L_REQUEST_LINE_SPACES,
    ("llhttp", "hostile/http09_style"): L_HTTP09_WAIT,
    ("llhttp", "hostile/http09_style_with_blank"): L_HTTP09,
    ("llhttp", "hostile/version_2_0"): VERSION_505,
    ("llhttp", "hostile/version_0_9"): VERSION_505,
    ("llhttp", "hostile/method_lowercase"): L_METHOD_TOKEN,
    ("llhttp", "hostile/target_too_long"): LIMIT_REQUEST_LINE,
    ("llhttp", "hostile/asterisk_get"): ASTERISK_NOT_OPTIONS,
    ("llhttp", "hostile/connect_origin_form"): CONNECT_NOT_AUTHORITY,
    ("llhttp", "hostile/host_duplicate"): L_HOST_REPEATED,
    ("llhttp", "hostile/host_missing_http11"): NO_HOST,
    ("llhttp", "hostile/host_list"): HOST_SYNTAX,
    ("llhttp", "hostile/host_with_space"): HOST_SYNTAX,
    ("llhttp", "hostile/host_with_at"): HOST_SYNTAX,
    ("llhttp", "hostile/host_bad_port"): HOST_SYNTAX,
    ("llhttp", "hostile/host_tab_inside"): HOST_SYNTAX,
    ("llhttp", "hostile/too_many_headers"): LIMIT_HEADER_COUNT,
    ("llhttp", "hostile/header_section_too_big"): LIMIT_HEADER_BYTES,
    ("llhttp", "hostile/pipelined_close_with_tab"): L_TRAILING_OWS,
    ("h11", "hostile/clte_both"): H_CL_WITH_TE,
    ("h11", "hostile/tecl_both"): H_CL_WITH_TE,
    ("h11", "hostile/clte_cl_zero_with_te"): H_CL_WITH_TE,
    ("h11", "hostile/te_uppercase"): H_TE_LOWERCASED,
    ("h11", "hostile/te_on_http10_with_cl"): H_CL_WITH_TE,
    ("h11", "hostile/te_obs_fold"): H_OBS_FOLD,
    ("h11", "hostile/te_on_http10"): TE_ON_HTTP10,
    ("h11", "hostile/cl_list_same"): H_CL_REPEATED,
    ("h11", "hostile/cl_list_comma"): H_CL_REPEATED,
    ("h11", "hostile/cl_duplicate_same"): H_CL_REPEATED,
    ("h11", "hostile/cl_2_pow_64"): H_BIG_NUMBERS,
    ("h11", "hostile/cl_over_max_body"): LIMIT_BODY,
    ("h11", "hostile/chunk_overflow"): H_BIG_NUMBERS,
    ("h11", "hostile/chunk_overflow_wraps_to_5"): H_BIG_NUMBERS,
    ("h11", "hostile/chunk_size_space_before_crlf"): H_CHUNK_EXT,
    ("h11", "hostile/chunk_ext_bare_cr"): H_CHUNK_EXT,
    ("h11", "hostile/chunk_last_bare_lf"): H_BARE_LF_WAIT,
    ("h11", "hostile/chunk_trailer_bare_lf"): H_BARE_LF,
    ("h11", "hostile/chunk_trailer_obs_fold"): H_OBS_FOLD,
    ("h11", "hostile/chunk_trailer_cl_smuggle"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "hostile/chunk_ext_value_trailing_space"): H_CHUNK_EXT,
    ("h11", "hostile/chunk_ext_non_token"): H_CHUNK_EXT,
    ("h11", "hostile/chunk_ext_quoted_ctl"): H_CHUNK_EXT,
    ("h11", "hostile/chunk_ext_5000_bytes"): LIMIT_CHUNK_LINE,
    ("h11", "hostile/chunk_trailer_te"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "hostile/lf_only"): H_BARE_LF,
    ("h11", "hostile/lf_only_request_line"): H_BARE_LF,
    ("h11", "hostile/lf_only_header_line"): H_BARE_LF,
    ("h11", "hostile/lf_only_final"): H_BARE_LF,
    ("h11", "hostile/cr_only"): H_BARE_CR_WAIT,
    ("h11", "hostile/leading_crlf"): H_LEADING_EMPTY_LINE,
    ("h11", "hostile/del_in_value"): H_CTL_IN_VALUE,
    ("h11", "hostile/esc_in_value"): H_CTL_IN_VALUE,
    ("h11", "hostile/http09_style"): H_HEAD_UNFINISHED,
    ("h11", "hostile/version_2_0"): VERSION_505,
    ("h11", "hostile/version_1_2"): VERSION_505,
    ("h11", "hostile/version_0_9"): VERSION_505,
    ("h11", "hostile/method_very_long"): LIMIT_REQUEST_LINE,
    ("h11", "hostile/target_too_long"): LIMIT_REQUEST_LINE,
    ("h11", "hostile/target_relative"): H_TARGET_FORM,
    ("h11", "hostile/asterisk_get"): ASTERISK_NOT_OPTIONS,
    ("h11", "hostile/connect_origin_form"): CONNECT_NOT_AUTHORITY,
    ("h11", "hostile/host_list"): HOST_SYNTAX,
    ("h11", "hostile/host_with_space"): HOST_SYNTAX,
    ("h11", "hostile/host_with_at"): HOST_SYNTAX,
    ("h11", "hostile/host_bad_port"): HOST_SYNTAX,
    ("h11", "hostile/host_tab_inside"): HOST_SYNTAX,
    ("h11", "hostile/obs_fold_continuation"): H_OBS_FOLD,
    ("h11", "hostile/obs_fold_tab_continuation"): H_OBS_FOLD,
    ("h11", "hostile/too_many_headers"): LIMIT_HEADER_COUNT,
    ("h11", "hostile/header_section_too_big"): LIMIT_HEADER_BYTES,
    ("h11", "hostile/pipelined_second_lf_only"): H_BARE_LF,
    ("h11", "hostile/pipelined_http10_keep_alive"): H_HTTP10_CLOSE,
}

# ---------------------------------------------------------------------------------------------------


@functools.cache
def _tiercel(case_id: str) -> dc.Verdict:
    return dc.run_tiercel(CASES[case_id])


def _params():
    for case_id in CASES:
        for peer in dc.PEERS:
            bug = SUSPECTED_BUGS.get((peer, case_id))
            marks = [pytest.mark.xfail(strict=True, reason=f"parser bug: {bug}")] if bug else []
            yield pytest.param(case_id, peer, id=f"{case_id}--vs-{peer}", marks=marks)


@pytest.mark.parametrize(("case_id", "peer"), list(_params()))
def test_parser_agrees(case_id: str, peer: str) -> None:
    data = CASES[case_id]
    ours, theirs = _tiercel(case_id), dc.PEERS[peer](data)
    diff = dc.disagreement(ours, theirs)
    known = KNOWN_DISAGREEMENTS.get((peer, case_id))
    if known is None:
        assert diff is None, f"new disagreement with {peer} on {data[:200]!r}: {diff}"
        return
    assert diff is not None, f"stale KNOWN_DISAGREEMENTS entry ({peer!r}, {case_id!r}): both now say {ours.summary()}"
    if known == NO_HOST:
        fixed = dc.with_host(data)
        assert fixed != data
        again = dc.disagreement(dc.run_tiercel(fixed), dc.PEERS[peer](fixed))
        assert again is None, f"listed as NO_HOST, but with a Host line added they still differ: {again}"


def test_tables_name_real_cases() -> None:
    for table in (KNOWN_DISAGREEMENTS, SUSPECTED_BUGS):
        for peer, case_id in table:
            assert peer in dc.PEERS, peer
            assert case_id in CASES, f"no such case: {case_id}"
    assert not KNOWN_DISAGREEMENTS.keys() & SUSPECTED_BUGS.keys()


@pytest.mark.parametrize("case_id", list(TABLE))
def test_tiercel_matches_table(case_id: str) -> None:
    case = TABLE[case_id]
    mismatch = dc.table_mismatch(case, _tiercel(case_id))
    assert mismatch is None, f"{case.what} ({case.rfc}): {mismatch}"


def test_table_loaded() -> None:
    """The table is read from the repository and keeps its breadth: every topic, verdict and status."""
    cases = list(TABLE.values())
    assert len(cases) >= 400, len(cases)
    topics = collections.Counter(c.id.split(".")[0] for c in cases)
    least = {"line": 40, "version": 15, "target": 30, "field": 20, "value": 30, "eol": 10, "host": 20, "cl": 40}
    least |= {"te": 40, "chunk": 25, "ext": 20, "trailer": 10, "conn": 20, "limit": 8, "wait": 8}
    short = {t: topics[t] for t, n in least.items() if topics[t] < n}
    assert short == {}, f"topics with fewer cases than before: {short}"
    assert {c.kind for c in cases} == {"accept", "refuse", "incomplete"}
    assert {c.status for c in cases if c.status} == {400, 413, 414, 431, 501, 505}
    assert any(c.requests > 1 for c in cases) and any(c.checks for c in cases)
    assert sum(1 for c in CASES if c.startswith("hostile/")) >= 60
