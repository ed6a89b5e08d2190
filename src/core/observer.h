// What the access log and the metrics see of each answer: recorded by the session, only when an observer is set.
#pragma once

#include <cstdint>
#include <string_view>

namespace tiercel {

/// One answered request. Views are valid during on_response() only.
struct RequestRecord {
  static constexpr uint32_t kNoRoute = UINT32_MAX;
  std::string_view client_ip;     ///< from trusted proxy headers when there are any
  std::string_view request_line;  ///< "GET /path?q HTTP/1.1", or "-" when the request could not be read
  uint32_t route_id = kNoRoute;   ///< the matched route (kNoRoute: 404, 405, refused input)
  int status = 0;
  uint64_t bytes = 0;             ///< response bytes, head included
  uint64_t duration_us = 0;       ///< from the request's dispatch to its answer
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void on_response(const RequestRecord& record) noexcept = 0;
  /// A connection opened (+1) or closed (-1).
  virtual void on_connection(int delta) noexcept = 0;
  /// At max_connections: `reached` when the server stops accepting, then the time spent there as it passes.
  virtual void on_connection_limit(bool reached, uint64_t limited_ms) noexcept = 0;
};

}  // namespace tiercel
