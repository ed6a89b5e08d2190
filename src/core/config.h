// Server-wide settings: parser limits, timeouts, backpressure thresholds and the Server header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/http1_parser.h"

namespace tiercel {

/// Every limit has a default here and a setting in `app.start(...)`.
struct ServerConfig {
  http1::Limits limits;
  /// Slowloris guard: a request head must be complete within this time of its first byte (408 then close).
  uint32_t header_timeout_ms = 10'000;
  /// An idle keep-alive connection (no request in progress, nothing to write) is closed after this.
  uint32_t keepalive_timeout_ms = 5'000;
  /// A connection whose unsent output makes no progress for this long (a client that stopped reading)
  /// is closed, so it cannot hold its buffers forever.
  uint32_t write_timeout_ms = 30'000;
  /// Accepted connections beyond this are closed at once.
  uint32_t max_connections = 10'000;
  /// Stop reading from a connection while more than this many response bytes wait to be sent.
  size_t write_high_watermark = 1 << 20;
  /// Stop parsing pipelined requests while this many responses on one connection are still pending.
  uint32_t max_pipelined = 64;
  /// Value of the Server header; empty sends none.
  std::string server_header = "tiercel";
  /// Header lines (each ending in CRLF) added to the responses a connection makes itself (404, 405, 501, refused
  /// input): the app's global response headers.
  std::string extra_header_lines;
  /// CORS policy (owned by the embedder, which outlives the server): the 404s and 405s a connection makes carry
  /// its headers too, so a front end can read them. Null: no CORS.
  const struct CorsPolicy* cors = nullptr;
  /// Proxies whose X-Forwarded-* / Forwarded headers give the client's address and scheme; null: none.
  std::shared_ptr<const class TrustedProxies> trusted_proxies;
};

}  // namespace tiercel
