// What a connection hands the application: the routes, a routed request, and the interfaces the application
// implements to answer it (Dispatcher), to take a streamed body (BodySink) and to take over the connection
// (UpgradedProtocol). HTTP/1.1 and HTTP/2 connections call them; the Python bindings implement them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/http1_parser.h"
#include "core/response_writer.h"
#include "core/router.h"

namespace tiercel {

class Http1Connection;
struct TlsInfo;  // core/tls.h

/// What a connection itself knows of one route.
struct RouteEntry {
  /// A const route's answer, which C++ serves without Python: its status line and headers (each ending in CRLF)
  /// and its body. An empty head: the route is dispatched per request.
  std::string const_head;
  std::string const_body;
  /// 0 when the route gets its body whole (bounded by limits.max_body); otherwise the route streams its body (see
  /// BodySink) and this is the largest body it takes (413 above).
  uint64_t stream_body_limit = 0;
};

/// Routes of a server: the router, and per route id its entry.
struct RouteTable {
  Router router;
  std::vector<RouteEntry> entries;  ///< by route id
  bool has_stream_body = false;     ///< any route streams its body

  /// Adds a route; its id (the next one), or UINT32_MAX with `error` saying why (a bad or clashing path).
  uint32_t add(Method method, std::string_view path, std::string& error) {
    auto id = static_cast<uint32_t>(entries.size());
    if (!router.add(method, path, id, error)) return UINT32_MAX;
    entries.emplace_back();
    return id;
  }
  const RouteEntry* entry(uint32_t route_id) const noexcept {
    return route_id < entries.size() ? &entries[route_id] : nullptr;
  }
  uint64_t stream_limit(uint32_t route_id) const noexcept {
    const RouteEntry* e = entry(route_id);
    return e ? e->stream_body_limit : 0;
  }
};

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
  bool body_streamed = false;        ///< `body` is empty: the body follows through Http1Connection::set_body_sink
  std::shared_ptr<const TlsInfo> tls;  ///< the connection's TLS (null for plain TCP)
};

/// Where a streamed request body goes (routes with a RouteTable::stream_body_limit): the request is dispatched when
/// its head is in, and its body is handed on piece by piece as it arrives, never held whole.
class BodySink {
 public:
  virtual ~BodySink() = default;
  /// The next piece of the body (valid during the call only). False when the sink holds enough for now: the
  /// connection stops reading until Http1Connection::resume_body().
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
  /// Answers request `seq`: either writes the response now (connection.response_buffer + response_done),
  /// or calls connection.defer(seq, token) and answers later.
  virtual void dispatch(Http1Connection& conn, uint64_t seq, const RoutedRequest& req) = 0;
  /// The connection closed before deferred request `token` was answered: stop that work.
  virtual void cancel(void* token) noexcept = 0;
  /// The streamed answer of `token` (see Http1Connection::stream_begin) may write again.
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
