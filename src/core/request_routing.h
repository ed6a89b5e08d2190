// What every connection does with a request whose head is in, HTTP/1.1 and HTTP/2 alike: who the client is (proxy
// headers from a trusted peer), what the observer will record, and the route: the answers the connection gives
// itself (an unknown method, no route, a method the path does not take, a const route), or the application's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/connection_env.h"
#include "core/http1_parser.h"
#include "core/responder.h"
#include "core/router.h"

namespace tiercel {

/// Microseconds of the monotonic clock (request durations).
uint64_t monotonic_us() noexcept;

/// The client as the application sees it: the peer, or what a trusted proxy says of the client.
struct ClientView {
  std::string_view ip;      ///< views the peer's address or the request's headers
  std::string_view scheme;  ///< "http" or "https"
};
ClientView resolve_client(const ConnectionEnv& env, const http1::RequestHead& head, std::string_view peer_ip, bool tls);

/// A request's part of its RequestRecord, kept until it is answered (while an observer is set).
struct RequestLog {
  std::string request_line;  ///< "GET /path?q HTTP/1.1"
  std::string client_ip;
  uint32_t route = RequestRecord::kNoRoute;
  uint64_t start_us = 0;
  static RequestLog begin(const http1::RequestHead& head, std::string_view version, std::string_view client_ip);
  /// The record of its answer, for the observer (views this log).
  RequestRecord record(int status, uint64_t bytes) const;
};

/// Where a request goes.
struct RouteDecision {
  bool answered = false;  ///< the connection answered it already (through the Responder)
  Method method = Method::kGet;
  uint32_t route_id = RequestRecord::kNoRoute;  ///< the route, when one matched
};

/// Routes request `seq` and answers what the connection answers itself through `conn`: 501 for a method Tiercel does
/// not know (its answer the connection's last), 404 and 405 (with the CORS fields), a const route's answer. Otherwise
/// the application answers: `params` holds the path's parameters. `ctx.head_request` is set from the method. With
/// `log` (an observer is set) its route is set before any answer.
RouteDecision route_request(ConnectionEnv& env, Responder& conn, uint64_t seq, const http1::RequestHead& head,
                            ResponseContext& ctx, std::vector<PathParam>& params, RequestLog* log);

}  // namespace tiercel
