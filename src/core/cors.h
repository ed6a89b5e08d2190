// Cross-origin resource sharing (the Fetch standard's CORS protocol): which origins may read responses, and the
// answers to preflight requests. Configured once; per request only header lookups and string appends.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/http1_parser.h"

namespace tiercel {

/// The first value of header `name` (ASCII case-insensitive), or null.
const std::string_view* find_header(const std::vector<http1::Header>& headers, std::string_view name) noexcept;

struct CorsPolicy {
  static constexpr int kAnyOrigin = -2;
  static constexpr int kNoOrigin = -1;

  bool any_origin = false;            ///< "*": every origin, without credentials
  std::vector<std::string> origins;   ///< otherwise the allowed origins, exactly ("https://app.example")
  bool any_header = false;            ///< a preflight may ask for any request header
  std::vector<std::string> allow_headers;
  bool credentials = false;           ///< Access-Control-Allow-Credentials: true (needs a list of origins)
  uint32_t max_age = 600;             ///< seconds a browser may cache a preflight answer
  std::vector<std::string> expose_headers;

  /// kAnyOrigin when every origin is allowed, the index of `origin` in `origins`, or kNoOrigin.
  int match(std::string_view origin) const noexcept;
  /// The CORS header lines of an actual response to a request whose Origin matched `m` (see match()); with a
  /// list of origins, `Vary: Origin` even when nothing matched (a cache must not reuse one origin's answer).
  /// A field the response's own header lines `own` already hold is left out (its Vary: where it names Origin).
  void append_response_lines(std::string& out, int m, std::string_view own = {}) const;
  /// Answers a preflight (an OPTIONS request with Origin and Access-Control-Request-Method) for a resource with
  /// `allow_methods` ("GET, HEAD, POST"): 204 with its header lines, or 400 with `message` saying what was refused.
  int preflight(const http1::RequestHead& head, std::string_view allow_methods, std::string& lines,
                std::string& message) const;
};

}  // namespace tiercel
