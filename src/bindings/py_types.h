// The Python-facing value types of tiercel._core that handlers return or read (Headers, QueryParams, Url,
// Response, StreamingResponse, FileResponse) and how a handler's result becomes the bytes of an answer.
#pragma once

#include "bindings/module.h"

namespace tiercel::py {

/// Case-insensitive multi-map of header fields, in insertion order.
/// Headers({"X-A": "1"}).get("x-a") -> "1"
class Headers {
 public:
  std::vector<std::pair<std::string, std::string>> items;

  /// Index of the first field named `name` (ASCII case-insensitive), or -1.
  long find(std::string_view name) const noexcept;
  void set(std::string_view name, std::string_view value);
  void append(std::string_view name, std::string_view value) { items.emplace_back(name, value); }
  /// Fills from a dict, a Headers, or an iterable of pairs; TypeError otherwise.
  void update_from(nb::handle source);
  /// A new Python Headers holding the fields of `source` (as update_from takes it): what `response.headers = ...`
  /// stores.
  static nb::object copy_of(nb::handle source);
};

/// Decoded query parameters, in order, with repeats.
class QueryParams {
 public:
  std::vector<std::pair<std::string, std::string>> items;
};

/// The parts of the URL a handler usually needs.
struct Url {
  std::string scheme;
  std::string host;
  std::string path;
};

/// A handler's return value turned into bytes on the wire: status, extra header lines and body.
struct Rendered {
  int status = 200;
  std::string header_lines;  // "Name: value\r\n"*, Content-Type included; never the framing fields below
  nb::object body_owner;     // keeps `body` alive
  std::string_view body;
  // Framing is the server's: the handler's own Content-Length, Transfer-Encoding and Connection are taken out of
  // header_lines. Its Content-Length is checked against the body (framed_length); its Transfer-Encoding is
  // accepted only as `chunked` on a stream.
  int64_t content_length = -1;     // the handler's Content-Length, -1 when it set none
  std::string transfer_encoding;   // the handler's Transfer-Encoding value(s), empty when none
};

/// The Content-Length to send for `r`: its body's size, or, when the answer carries no body on the wire (a HEAD
/// request, a 1xx/204/304 status) and the handler returned an empty one, the handler's own Content-Length (the size
/// of what a GET would have sent). False with `error` when the handler's Content-Length or Transfer-Encoding cannot
/// be sent: a wrong length would desynchronise the connection, so the answer is refused (a 500) instead.
bool framed_length(const Rendered& r, bool head_request, size_t& length, std::string& error);

/// Python `Response(status_code, headers, description)`.
class Response {
 public:
  int status_code = 200;
  nb::object headers;      // a Headers instance
  nb::object description;  // str, bytes, or a JSON-able value
};

/// Turns a handler result into Rendered. On failure returns false with a message that says what to return.
bool render_result(nb::handle result, Rendered& out, std::string& error);
/// Python `StreamingResponse(content, status_code, headers, media_type)`: a body produced by a (sync or async)
/// iterator, sent as it comes. `sse`: server-sent events (items are SSE text, bytes, or dict/list as JSON data).
class StreamingResponse {
 public:
  int status_code = 200;
  nb::object headers;  // a Headers instance
  nb::object content;  // an iterable or an async iterable
  std::string media_type = "text/plain; charset=utf-8";
  bool sse = false;
  double ping_interval = 0;  // SSE: a comment line after this many idle seconds (0: none)
};

/// Python `serve_file(path, file_name=None)` (Robyn's FileResponse): a file answered from C++ (Range, validators)
/// without reading it whole. `headers` are sent with the file's own (theirs win on a name both have), and a
/// `status_code` other than 200 replaces the 200 of a full answer (never a 206, 304, 404 or 416).
class FileResponse {
 public:
  std::string path;
  std::string file_name;  // non-empty: a download (Content-Disposition: attachment)
  int status_code = 200;
  nb::object headers;  // a Headers instance
};

/// The header lines of `headers` (a Headers, dict, or pairs) as a handler's streamed response may carry them; false
/// with `error` for a Content-Length (a stream's length is not known) or a Transfer-Encoding other than chunked.
bool response_header_lines(nb::handle headers, std::string& lines, bool& has_content_type, std::string& error);
/// The bytes one streamed item becomes (before chunk framing); false with `error` for an item of the wrong type.
bool stream_item_bytes(nb::handle item, bool sse, std::string& out, std::string& error);

/// A handler result as a new Response object (a copy when it is one), for after-request hooks to change.
/// Null with `error` set when the result has no valid shape.
nb::object as_response(nb::handle result, std::string& error);

/// "key=value; Path=...; ..." for a Set-Cookie header (RFC 6265), every attribute checked; ValueError/TypeError
/// saying what is wrong.
std::string set_cookie_value(const std::string& key, const std::string& value, nb::handle path, nb::handle domain,
                             nb::handle max_age, nb::handle expires, bool secure, bool http_only, nb::handle same_site);

}  // namespace tiercel::py
