// The Engine's registration: routes, their handlers' plans, hooks and answers, and the app-wide settings
// (TLS, CORS, compression, connections, WebSockets, error handling), checked as they are set.
#include "bindings/engine/engine.h"

namespace tiercel::py {

void Engine::add_routes(const std::vector<RouteSpec>& specs) {
  for (const RouteSpec& spec : specs) add_handler_route(spec);
}

uint32_t Engine::add_handler_route(const RouteSpec& s) {
  uint32_t id = add_route(s.method, s.path, s.handler.is_valid() ? s.handler : nb::none(), s.is_async, s.nargs);
  if (s.plan.is_valid() && !s.plan.is_none()) set_arguments(id, s.plan);
  if (s.stream_body_limit != 0) set_stream_body(id, s.stream_body_limit);
  if (s.answer.is_valid() && !s.answer.is_none()) {
    auto [validate, encode, status, exact] = nb::cast<std::tuple<nb::object, nb::object, int, nb::object>>(s.answer);
    set_answer(id, std::move(validate), std::move(encode), status, std::move(exact));
  }
  if (s.blocking) set_blocking(id);
  if (!s.response_headers.empty()) set_response_headers(id, s.response_headers);
  if (!s.before.empty() || !s.after.empty()) set_hooks(id, s.before, s.after);
  if (s.authenticate.is_valid() && !s.authenticate.is_none())
    set_authentication(id, s.authenticate, s.authenticate_is_async,
                       s.unauthorized.is_valid() ? s.unauthorized : nb::none());
  if (s.is_const) set_const_response(id, s.const_result.is_valid() ? s.const_result : nb::none());
  return id;
}

uint32_t Engine::add_route(std::string_view method, std::string_view path, nb::object handler, bool is_async,
                           int nargs) {
  if (nargs < 0 || nargs > 1) throw nb::value_error("a handler takes at most one positional argument (the request)");
  Route& rt = add_native_route(RouteKind::kHandler, method, path);
  rt.handler = Callee{std::move(handler), is_async, nargs, {}};
  return static_cast<uint32_t>(route_info.size() - 1);
}

Engine::Route& Engine::add_native_route(RouteKind kind, std::string_view method, std::string_view path) {
  add_checked_route(routes, method, path);
  Route& rt = route_info.emplace_back();
  rt.kind = kind;
  rt.method = method;
  rt.path = path;
  return rt;
}

Engine::Route& Engine::handler_route(uint32_t route_id) {
  if (route_id >= route_info.size()) throw nb::index_error("no such route");
  Route& rt = route_info[route_id];
  if (rt.kind != RouteKind::kHandler) throw nb::value_error("the route is answered by the engine, not a handler");
  return rt;
}

void Engine::set_arguments(uint32_t route_id, nb::handle args) {
  handler_route(route_id).handler.plan = make_plan(args);
}

void Engine::set_blocking(uint32_t route_id) {
  Callee& h = handler_route(route_id).handler;
  if (h.is_async) throw nb::value_error("blocking=True is for sync handlers; an async handler must not block");
  if (!blocking_submit) throw nb::value_error("blocking=True needs the engine's thread pool: set_executor first");
  h.blocking = true;
}

void Engine::set_answer(uint32_t route_id, nb::object validate, nb::object encode, int status, nb::object exact) {
  Route& rt = handler_route(route_id);
  if (status != 0 && (status < 100 || status > 599)) throw nb::value_error("status_code is 100-599");
  auto m = std::make_shared<AnswerModel>();
  if (!validate.is_none()) m->validate = std::move(validate);
  if (!encode.is_none()) m->encode = std::move(encode);
  if (PyType_Check(exact.ptr())) {
    m->exact = reinterpret_cast<PyTypeObject*>(exact.ptr());
    m->exact_owner = std::move(exact);
  }
  nb::dict headers;
  headers["Content-Type"] = nb::str("application/json");
  m->headers = std::move(headers);
  m->status = status;
  rt.answer = std::move(m);
}

void Engine::set_executor(nb::object executor, nb::object wrap_future_fn) {
  blocking_submit = executor.attr("submit");
  blocking_executor = std::move(executor);
  wrap_future = std::move(wrap_future_fn);
  tasks_runner.submit = blocking_submit;
  tasks_runner.wrap_future = wrap_future;
}

void Engine::set_stream_body(uint32_t route_id, uint64_t limit) {
  if (!handler_route(route_id).handler.is_async) {
    throw nb::value_error("stream_body=True needs an async handler: it reads the body with `async for`");
  }
  if (limit == 0) throw nb::value_error("the largest streamed body must be at least 1 byte");
  routes.entries[route_id].stream_body_limit = limit;
  routes.has_stream_body = true;
}

void Engine::set_tls(const std::vector<std::tuple<std::string, std::string, std::string>>& certificates,
                     std::string ca_file, int verify_client, std::string ciphers, bool http2) {
  TlsSettings s;
  s.alpn = http2 ? std::vector<std::string>{"h2", "http/1.1"} : std::vector<std::string>{"http/1.1"};
  for (const auto& [cert, key, password] : certificates) s.certificates.push_back({cert, key, password});
  s.ca_file = std::move(ca_file);
  s.verify_client = verify_client;
  s.ciphers = std::move(ciphers);
  std::shared_ptr<const TlsContext> context;
  try {
    context = TlsContext::create(s);
  } catch (const std::runtime_error& e) {
    throw nb::value_error(e.what());
  }
  tcp_server().set_tls(std::move(context));
}

void Engine::set_hooks(uint32_t route_id, const std::vector<std::tuple<nb::object, bool, int>>& before,
                       const std::vector<std::tuple<nb::object, bool, int>>& after) {
  Route& rt = handler_route(route_id);
  auto fill = [](std::vector<Callee>& out, const std::vector<std::tuple<nb::object, bool, int>>& in, int max_args) {
    out.clear();
    for (auto& [fn, is_async, nargs] : in) {
      if (nargs < 0 || nargs > max_args) throw nb::value_error("a hook takes the request (and, after, the response)");
      out.push_back(Callee{fn, is_async, nargs, {}});
    }
  };
  fill(rt.before, before, 1);
  fill(rt.after, after, 2);
}

void Engine::set_proxy_headers(std::string_view trusted) {
  auto t = std::make_shared<TrustedProxies>();
  std::string error;
  if (!t->parse(trusted, error)) throw nb::value_error(("forwarded_allow_ips: " + error).c_str());
  config.trusted_proxies = std::move(t);
}

void Engine::set_cors(const std::vector<std::string>& origins, const std::vector<std::string>& headers, bool any_header,
                      bool credentials, uint32_t max_age, const std::vector<std::string>& expose) {
  if (!route_info.empty()) throw std::runtime_error("set_cors comes before the routes");
  auto c = std::make_unique<CorsPolicy>();
  c->any_origin = origins.empty();
  c->origins = origins;
  c->allow_headers = headers;
  c->any_header = any_header;
  c->credentials = credentials;
  c->max_age = max_age;
  c->expose_headers = expose;
  if (c->any_origin && credentials) throw nb::value_error("CORS credentials need an explicit list of origins");
  for (auto& h : headers)
    if (!is_header_name(h)) throw nb::value_error(("invalid CORS header name '" + h + "'").c_str());
  for (auto& h : expose)
    if (!is_header_name(h)) throw nb::value_error(("invalid CORS header name '" + h + "'").c_str());
  for (auto& o : origins)
    if (!is_header_value(o) || o.empty()) throw nb::value_error(("invalid CORS origin '" + o + "'").c_str());
  cors = std::move(c);
  config.cors = cors.get();
}

void Engine::set_compression(size_t min_size, std::vector<std::string> types, const std::vector<std::string>& codings,
                             int level) {
  if (!route_info.empty()) throw std::runtime_error("set_compression comes before the routes");
  compression = ResponseCompression::make(min_size, std::move(types), codings, level);
}

void Engine::set_sessions(nb::bytes key, std::string cookie_name, long long max_age, std::string path,
                          nb::object domain, bool secure, bool http_only, nb::object same_site) {
  if (!is_header_name(cookie_name)) throw nb::value_error("the session cookie name must be a token");
  if (max_age <= 0) throw nb::value_error("the session max_age must be a positive number of seconds");
  auto s = std::make_shared<SessionSettings>();
  s->key.assign(key.c_str(), key.size());
  s->cookie_name = std::move(cookie_name);
  s->max_age = max_age;
  // The attributes are checked by Response.set_cookie's own rules (it also builds "; Path=...; HttpOnly").
  std::string probe = set_cookie_value(s->cookie_name, "", nb::str(path.c_str()), domain, nb::none(), nb::none(),
                                       secure, http_only, same_site);
  s->attributes = probe.substr(s->cookie_name.size() + 1);
  sessions = std::move(s);
}

void Engine::set_websocket(nb::object disconnect, uint64_t max_message, double ping_interval, double ping_timeout,
                           double idle_timeout) {
  ws_host->disconnect = std::move(disconnect);
  ws_host->max_message = max_message;
  ws_host->ping_interval = ping_interval;
  ws_host->ping_timeout = ping_timeout;
  ws_host->idle_timeout = idle_timeout;
}

uint32_t Engine::add_websocket_route(std::string_view path, nb::object handler, nb::object on_connect,
                                     nb::object on_close, nb::object handler_args, nb::object on_connect_args,
                                     nb::object on_close_args) {
  auto r = std::make_shared<WsRoute>();
  r->path = std::string(path);
  for (auto [callee, fn, args] : {std::tuple{&r->handler, &handler, &handler_args},
                                  std::tuple{&r->on_connect, &on_connect, &on_connect_args},
                                  std::tuple{&r->on_close, &on_close, &on_close_args}}) {
    if (!fn->is_none()) callee->fn = *fn;
    if (!args->is_none()) callee->plan = make_plan(*args);
  }
  add_native_route(RouteKind::kWebSocket, "GET", path).ws = std::move(r);
  return static_cast<uint32_t>(route_info.size() - 1);
}

void Engine::set_authentication(uint32_t route_id, nb::object authenticate, bool is_async, nb::object unauthorized) {
  Route& rt = handler_route(route_id);
  std::string error;
  if (!as_response(unauthorized, error)) throw nb::type_error(("unauthorized_response: " + error).c_str());
  if (rt.authenticated()) throw nb::value_error("the route already has authentication");
  rt.before.insert(rt.before.begin(), Callee{std::move(authenticate), is_async, 1, {}});
  rt.unauthorized = std::move(unauthorized);
}

void Engine::set_request_headers(const std::vector<std::tuple<std::string, std::string, bool>>& headers) {
  if (headers.empty())
    request_headers.reset();
  else
    request_headers = std::make_shared<const std::vector<std::tuple<std::string, std::string, bool>>>(headers);
}

void Engine::set_response_headers(uint32_t route_id, const std::vector<std::pair<std::string, std::string>>& headers) {
  if (route_id >= route_info.size()) throw nb::index_error("no such route");
  route_info[route_id].global_lines = header_lines(headers);
}

std::string Engine::header_lines(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string lines;
  for (auto& [name, value] : headers) {
    if (!is_header_name(name) || !is_header_value(value))
      throw nb::value_error(("invalid header '" + name + "'").c_str());
    lines.append(name).append(": ").append(value).append("\r\n");
  }
  return lines;
}

void Engine::set_error_handling(nb::list handlers, nb::object http_exception_type, nb::object format_exception_fn,
                                bool dev_mode, nb::object param_error_type) {
  error_callees.clear();
  for (nb::handle item : handlers) {
    auto t = nb::cast<std::tuple<nb::object, nb::object, bool, int>>(item);
    auto& [type, fn, is_async, nargs] = t;
    if (!PyType_Check(type.ptr()) || !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(type.ptr()),
                                                       reinterpret_cast<PyTypeObject*>(PyExc_BaseException)))
      throw nb::type_error("an exception handler is registered for an exception class");
    if (nargs < 1 || nargs > 2) throw nb::value_error("an exception handler takes (error) or (request, error)");
    error_callees[type.ptr()] = Callee{fn, is_async, nargs, {}};
  }
  error_handlers = std::move(handlers);  // keeps the types (the map's keys) alive
  http_exception = std::move(http_exception_type);
  globals().http_exception = http_exception;
  format_exception = std::move(format_exception_fn);
  param_error = std::move(param_error_type);
  ws_host->param_error = param_error;
  dev = dev_mode;
}

void Engine::set_const_response(uint32_t route_id, nb::handle result) {
  Route& rt = handler_route(route_id);
  if (nb::isinstance<StreamingResponse>(result))
    throw nb::type_error("const route: a StreamingResponse is used up by one request; drop const=True so that "
                         "each request gets a fresh one");
  if (rt.hooked() || cors || compression || nb::isinstance<FileResponse>(result)) {
    // Hooks run per request and CORS headers depend on the request's Origin, so the bytes cannot be fixed:
    // the result is reused instead of calling the handler.
    std::string error;
    nb::object response = as_response(result, error);
    if (!response) throw nb::type_error(("const route: " + error).c_str());
    rt.const_result = nb::borrow(result);
    return;
  }
  Rendered r;
  std::string error;
  size_t length = 0;
  if (!render_result(result, r, error) || !framed_length(r, false, length, error))
    throw nb::type_error(("const route: " + error).c_str());
  ConstAnswer answer{ResponseHead{r.status, r.header_lines}, std::string(r.body)};
  append_absent(answer.head.fields, r.header_lines, rt.global_lines);
  routes.entries[route_id].const_answer = std::move(answer);
}

}  // namespace tiercel::py
