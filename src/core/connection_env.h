// ConnectionEnv: what every connection of one loop shares and reads (HTTP/1.1 and HTTP/2 alike): the settings,
// the routes, the dispatcher, the loop's clock and Date line, the request count and the observer.
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

#include "core/config.h"
#include "core/dispatcher.h"
#include "core/route_table.h"
#include "core/observer.h"
#include "core/response_writer.h"

namespace tiercel {

/// Shared per-loop state the connections read: settings, routes, clock, Date line.
struct ConnectionEnv {
  const ServerConfig& config;
  const RouteTable& routes;
  Dispatcher& dispatcher;
  DateCache date;
  uint64_t now_ms = 0;      ///< loop time, refreshed by the owner before each batch
  std::time_t now_s = 0;    ///< wall-clock seconds for the Date header
  uint64_t requests = 0;    ///< requests received (each one answered, whatever its outcome)
  RequestObserver* observer = nullptr;  ///< sees every answer (access log, metrics); null: nothing is recorded
  std::string_view date_line() { return date.line(now_s); }
};

}  // namespace tiercel
