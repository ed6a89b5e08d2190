// Routing a request once its head is in: see request_routing.h.
#include "core/request_routing.h"

#include <chrono>

#include "core/cors.h"
#include "core/proxy.h"

namespace tiercel {

uint64_t monotonic_us() noexcept {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

ClientView resolve_client(const ConnectionEnv& env, const http1::RequestHead& head, std::string_view peer_ip,
                          bool tls) {
  ClientView v{peer_ip, tls ? "https" : "http"};
  if (const TrustedProxies* proxies = env.config.trusted_proxies.get(); proxies && proxies->trusts(peer_ip)) {
    ForwardedClient f = resolve_forwarded(head.headers, *proxies);
    if (!f.ip.empty()) v.ip = f.ip;
    if (!f.scheme.empty()) v.scheme = f.scheme;
  }
  return v;
}

RequestLog RequestLog::begin(const http1::RequestHead& head, std::string_view version, std::string_view client_ip) {
  RequestLog log;
  log.request_line.reserve(head.method.size() + head.target.size() + version.size() + 2);
  log.request_line.append(head.method).append(" ").append(head.target).append(" ").append(version);
  log.client_ip = client_ip;
  log.start_us = monotonic_us();
  return log;
}

RequestRecord RequestLog::record(int status, uint64_t bytes) const {
  RequestRecord r;
  r.client_ip = client_ip;
  r.request_line = request_line;
  r.route_id = route;
  r.status = status;
  r.bytes = bytes;
  uint64_t now = monotonic_us();
  r.duration_us = now > start_us ? now - start_us : 0;
  return r;
}

RouteDecision route_request(ConnectionEnv& env, Responder& conn, uint64_t seq, const http1::RequestHead& head,
                            ResponseContext& ctx, std::vector<PathParam>& params, RequestLog* log) {
  RouteDecision d;
  auto method = parse_method(head.method);
  if (!method) {
    // A method Tiercel does not know is refused like other bad input (DESIGN §6): 501, then close.
    ctx.keep_alive = false;
    d.answered = true;
    conn.respond_text(seq, 501, "Method not implemented\n", ctx, env.config.extra_header_lines);
    return d;
  }
  d.method = *method;
  ctx.head_request = *method == Method::kHead;
  RouteMatch m = env.routes.router.match(*method, head.path, params);
  if (m.kind != RouteMatch::Kind::kFound) {
    d.answered = true;
    std::string lines = env.config.extra_header_lines;
    if (const CorsPolicy* cors = env.config.cors) {
      const std::string_view* origin = find_header(head.headers, "origin");
      cors->append_response_lines(lines, origin ? cors->match(*origin) : CorsPolicy::kNoOrigin,
                                  env.config.extra_header_lines);
    }
    if (m.kind == RouteMatch::Kind::kNotFound) {
      conn.respond_text(seq, 404, "Not Found\n", ctx, lines);
    } else {
      conn.respond_text(seq, 405, "Method Not Allowed\n", ctx,
                        "Allow: " + Router::allow_header(m.allowed_methods) + "\r\n" + lines);
    }
    return d;
  }
  d.route_id = m.route_id;
  if (log) log->route = m.route_id;
  if (const RouteEntry* e = env.routes.entry(m.route_id); e && e->const_answer) {
    d.answered = true;
    conn.respond(seq, e->const_answer->head, e->const_answer->body, ctx);
  }
  return d;
}

}  // namespace tiercel
