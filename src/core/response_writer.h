// Serialises HTTP/1.1 response heads: the status line, header lines, the once-a-second Date header, and the framing
// and connection fields. Http1Connection writes every HTTP/1.1 answer with it (see core/responder.h).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace tiercel {

/// Reason phrase for a status code ("Not Found"); "Unknown" for codes without one.
std::string_view reason_phrase(int status) noexcept;

/// "Date: Tue, 15 Nov 1994 08:12:31 GMT\r\n", formatted at most once per second.
class DateCache {
 public:
  /// The header line for `now` (seconds since the epoch), reformatted only when the second changed.
  std::string_view line(std::time_t now) noexcept;

 private:
  std::time_t cached_second_ = -1;
  char buf_[64] = {};
  size_t len_ = 0;
};

/// What the connection knows about the request a response answers.
struct ResponseContext {
  bool head_request = false;  ///< HEAD: send Content-Length but no body
  bool keep_alive = true;     ///< false adds `Connection: close`
  bool http10 = false;        ///< HTTP/1.0 keep-alive needs an explicit `Connection: keep-alive`
  int16_t cors_origin = -1;   ///< the dispatcher's: the request's Origin as CorsPolicy::match() saw it
};

/// Appends one response to an output buffer. Usage: start(), header()*, finish(body).
/// The fields the writer adds itself (Date, Server) are added only when the head does not already hold them: the
/// app's or handler's own field is sent instead, once. It looks at the whole head at finish time, whoever wrote the
/// lines (the handler's result, the app's global headers, CORS).
class ResponseWriter {
 public:
  ResponseWriter(std::string& out, std::string_view date_line, std::string_view server_header) noexcept
      : out_(out), date_line_(date_line), server_header_(server_header) {}

  /// "HTTP/1.1 200 OK\r\n".
  void start(int status);
  /// "Name: value\r\n". The caller has validated that neither holds CR, LF or NUL.
  void header(std::string_view name, std::string_view value);
  /// Pre-serialised header lines, each ending in CRLF.
  void raw_headers(std::string_view lines) { out_.append(lines); }
  /// Content-Length, Date, Server, Connection, the blank line and (unless HEAD) the body.
  /// 1xx, 204 and 304 responses get no body (and 1xx/204 no Content-Length, RFC 9110 §8.6).
  void finish(std::string_view body, const ResponseContext& ctx);
  /// finish() without appending the body: true when `body_size` bytes of body must follow the head.
  [[nodiscard]] bool finish_head(size_t body_size, const ResponseContext& ctx);
  /// How a body follows its head: none (HEAD, 1xx, 204, 304), as it is (Content-Length), in chunks, or until the
  /// connection closes (a body of unknown length to an HTTP/1.0 client).
  enum class Framing { kNone, kLength, kChunked, kUntilClose };
  /// The head of a body of unknown length: `Transfer-Encoding: chunked` on HTTP/1.1, or (HTTP/1.0) no framing and
  /// `Connection: close`, the body ending with the connection. Returns kChunked, kUntilClose, or kNone.
  Framing finish_head_streaming(const ResponseContext& ctx);
  /// A whole text/plain response: status line, `extra_lines` (pre-serialised, each ending in CRLF; a Content-Type
  /// among them is left out: the body is text), body.
  void text(int status, std::string_view body, const ResponseContext& ctx, std::string_view extra_lines = {});
  /// The head finished says `Connection: close`: the connection must close after this answer.
  bool says_close() const noexcept { return says_close_; }

 private:
  /// Which of the fields the writer adds the head holds already.
  struct Own {
    bool date = false, server = false;
  };
  Own own_fields() const noexcept;
  /// Date and Server unless `own` says the head holds them, `Connection: close` (or, for HTTP/1.0,
  /// `keep_alive_line`'s `Connection: keep-alive`), the blank line.
  void finish_common(Own own, bool close, bool keep_alive_line);

  std::string& out_;
  size_t head_start_ = 0;  // where this response's status line begins in out_
  int status_ = 200;
  std::string_view date_line_;
  std::string_view server_header_;
  bool says_close_ = false;
};

/// Whether the header lines `lines` (each ending in CRLF) hold a field `name` (ASCII case-insensitive); its value,
/// without leading spaces, in `value` when given.
bool find_field(std::string_view lines, std::string_view name, std::string_view* value = nullptr) noexcept;
/// Appends each line of `extra` whose field name is not among the fields of `own` (the app's global headers: added
/// where the response does not set the name). A Vary line is a list: it is left out only when `own`'s Vary fields
/// name each of its tokens already.
void append_absent(std::string& out, std::string_view own, std::string_view extra);
/// Whether a response with `status` has no body, whatever the request (1xx, 204, 304; RFC 9110 §6.4.1).
constexpr bool bodyless_status(int status) noexcept { return status < 200 || status == 204 || status == 304; }
/// Whether a response with `status` carries no Content-Length (1xx, 204; RFC 9110 §8.6). A 304 may: it describes
/// the GET's body.
constexpr bool lengthless_status(int status) noexcept { return status < 200 || status == 204; }

/// True when `s` can be sent as a header name (an RFC 9110 token).
bool is_header_name(std::string_view s) noexcept;
/// True when `s` holds no CR, LF, NUL or other control byte except HTAB (no response splitting).
bool is_header_value(std::string_view s) noexcept;

}  // namespace tiercel
