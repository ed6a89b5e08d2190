// Strict, incremental, zero-copy HTTP/1.1 request parser (RFC 9112), no exceptions, no allocation per
// header beyond the reused header vector. Refuses every ambiguity listed in DESIGN.md §6.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tiercel::http1 {

/// Outcome of one parse step.
enum class ParseStatus : uint8_t {
  kIncomplete,  ///< need more bytes; nothing consumed
  kComplete,    ///< a full element was parsed
  kError,       ///< input refused; see ParseError
};

/// Why input was refused. Each value maps to exactly one HTTP status (status_for).
enum class ParseError : uint8_t {
  kNone = 0,
  kBadRequest,           ///< 400: malformed syntax, framing ambiguity, bad Host
  kUriTooLong,           ///< 414: request line over Limits::max_request_line
  kHeaderTooLarge,       ///< 431: header bytes over max_header_bytes or count over max_header_count
  kPayloadTooLarge,      ///< 413: Content-Length or decoded chunked body over max_body
  kNotImplemented,       ///< 501: a transfer coding other than one final `chunked`
  kVersionNotSupported,  ///< 505: well-formed HTTP-version that is not HTTP/1.0 or HTTP/1.1
};

/// HTTP status code for a ParseError (400 for kNone is never used).
int status_for(ParseError err) noexcept;
/// Short human-readable reason, used in error response bodies and logs.
std::string_view describe(ParseError err) noexcept;

/// Every limit has a default; the application can change each one.
struct Limits {
  uint32_t max_request_line = 8 * 1024;    ///< bytes of method SP target SP version (414 beyond)
  uint32_t max_header_bytes = 64 * 1024;   ///< bytes of the header section after the request line (431)
  uint32_t max_header_count = 100;         ///< number of header fields (431)
  uint64_t max_body = 16 * 1024 * 1024;    ///< decoded body bytes (413)
  uint32_t max_chunk_line = 4 * 1024;      ///< bytes of one chunk-size line incl. extensions (400)
  uint32_t max_trailer_bytes = 16 * 1024;  ///< bytes of the trailer section (431)
};

/// One header field; views into the caller's buffer.
struct Header {
  std::string_view name;
  std::string_view value;  ///< leading/trailing SP and HTAB removed
};

/// How the body of a request is delimited.
enum class BodyFraming : uint8_t { kNone, kContentLength, kChunked };

/// A parsed request head. All string_views point into the buffer given to parse_head and are valid
/// only as long as that buffer is unchanged.
struct RequestHead {
  std::string_view method;   ///< token, case-sensitive, as sent
  std::string_view target;   ///< raw request-target
  std::string_view path;     ///< path part of the target (origin-form or absolute-form), "*" for asterisk-form,
                             ///< the authority for CONNECT authority-form; still percent-encoded
  std::string_view query;    ///< after the first '?', without it; empty when absent
  uint8_t version_minor = 1; ///< 0 for HTTP/1.0, 1 for HTTP/1.1
  std::vector<Header> headers;
  std::string_view host;     ///< value of the Host header (empty when absent on HTTP/1.0)
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;   ///< valid when framing == kContentLength
  bool keep_alive = true;        ///< HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `keep-alive`
  bool expect_continue = false;  ///< `Expect: 100-continue`
  bool upgrade = false;          ///< `Connection: upgrade` with an `Upgrade` header
  uint32_t head_size = 0;        ///< bytes consumed: request line + headers + final CRLF

  void clear() noexcept;
};

/// Parses one request head from the start of `buf`.
/// * kIncomplete: the head is not complete yet. Limits are already checked against the bytes present,
///   so a head that can never fit fails now rather than after more bytes arrive.
/// * kComplete: `out` is filled and `out.head_size` bytes of `buf` make up the head.
/// * kError: `err` says why; the connection must answer status_for(err) and close.
/// Empty lines (CRLF) before the request line are skipped and counted in head_size, as llhttp does
/// (RFC 9112 §2.2; clients send one after a POST body), up to max_request_line bytes of them; a bare
/// CR or LF there is refused.
ParseStatus parse_head(std::string_view buf, const Limits& limits, RequestHead& out, ParseError& err) noexcept;

/// Incremental decoder for a chunked body (RFC 9112 §7.1), trailers included.
class ChunkedDecoder {
 public:
  /// Back to the initial state, ready for a new body.
  void reset() noexcept;
  /// Consumes bytes from `in`, appending decoded data to `out` (whose total size is checked against
  /// limits.max_body). Sets `consumed` to the bytes of `in` used (all of them unless kComplete).
  /// kComplete once the last chunk, the trailer section and its final CRLF were read.
  ParseStatus feed(std::string_view in, const Limits& limits, std::string& out, size_t& consumed,
                   ParseError& err) noexcept;
  /// Trailer fields seen so far, copied (the input buffer does not outlive a feed call).
  const std::vector<std::pair<std::string, std::string>>& trailers() const noexcept { return trailers_; }

 private:
  // One state per byte class: the chunk-size line is validated byte by byte without buffering, so a
  // split feed takes exactly the same path as a whole one; only trailer lines are buffered (in line_).
  enum class State : uint8_t {
    kSize,           // first hex digit of a chunk size
    kSizeDigits,     // more hex digits, ';', BWS or CR
    kExtName0,       // after ';': BWS, then the first tchar of an extension name
    kExtName,        // inside an extension name
    kExtValue0,      // after '=': BWS, then a token or a quoted-string
    kExtToken,       // inside a token value
    kExtQuoted,      // inside a quoted-string value
    kExtQuotedPair,  // after a backslash inside a quoted-string
    kExtQuoteEnd,    // right after the closing quote
    kSizeLf,         // CR seen at the end of the chunk-size line
    kData,           // chunk data, remaining_ bytes left
    kDataCr,         // CR expected after chunk data
    kDataLf,         // LF expected after chunk data
    kTrailers,       // start of a trailer line (or of the final empty line)
    kTrailerLine,    // inside a trailer line, buffered in line_
    kTrailerLf,      // CR seen at the end of a trailer line
    kDone,
    kError,
  };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;   // chunk size while parsing it, then data bytes left in the chunk
  uint64_t body_bytes_ = 0;  // decoded bytes so far, checked against Limits::max_body
  uint32_t line_bytes_ = 0;  // bytes of the current chunk-size line, checked against max_chunk_line
  ParseError error_ = ParseError::kNone;  // sticky once state_ == kError
  std::string line_;  // partial trailer line carried across feeds
  uint32_t trailer_bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> trailers_;
};

}  // namespace tiercel::http1
