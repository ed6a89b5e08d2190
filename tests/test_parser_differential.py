"""Differential test of Tiercel's HTTP/1.1 request parser against httptools (llhttp) and h11.

DESIGN §6/§7: the parser is Tiercel's own and must be at least as strict as llhttp's default (strict) mode.
Every input below is parsed three times, the way a server connection would (pipelined requests, stop after
a request that closes the connection): by the core parser through the `_core.parse_requests` test hook,
by httptools.HttpRequestParser and by h11 (see differential_cases.py for the inputs and the drivers).
The outcomes (accept / refuse / incomplete) are compared and, where both accept, every request's method,
target, version, header list (names case-insensitively, values byte-exact), body and keep-alive.

Inputs: every "request" case of the llhttp corpus, every gunicorn valid/invalid case, and hand-written
hostile requests (differential_cases.HOSTILE). Each (case, peer) pair is its own test.

Every disagreement must be listed in KNOWN_DISAGREEMENTS with its reason, and every entry there must still
be a disagreement: a new disagreement fails, and so does a stale entry. NO_HOST entries are checked
further: with a `Host` line added to each HTTP/1.1 request the two parsers must agree completely.
Where Tiercel is LESS strict than llhttp on framing (a smuggling risk), the pair is not "known" but a
parser bug, listed in SUSPECTED_BUGS and marked xfail(strict=True): it turns into a failure (XPASS) once
the parser is fixed, and the entry must then be removed.
"""

from __future__ import annotations

import functools

import differential_cases as dc
import pytest

CASES: dict[str, bytes] = dict(dc.load_llhttp() + dc.load_gunicorn() + dc.load_hostile())

# ---------------------------------------------------------------------------------------------------
# Reasons, one line each. L_ = about llhttp, H_ = about h11, the others apply to both peers.

NO_HOST = "HTTP/1.1 without Host: 400 (RFC 9112 §3.2, DESIGN §6); they agree once a Host is added"

L_TRAILING_OWS = "llhttp keeps trailing SP/HTAB in a field value; Tiercel strips OWS (RFC 9110 §5.5)"
L_NO_HOST_AND_TRAILING_OWS = "no Host (400); with one, llhttp keeps the value's trailing HTAB (OWS)"
L_UPGRADE_TAIL = "llhttp stops after an Upgrade head; Tiercel parses what follows as HTTP (RFC 9110 §7.8)"
L_NO_HOST_AND_UPGRADE_TAIL = "no Host (400); with one, Tiercel parses bytes after the Upgrade head as HTTP"
L_METHOD_TOKEN = "llhttp only knows its method table; any token is a method (RFC 9110 §9.1), router 501s"
L_VERSION_AT_LINE_END = "input ends in `HTTP/5.6`: Tiercel waits for the line end; llhttp refuses"
L_CONNECT_BODY = "llhttp gives bytes after a CONNECT head to the tunnel; Tiercel frames by Content-Length"
L_NOT_HTTP_PROTOCOL = "only HTTP-version is accepted; llhttp also parses ICE/1.0 and RTSP/1.0 request lines"
L_HTTP09 = "HTTP/0.9 request line (no version): Tiercel refuses (400); llhttp accepts it as HTTP/0.9"
L_HTTP09_WAIT = "HTTP/0.9 request line (no version): Tiercel refuses (400); llhttp waits for more"
L_TE_CODING = "no transfer coding but chunked is decoded: `x, chunked` is 501 (DESIGN §6); llhttp accepts"
L_NO_HOST_AND_TE_CODING = "no Host (400); with one, `gzip/deflate, chunked` is 501 (DESIGN §6)"
L_TE_REPEATED = "Transfer-Encoding on two field lines: refused (DESIGN §6); llhttp accepts a final chunked"
L_TE_LEADING_COMMA = "`Transfer-Encoding: ,chunked`: refused (DESIGN §6); llhttp skips the empty element"
L_HOST_REPEATED = "two Host fields: refused (RFC 9112 §3.2, DESIGN §6); llhttp does not look at Host"
L_REQUEST_LINE_SPACES = "request line with a double space: refused (DESIGN §6); llhttp skips extra spaces"
L_LEADING_BARE_LF = "bare LF before the request line: refused (DESIGN §6, bare LF); llhttp skips it"
L_BAD_ABSOLUTE_TARGET = "`s://]ufd/:` is no valid request-target (and there is no Host); llhttp accepts it"
L_NO_HOST_AND_TRAILING_CRLF = "no Host (400); with one, Tiercel holds the trailing CRLF (incomplete)"

H_BARE_LF = "h11 is lenient: accepts bare LF line endings; Tiercel refuses per DESIGN §6"
H_BARE_LF_WAIT = "h11 takes bare LF as a line end and waits for more; Tiercel refuses bare LF (DESIGN §6)"
H_BARE_CR_WAIT = "bare CR: Tiercel refuses (DESIGN §6); h11 sees no line end and waits for more"
H_OBS_FOLD = "h11 is lenient: unfolds obs-fold (line starting with SP/HTAB); Tiercel refuses (DESIGN §6)"
H_HEAD_UNFINISHED = "the head never ends: h11 checks only complete heads and waits; Tiercel refuses early"
H_CL_WITH_TE = "h11 accepts Content-Length with Transfer-Encoding (TE wins); Tiercel refuses (DESIGN §6)"
H_CL_REPEATED = "h11 accepts repeated/listed identical Content-Length; Tiercel refuses (DESIGN §6)"
H_BIG_NUMBERS = "h11 reads huge Content-Length/chunk sizes as Python ints and waits; Tiercel refuses"
H_CTL_IN_VALUE = "h11 accepts control bytes (BEL, ESC, DEL) in field values; Tiercel refuses (DESIGN §6)"
H_CHUNK_EXT = "h11 does not check chunk extensions; Tiercel checks their syntax (RFC 9112 §7.1.1)"
H_TARGET_FORM = "h11 does not match the request-target form to the method; Tiercel does (RFC 9112 §3.2)"
H_LEADING_EMPTY_LINE = "h11 refuses an empty line before a request line; RFC 9112 §2.2 lets servers skip it"
H_HTTP10_CLOSE = "h11 never keeps an HTTP/1.0 connection alive (ignores `Connection: keep-alive`)"
H_HTTP10_CLOSE_AND_NO_HOST = "h11 closes after the HTTP/1.0 request; Tiercel refuses /second (no Host)"
H_TE_LOWERCASED = "h11 reports the Transfer-Encoding value lowercased; Tiercel keeps the bytes as sent"
H_UPGRADE_TAIL = "both parse the bytes after an Upgrade head as HTTP: Tiercel refuses them, h11 waits"

ASTERISK_NOT_OPTIONS = "`*` target with a method other than OPTIONS: refused (RFC 9112 §3.2.4)"
CONNECT_NOT_AUTHORITY = "CONNECT with an origin-form target: refused (RFC 9112 §3.2.3)"
TE_ON_HTTP10 = "Transfer-Encoding on HTTP/1.0: Tiercel refuses per DESIGN §6; the peer decodes it"
VERSION_505 = "well-formed version other than HTTP/1.0 or 1.1: Tiercel answers 505; the peer accepts"
HOST_SYNTAX = "Host value is no uri-host[:port]: refused (RFC 9112 §3.2); the peer does not check it"
CONTENT_TYPE_REPEATED = "repeated Content-Type (singleton field): refused, as gunicorn expects"
TRAILER_FORBIDDEN_FIELD = "Content-Length/Transfer-Encoding/Host in a trailer: refused (RFC 9110 §6.5.1)"
LIMIT_HEADER_COUNT = "over max_header_count (100): 431 (gunicorn limit case); the peer has no such limit"
LIMIT_HEADER_BYTES = "header section over max_header_bytes (64 KiB): 431; the peer has no limit here"
LIMIT_REQUEST_LINE = "request line over max_request_line (8 KiB): 414; the peer has no limit here"
LIMIT_BODY = "Content-Length over max_body (16 MiB): 413 at once; the peer waits for the body"
LIMIT_CHUNK_LINE = "chunk-size line over 4 KiB: Tiercel refuses unbounded chunk extensions (DESIGN §6)"

# Tiercel LESS strict than llhttp on framing would be a parser bug: list it here (xfail until fixed).
# The two found so far (a tab in Transfer-Encoding, whitespace on the chunk-size line) are fixed.
SUSPECTED_BUGS: dict[tuple[str, str], str] = {}

H_CHUNK_LINE_WS = "h11 accepts whitespace around `;`/`=` in chunk extensions (RFC BWS); Tiercel refuses, as llhttp"
H_TE_TAB = "h11 strips a tab around `chunked`; Tiercel refuses a tab in Transfer-Encoding, as llhttp (TE.TE)"

L_TE_TAB = "llhttp allows a leading tab (OWS) before `chunked`; Tiercel refuses any tab in Transfer-Encoding"

KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {
    ("llhttp", "hostile/te_tab_before_value"): L_TE_TAB,
    ("h11", "hostile/te_tab_before_value"): H_TE_TAB,
    ("h11", "hostile/te_tab_after_value"): H_TE_TAB,
    ("h11", "hostile/te_space_tab_after_value"): H_TE_TAB,
    ("h11", "hostile/chunk_ext_space_after_semicolon"): H_CHUNK_LINE_WS,
    ("h11", "hostile/chunk_ext_space_around_equals"): H_CHUNK_LINE_WS,
    ("h11", "hostile/chunk_ext_value_space_semicolon"): H_CHUNK_LINE_WS,
    ("llhttp", "llhttp/connection/Setting_flag"): NO_HOST,
    ("llhttp", "llhttp/connection/Restarting_when_keep-alive_is_explicitly"): NO_HOST,
    ("llhttp", "llhttp/connection/Setting_flag_on_close"): NO_HOST,
    ("llhttp", "llhttp/connection/Setting_flag_on_close_followed_by_tab"): L_NO_HOST_AND_TRAILING_OWS,
    ("llhttp", "llhttp/connection/CRLF_between_requests_explicit_close_followed_by_tab"): L_TRAILING_OWS,
    ("llhttp", "llhttp/connection/Sample"): NO_HOST,
    ("llhttp", "llhttp/connection/Multiple_tokens_with_folding_and_LWS"): L_NO_HOST_AND_UPGRADE_TAIL,
    ("llhttp", "llhttp/connection/Setting_a_flag_and_pausing"): NO_HOST,
    ("llhttp", "llhttp/connection/Emitting_part_of_body_and_pausing"): L_NO_HOST_AND_UPGRADE_TAIL,
    ("llhttp", "llhttp/connection/Upgrade_GET_request"): L_UPGRADE_TAIL,
    ("llhttp", "llhttp/connection/Upgrade_POST_request"): L_UPGRADE_TAIL,
    ("llhttp", "llhttp/content-length/Content-Length_with_zeroes"): NO_HOST,
    ("llhttp", "llhttp/content-length/Content-Length_with_follow-up_headers"): NO_HOST,
    ("llhttp", "llhttp/content-length/Spaces_in_Content-Length_surrounding"): NO_HOST,
    ("llhttp", "llhttp/content-length/Tabs_in_Content-Length_surrounding"): NO_HOST,
    ("llhttp", "llhttp/invalid/HTTP_protocol_and_ANNOUNCE_method"): L_METHOD_TOKEN,
    ("llhttp", "llhttp/invalid/Invalid_HTTP_version"): L_VERSION_AT_LINE_END,
    ("llhttp", "llhttp/method/REPORT_request"): NO_HOST,
    ("llhttp", "llhttp/method/CONNECT_with_body"): L_CONNECT_BODY,
    ("llhttp", "llhttp/method/M-SEARCH_request"): ASTERISK_NOT_OPTIONS,
    ("llhttp", "llhttp/method/SOURCE_request_with_ICE"): L_NOT_HTTP_PROTOCOL,
    ("llhttp", "llhttp/method/OPTIONS_request_with_RTSP"): L_NOT_HTTP_PROTOCOL,
    ("llhttp", "llhttp/method/ANNOUNCE_request_with_RTSP"): L_NOT_HTTP_PROTOCOL,
    ("llhttp", "llhttp/pipelining/Should_parse_multiple_events"): NO_HOST,
    ("llhttp", "llhttp/sample/Simple_request"): NO_HOST,
    ("llhttp", "llhttp/sample/Request_with_method_starting_with_H"): NO_HOST,
    ("llhttp", "llhttp/sample/DUMBPACK"): NO_HOST,
    ("llhttp", "llhttp/sample/No_headers_and_no_body"): NO_HOST,
    ("llhttp", "llhttp/sample/One_header_and_no_body"): NO_HOST,
    ("llhttp", "llhttp/sample/Prefix_newline"): NO_HOST,
    ("llhttp", "llhttp/sample/No_HTTP_version"): L_HTTP09,
    ("llhttp", "llhttp/sample/Request_starting_with_CRLF"): NO_HOST,
    ("llhttp", "llhttp/sample/Extended_Characters"): NO_HOST,
    ("llhttp", "llhttp/sample/255_ASCII_in_header_value"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Parsing_and_setting_flag"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Parse_chunks_with_lowercase_size"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Parse_chunks_with_uppercase_size"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/POST_with_Transfer-Encoding_chunked"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Two_chunks_and_triple_zero_prefixed_end_chunk"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Trailing_headers"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Chunk_extensions"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/Chunk_extensions_quoting"): NO_HOST,
    ("llhttp", "llhttp/transfer-encoding/POST_with_chunked_as_last_transfer-encoding"): L_NO_HOST_AND_TE_CODING,
    ("llhttp", "llhttp/transfer-encoding/POST_with_chunked_as_last_transfer-encoding_multiple_headers"): L_TE_REPEATED,
    ("llhttp", "llhttp/uri/Quotes_in_URI"): NO_HOST,
    ("llhttp", "llhttp/uri/Query_URL_with_question_mark"): NO_HOST,
    ("llhttp", "llhttp/uri/Host_terminated_by_a_query_string"): L_NO_HOST_AND_TRAILING_CRLF,
    ("llhttp", "llhttp/uri/host_port_terminated_by_a_query_string"): NO_HOST,
    ("llhttp", "llhttp/uri/Query_URL_with_vertical_bar_character"): NO_HOST,
    ("llhttp", "llhttp/uri/host_port_terminated_by_a_space"): NO_HOST,
    ("llhttp", "llhttp/uri/Fragment_in_URI"): NO_HOST,
    ("llhttp", "llhttp/uri/host_port_and_basic_auth"): NO_HOST,
    ("llhttp", "gunicorn/valid/004.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/005.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/006.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/007.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/010.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/011.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/012.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/014.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/018.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/021.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/022.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/023.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/025.http"): L_TE_REPEATED,
    ("llhttp", "gunicorn/valid/025_line.http"): L_NO_HOST_AND_TE_CODING,
    ("llhttp", "gunicorn/valid/029.http"): L_TE_REPEATED,
    ("llhttp", "gunicorn/valid/030.http"): L_TE_REPEATED,
    ("llhttp", "gunicorn/valid/100.http"): NO_HOST,
    ("llhttp", "gunicorn/valid/padding_01.http"): L_TRAILING_OWS,
    ("llhttp", "gunicorn/valid/rfc9110_field_value_htab_trim_01.http"): L_TRAILING_OWS,
    ("llhttp", "gunicorn/valid/rfc9112_smuggle_gzip_chunked_01.http"): L_TE_CODING,
    ("llhttp", "gunicorn/valid/rfc9112_smuggle_te_identity_chunked_01.http"): L_TE_CODING,
    ("llhttp", "gunicorn/invalid/009.http"): LIMIT_HEADER_COUNT,
    ("llhttp", "gunicorn/invalid/010.http"): NO_HOST,
    ("llhttp", "gunicorn/invalid/016.http"): L_BAD_ABSOLUTE_TARGET,
    ("llhttp", "gunicorn/invalid/017.http"): NO_HOST,
    ("llhttp", "gunicorn/invalid/019.http"): NO_HOST,
    ("llhttp", "gunicorn/invalid/041.http"): CONTENT_TYPE_REPEATED,
    ("llhttp", "gunicorn/invalid/042.http"): L_HOST_REPEATED,
    ("llhttp", "gunicorn/invalid/chunked_05.http"): TE_ON_HTTP10,
    ("llhttp", "gunicorn/invalid/chunked_07.http"): NO_HOST,
    ("llhttp", "gunicorn/invalid/rfc9110_trailer_forbidden_host_01.http"): TRAILER_FORBIDDEN_FIELD,
    ("llhttp", "gunicorn/invalid/rfc9112_target_asterisk_non_options_01.http"): ASTERISK_NOT_OPTIONS,
    ("llhttp", "gunicorn/invalid/version_02.http"): VERSION_505,
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
    ("h11", "llhttp/connection/CRLF_between_requests_implicit_keep-alive"): H_LEADING_EMPTY_LINE,
    ("h11", "llhttp/connection/Upgrade_GET_request"): H_UPGRADE_TAIL,
    ("h11", "llhttp/connection/Upgrade_POST_request"): H_UPGRADE_TAIL,
    ("h11", "llhttp/content-length/Error_on_Content-Length_overflow"): H_HEAD_UNFINISHED,
    ("h11", "llhttp/content-length/Error_on_duplicate_Content-Length"): H_HEAD_UNFINISHED,
    ("h11", "llhttp/content-length/Missing_CRLF-CRLF_before_body"): H_BARE_CR_WAIT,
    ("h11", "llhttp/invalid/Headers_separated_by_LF"): H_BARE_LF_WAIT,
    ("h11", "llhttp/invalid/Headers_separated_by_dummy_characters"): H_BARE_CR_WAIT,
    ("h11", "llhttp/invalid/Empty_headers_separated_by_LF"): H_BARE_LF_WAIT,
    ("h11", "llhttp/invalid/Missing_CR_between_headers"): H_BARE_LF,
    ("h11", "llhttp/invalid/Invalid_space_after_start_line"): H_HEAD_UNFINISHED,
    ("h11", "llhttp/invalid/Spaces_before_headers"): H_OBS_FOLD,
    ("h11", "llhttp/method/M-SEARCH_request"): ASTERISK_NOT_OPTIONS,
    ("h11", "llhttp/sample/No_LF_after_CR"): H_BARE_CR_WAIT,
    ("h11", "llhttp/transfer-encoding/No_extension_after_semicolon"): H_CHUNK_EXT,
    ("h11", "gunicorn/valid/022.http"): H_HTTP10_CLOSE_AND_NO_HOST,
    ("h11", "gunicorn/valid/compat_obs_fold.http"): H_OBS_FOLD,
    ("h11", "gunicorn/invalid/009.http"): LIMIT_HEADER_COUNT,
    ("h11", "gunicorn/invalid/041.http"): CONTENT_TYPE_REPEATED,
    ("h11", "gunicorn/invalid/chunked_05.http"): TE_ON_HTTP10,
    ("h11", "gunicorn/invalid/obs_fold_01.http"): H_OBS_FOLD,
    ("h11", "gunicorn/invalid/pp_01.http"): H_HEAD_UNFINISHED,
    ("h11", "gunicorn/invalid/pp_02.http"): H_HEAD_UNFINISHED,
    ("h11", "gunicorn/invalid/pp_03.http"): H_HEAD_UNFINISHED,
    ("h11", "gunicorn/invalid/rfc9110_field_value_ctl_bel_01.http"): H_CTL_IN_VALUE,
    ("h11", "gunicorn/invalid/rfc9110_field_value_ctl_del_01.http"): H_CTL_IN_VALUE,
    ("h11", "gunicorn/invalid/rfc9110_trailer_forbidden_cl_01.http"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "gunicorn/invalid/rfc9110_trailer_forbidden_host_01.http"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "gunicorn/invalid/rfc9110_trailer_forbidden_te_01.http"): TRAILER_FORBIDDEN_FIELD,
    ("h11", "gunicorn/invalid/rfc9112_smuggle_cl_list_form_01.http"): H_CL_REPEATED,
    ("h11", "gunicorn/invalid/rfc9112_smuggle_cl_te_chunked_01.http"): H_CL_WITH_TE,
    ("h11", "gunicorn/invalid/rfc9112_target_asterisk_non_options_01.http"): ASTERISK_NOT_OPTIONS,
    ("h11", "gunicorn/invalid/rfc9112_target_authority_non_connect_01.http"): H_TARGET_FORM,
    ("h11", "gunicorn/invalid/rfc9112_target_relative_01.http"): H_TARGET_FORM,
    ("h11", "gunicorn/invalid/version_02.http"): VERSION_505,
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


def test_corpora_loaded() -> None:
    sources = ("llhttp", "gunicorn", "hostile")
    counts = {src: sum(1 for c in CASES if c.startswith(src + "/")) for src in sources}
    gunicorn_files = sum(1 for _ in (dc.CORPORA / "gunicorn").glob("*/*.http"))
    assert counts["llhttp"] >= 100, counts
    assert counts["gunicorn"] == gunicorn_files, counts
    assert counts["hostile"] >= 60, counts
    # case ids are unique
    assert len(CASES) == len(dc.load_llhttp()) + len(dc.load_gunicorn()) + len(dc.load_hostile())
