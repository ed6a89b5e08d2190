// What a connection hands the application: a routed request, and the interfaces the application implements to
// answer it (Dispatcher, which answers through the connection's Responder), to take a streamed body (BodySink) and
// to take over the connection (UpgradedProtocol). HTTP/1.1 and HTTP/2 connections call them; the Python bindings
// implement them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/http1_parser.h"
#include "core/response_writer.h"
#include "core/responder.h"
#include "core/router.h"

namespace tiercel {

class Http1Connection;
struct TlsInfo;  // core/tls.h

/// What a dispatcher sees of one routed request. The views are valid only during dispatch().
struct RoutedRequest {
  const http1::RequestHead& head;
  std::string_view body;
  Method method;
  uint32_t route_id;
  const std::vector<PathParam>& params;
  ResponseContext ctx;
  std::string_view peer_ip;         ///< the client's address (from proxy headers when the peer is trusted)
  std::string_view scheme = "http";  ///< "https" when a trusted proxy says so
  bool body_streamed = false;        ///< `body` is empty: the body follows through Responder::set_body_sink
  std::shared_ptr<const TlsInfo> tls;  ///< the connection's TLS (null for plain TCP)
};

/// Where a streamed request body goes (routes with a RouteEntry::stream_body_limit): the request is dispatched when
/// its head is in, and its body is handed on piece by piece as it arrives, never held whole.
class BodySink {
 public:
  virtual ~BodySink() = default;
  /// The next piece of the body (valid during the call only). False when the sink holds enough for now: the
  /// connection stops reading until Responder::resume_body().
  virtual bool on_body(std::string_view data) = 0;
  /// The body is complete.
  virtual void on_body_end() = 0;
  /// The body cannot be read to its end: `status` says why (400 malformed chunked framing, 408 too slow, 413 too
  /// large), or is 0 when the client went away.
  virtual void on_body_error(int status, std::string_view message) = 0;
};

/// Calls the application for routed requests (implemented by the Python bindings).
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  /// Answers request `seq` through `conn`: at once, or after conn.defer(seq, token), later.
  virtual void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) = 0;
  /// The connection closed before deferred request `token` was answered: stop that work.
  virtual void cancel(void* token) noexcept = 0;
  /// The streamed answer of `token` (see Responder::stream_begin) may write again.
  virtual void on_writable(void* token) noexcept { (void)token; }
};

/// The protocol a connection switched to (WebSocket): it gets every byte after the switch.
class UpgradedProtocol {
 public:
  virtual ~UpgradedProtocol() = default;
  virtual void on_bytes(std::string_view data) = 0;
  /// The connection is gone (closed by either side, or failed).
  virtual void on_closed() noexcept = 0;
  /// Output that was over the watermark has been written.
  virtual void on_drained() noexcept {}
  /// The server is shutting down (graceful): say goodbye (WebSocket close 1001).
  virtual void on_shutdown() noexcept {}
};

}  // namespace tiercel
