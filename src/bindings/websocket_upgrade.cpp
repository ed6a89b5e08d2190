// The WebSocket handshake (RFC 6455 §4.2): the upgrade request is checked and the arguments of the route's
// handler and hooks are filled from it (a refused typed parameter is a 400, before anything is accepted), then
// 101 and the connection, whose on_connect runs first.
#include <nanobind/stl/shared_ptr.h>

#include "bindings/websocket.h"
#include "core/cors.h"
#include "core/response_writer.h"

namespace tiercel::py {

namespace {

/// What is wrong with the upgrade request's headers (empty: nothing).
std::string header_problem(Responder& conn, uint64_t seq, const RoutedRequest& req,
                           const std::string_view*& version) {
  const auto& h = req.head.headers;
  auto has_token = [&](std::string_view name, std::string_view token) {
    const std::string_view* v = find_header(h, name);
    return v && !each_list_item(*v, [&](std::string_view t) { return !ascii_iequal(t, token); });
  };
  const std::string_view* key = find_header(h, "sec-websocket-key");
  version = find_header(h, "sec-websocket-version");
  if (req.method != Method::kGet) return "a WebSocket upgrade is a GET";
  if (!has_token("upgrade", "websocket")) return "missing Upgrade: websocket";
  if (!has_token("connection", "upgrade")) return "missing Connection: upgrade";
  if (!version || *version != "13") return "Sec-WebSocket-Version must be 13";
  if (!key || !ws::valid_client_key(*key)) return "missing or malformed Sec-WebSocket-Key";
  if (!req.body.empty()) return "an upgrade request has no body";
  if (!conn.http1()) return "a WebSocket connects over HTTP/1.1, not HTTP/2";
  if (!conn.http1()->can_upgrade(seq)) return "a WebSocket upgrade cannot follow pipelined requests";
  return {};
}

/// Fills `args[i]` for the handler, on_connect and on_close of `route`. On failure returns the status to answer
/// (400 naming a refused path or query parameter, 500 for anything else, logged) and sets `problem`.
int fill_arguments(const WsHost& host, const WsRoute& route, nb::handle request, std::vector<nb::object> (&args)[3],
                   std::string& problem) {
  const WsCallee* callees[3] = {&route.handler, &route.on_connect, &route.on_close};
  for (int i = 0; i < 3; ++i) {
    if (!*callees[i] || !callees[i]->plan) continue;
    if (plan_arguments(*callees[i]->plan, request, host.param_error, args[i])) continue;
    nb::python_error e;
    nb::handle validation = globals().validation_error;
    if (validation && nb::isinstance(e.value(), validation)) {
      problem = nb::cast<std::string>(nb::str(e.value()));  // "query n: Input should be a valid integer, ..."
      return 400;
    }
    if (host.param_error && nb::isinstance(e.value(), host.param_error)) {
      problem = nb::cast<std::string>(nb::str(e.value().attr("detail")));
      return 400;
    }
    host.logger.attr("error")("WebSocket upgrade on %s failed", nb::str(route.path.c_str()),
                              nb::arg("exc_info") = e.value());
    problem = "Internal Server Error";
    return 500;
  }
  return 0;
}

}  // namespace

void start_websocket(const std::shared_ptr<WsHost>& host, const std::shared_ptr<WsRoute>& route, Responder& conn,
                     uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx, nb::object request) {
  const std::string_view* version = nullptr;
  std::string problem = header_problem(conn, seq, req, version);
  std::vector<nb::object> args[3];
  int status = problem.empty() ? fill_arguments(*host, *route, request, args, problem) : 400;
  if (status) {
    ResponseContext c = ctx;
    c.keep_alive = false;
    std::string extra = version && *version != "13" ? "Sec-WebSocket-Version: 13\r\n" : "";
    std::string body = status == 400 ? "Bad WebSocket upgrade: " + problem + "\n" : problem + "\n";
    return conn.respond_text(seq, status, body, c, extra);
  }
  const std::string_view* key = find_header(req.head.headers, "sec-websocket-key");
  std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + ws::accept_key(*key) + "\r\n\r\n";
  Http1Connection& http1 = *conn.http1();
  auto upgraded = std::make_shared<WsConn>(host, http1, route, std::move(request), std::to_string(++host->next_id));
  upgraded->handler_args = std::move(args[0]);
  upgraded->connect_args = std::move(args[1]);
  upgraded->close_args = std::move(args[2]);
  host->conns[upgraded.get()] = upgraded;
  http1.upgrade(seq, response, upgraded.get());
  upgraded->start();
}

}  // namespace tiercel::py
