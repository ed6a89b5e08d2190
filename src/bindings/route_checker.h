// Adding a route to a route table with Python's refusals: the one check the engine's registration and the
// RouteChecker (tiercel/routers.py, at declaration) share.
#pragma once

#include <cstdint>
#include <string_view>

#include "bindings/module.h"
#include "core/route_table.h"

namespace tiercel::py {

/// Adds `method` `path` to `table`; its id. ValueError for an unknown method, a bad pattern or a clash.
uint32_t add_checked_route(RouteTable& table, std::string_view method, std::string_view path);

}  // namespace tiercel::py
