// The routes a connection serves: the router, and what the connection itself knows of each route (a const
// answer it sends without the application, whether the route streams its request body).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/responder.h"
#include "core/router.h"

namespace tiercel {

/// An answer fixed when the route was added: served by C++ without calling the application.
struct ConstAnswer {
  ResponseHead head;
  std::string body;
};

/// What a connection itself knows of one route.
struct RouteEntry {
  /// A const route's answer, which C++ serves without Python; none: the route is dispatched per request.
  std::optional<ConstAnswer> const_answer;
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

}  // namespace tiercel
