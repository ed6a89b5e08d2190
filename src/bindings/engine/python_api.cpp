// The Engine's Python bindings (tiercel._core.Engine, MemoryConnection) and its native callbacks.
#include "bindings/engine/engine.h"

namespace tiercel::py {

void bind_engine(nb::module_& m) {
  nb::class_<TaskDone>(m, "_TaskDone")
      .def("__call__", [](TaskDone& d, nb::handle) {
        Pending* p = d.pending;
        d.pending = nullptr;
        if (!p) return;
        if (!p->engine) {
          p->conn->release();
          delete p;
          return;
        }
        p->engine->on_task_done(p);
      });

  nb::class_<PumpEvent>(m, "_StreamEvent")
      .def(
          "__call__",
          [](PumpEvent& ev, nb::handle) {
            ResponsePump* st = ev.pump;
            if (!st->engine) {  // the engine is gone: only the reference on the connection is left to drop
              if (ev.what == PumpEvent::kTaskDone || (ev.what == PumpEvent::kResume && !st->task)) {
                Responder* s = st->conn;
                delete st;
                s->release();
              }
              return;
            }
            st->engine->on_stream_event(st, ev.what);
          },
          nb::arg("arg").none() = nb::none());

  nb::class_<AsgiCall>(m, "AsgiCall", "A request to a mounted ASGI application: its receive and send.")
      .def(
          "receive",
          [](AsgiCall& c) {
            if (!c.engine) throw std::runtime_error("the ASGI request is over: its application has returned");
            return c.engine->asgi_receive(c);
          },
          "The next event of the request: its body, then http.disconnect once the response is complete or the "
          "client has left.")
      .def(
          "send",
          [](AsgiCall& c, nb::handle message) {
            if (!c.engine) throw std::runtime_error("the ASGI request is over: its application has returned");
            return c.engine->asgi_send(c, message);
          },
          nb::arg("message"), "Sends http.response.start, then http.response.body messages; awaitable.")
      .def("_done", [](AsgiCall& c, nb::handle) {
        if (c.engine) return c.engine->on_asgi_done(&c);
        if (Responder* conn = std::exchange(c.conn, nullptr)) conn->release();  // the engine went first
      });

  nb::class_<MemoryConnection>(m, "MemoryConnection", "A connection over memory to an engine (the TestClient's).")
      .def(
          "send", [](MemoryConnection& c, nb::bytes data) { c.feed(std::string_view(data.c_str(), data.size())); },
          nb::arg("data"), "Bytes from the client.")
      .def(
          "receive",
          [](MemoryConnection& c) {
            std::string out = c.take_output();
            return nb::bytes(out.data(), out.size());
          },
          "What the server has sent since the last call.")
      .def_prop_ro("closed", &MemoryConnection::closed, "The server closed the connection (or the client did).")
      .def("disconnect", &MemoryConnection::disconnect, "The client closes; pending handlers are cancelled.")
      .def(
          "set_on_output",
          [](MemoryConnection& c, nb::object fn) {
            if (fn.is_none()) return c.set_on_output(nullptr);
            c.set_on_output([fn = std::move(fn)]() {
              try {
                fn();
              } catch (nb::python_error& e) {
                e.discard_as_unraisable("in a memory connection's output callback");
              }
            });
          },
          nb::arg("fn").none(), nb::sig("def set_on_output(self, fn: typing.Callable[[], object] | None) -> None"),
          "Called (with no arguments) whenever the server sends or closes.");

  nb::class_<RouteSpec>(m, "RouteSpec", "One handler route as the app compiled it, for Engine.add_routes.")
      .def(
          "__init__",
          [](RouteSpec* self, std::string method, std::string path, nb::object handler, bool is_async, int nargs,
             nb::object plan, uint64_t stream_body_limit, nb::object answer, bool blocking,
             std::vector<std::pair<std::string, std::string>> response_headers, std::vector<RouteSpec::Hook> before,
             std::vector<RouteSpec::Hook> after, nb::object authenticate, bool authenticate_is_async,
             nb::object unauthorized, bool is_const, nb::object const_result) {
            new (self) RouteSpec{std::move(method), std::move(path), std::move(handler), is_async, nargs,
                                 std::move(plan), stream_body_limit, std::move(answer), blocking,
                                 std::move(response_headers), std::move(before), std::move(after),
                                 std::move(authenticate), authenticate_is_async, std::move(unauthorized), is_const,
                                 std::move(const_result)};
          },
          nb::arg("method"), nb::arg("path"), nb::kw_only(), nb::arg("handler").none() = nb::none(),
          nb::arg("is_async") = false, nb::arg("nargs") = 0, nb::arg("plan").none() = nb::none(),
          nb::arg("stream_body_limit") = 0, nb::arg("answer").none() = nb::none(), nb::arg("blocking") = false,
          nb::arg("response_headers") = std::vector<std::pair<std::string, std::string>>(),
          nb::arg("before") = std::vector<RouteSpec::Hook>(), nb::arg("after") = std::vector<RouteSpec::Hook>(),
          nb::arg("authenticate").none() = nb::none(), nb::arg("authenticate_is_async") = false,
          nb::arg("unauthorized").none() = nb::none(), nb::arg("is_const") = false,
          nb::arg("const_result").none() = nb::none(),
          nb::sig("def __init__(self, method: str, path: str, *, handler: object | None = None, "
                  "is_async: bool = False, nargs: int = 0, "
                  "plan: list[tuple[int, str, int, object, object, bool, bool]] | None = None, "
                  "stream_body_limit: int = 0, answer: tuple[object, object, int, object] | None = None, "
                  "blocking: bool = False, response_headers: list[tuple[str, str]] = [], "
                  "before: list[tuple[object, bool, int]] = [], after: list[tuple[object, bool, int]] = [], "
                  "authenticate: object | None = None, authenticate_is_async: bool = False, "
                  "unauthorized: object | None = None, is_const: bool = False, const_result: object | None = None) "
                  "-> None"),
          "method and path; the handler (None: the route is only checked) with is_async and nargs (0 or 1 "
          "positional: the request); its argument plan (tiercel/params.py); stream_body_limit (0: the body comes "
          "whole); answer, (validate, encode, status, exact) of a response model; blocking (runs in the thread "
          "pool); the app's global response_headers; before/after hooks as (callable, is_async, nargs); "
          "authenticate (auth_required) with what its None answers (unauthorized); is_const with const_result.")
      .def_ro("method", &RouteSpec::method)
      .def_ro("path", &RouteSpec::path);

  nb::class_<Engine>(m, "Engine", "The native HTTP engine of one event loop (internal).")
      .def(
          "__init__",
          [](Engine* self, uint32_t max_request_line, uint32_t max_header_bytes, uint32_t max_header_count,
             uint64_t max_body, double header_timeout, double keepalive_timeout, double write_timeout,
             uint32_t max_connections,
             uint32_t max_pipelined, size_t write_high_watermark, std::string server_header) {
            new (self) Engine();
            auto& c = self->config;
            c.limits.max_request_line = max_request_line;
            c.limits.max_header_bytes = max_header_bytes;
            c.limits.max_header_count = max_header_count;
            c.limits.max_body = max_body;
            c.header_timeout_ms = static_cast<uint32_t>(header_timeout * 1000);
            c.keepalive_timeout_ms = static_cast<uint32_t>(keepalive_timeout * 1000);
            c.write_timeout_ms = static_cast<uint32_t>(write_timeout * 1000);
            c.max_connections = max_connections;
            c.max_pipelined = max_pipelined;
            c.write_high_watermark = write_high_watermark;
            c.server_header = std::move(server_header);
          },
          nb::kw_only(), nb::arg("max_request_line") = 8 * 1024, nb::arg("max_header_bytes") = 64 * 1024,
          nb::arg("max_header_count") = 100, nb::arg("max_body") = 16 * 1024 * 1024,
          nb::arg("header_timeout") = 10.0, nb::arg("keepalive_timeout") = 5.0, nb::arg("write_timeout") = 30.0,
          nb::arg("max_connections") = 10000,
          nb::arg("max_pipelined") = 64, nb::arg("write_high_watermark") = 1 << 20,
          nb::arg("server_header") = "tiercel")
      .def("add_routes", &Engine::add_routes, nb::arg("routes"),
           "The app's handler routes in one call (their ids follow in order): each RouteSpec with its plan, hooks, "
           "authentication, response model, headers, or const answer.")
      .def("add_static_route", &Engine::add_static_route, nb::arg("prefix"), nb::arg("root"), nb::arg("index"),
           nb::arg("listing"), nb::arg("response_headers"),
           "GET prefix and prefix/*path answered natively from the files under root, with these global headers.")
      .def("set_tls", &Engine::set_tls, nb::arg("certificates"), nb::arg("ca_file"), nb::arg("verify_client"),
           nb::arg("ciphers"), nb::arg("http2") = true,
           "Serves TLS: certificates as (cert file, key file, password), the first the default and the others "
           "chosen by SNI; client certificates verified against ca_file (verify_client 1: if sent, 2: required). "
           "Called again, it reloads the certificates for new connections.")
      .def_prop_ro("tls", [](Engine& e) { return e.server && e.server->tls(); })
      .def(
          "set_http2", [](Engine& e, bool on) { e.tcp_server().set_http2(on); }, nb::arg("on"),
          "Accept HTTP/2 (prior-knowledge h2c on cleartext; ALPN h2 is set with set_tls).")
      .def_prop_ro("tls_failures", [](Engine& e) { return e.server ? e.server->tls_failures() : 0; },
                   "TLS handshakes that failed since the start.")
      .def_prop_ro("last_tls_error",
                   [](Engine& e) { return e.server ? e.server->last_tls_error() : std::string(); })
      .def("set_executor", &Engine::set_executor, nb::arg("executor"), nb::arg("wrap_future"),
           "The thread pool that pulls sync generators of streamed answers and runs blocking=True handlers.")
      .def_prop_ro(
          "blocking_executor", [](Engine& e) { return e.blocking_executor ? e.blocking_executor : nb::none(); },
          nb::sig("def blocking_executor(self) -> concurrent.futures.Executor | None"))
      .def("set_sessions", &Engine::set_sessions, nb::arg("key"), nb::arg("cookie_name"), nb::arg("max_age"),
           nb::arg("path"), nb::arg("domain").none(), nb::arg("secure"), nb::arg("http_only"),
           nb::arg("same_site").none(), "Signed cookie sessions (request.session) for every route.")
      .def("set_proxy_headers", &Engine::set_proxy_headers, nb::arg("trusted"),
           "Believe X-Forwarded-For/-Proto and Forwarded from these proxies (addresses, networks, or *).")
      .def("set_access_log", &Engine::set_access_log, nb::arg("on"), nb::arg("fd") = 1,
           "Writes an access-log line per answer to `fd`, in batches (flush_access_log, or every 64 KiB).")
      .def("flush_access_log", [](Engine& e) { e.telemetry.flush(); })
      .def("set_metrics", &Engine::set_metrics, nb::arg("memory"), nb::arg("nblocks"), nb::arg("own"),
           nb::arg("max_routes"), nb::arg("path"),
           "Counts into block `own` of the (shared) `memory` and serves every block's sum at GET `path`.")
      .def_static("metrics_block_bytes",
                  [](size_t max_routes) { return Telemetry::block_words(max_routes) * sizeof(uint64_t); },
                  nb::arg("max_routes"), "Bytes of one worker's metrics block.")
      .def("set_compression", &Engine::set_compression, nb::arg("min_size"), nb::arg("types"), nb::arg("codings"),
           nb::arg("level"), "Compresses responses (before any route is added): size, content types, codings, level.")
      .def_static(
          "available_codings",
          []() {
            std::vector<std::string> out;
            for (Coding c : available_codings()) out.emplace_back(coding_name(c));
            return out;
          },
          "The codings this build can compress with, best first ('br', 'zstd', 'gzip').")
      .def("set_websocket", &Engine::set_websocket, nb::arg("disconnect"), nb::arg("max_message"),
           nb::arg("ping_interval") = 20.0, nb::arg("ping_timeout") = 20.0, nb::arg("idle_timeout") = 0.0,
           "WebSocket settings: largest message (1009 above), server pings (every ping_interval seconds without a "
           "frame from the client; no pong within ping_timeout closes 1011), idle timeout (1001); 0 turns one off.")
      .def("add_websocket_route", &Engine::add_websocket_route, nb::arg("path"), nb::arg("handler"),
           nb::arg("on_connect").none(), nb::arg("on_close").none(), nb::arg("handler_args").none() = nb::none(),
           nb::arg("on_connect_args").none() = nb::none(), nb::arg("on_close_args").none() = nb::none(),
           nb::sig("def add_websocket_route(self, path: str, handler: object, on_connect: object | None, "
                   "on_close: object | None, handler_args: list[tuple[int, str, int, object, object, bool, bool]] | "
                   "None = None, on_connect_args: list[tuple[int, str, int, object, object, bool, bool]] | None = "
                   "None, on_close_args: list[tuple[int, str, int, object, object, bool, bool]] | None = None) -> int"),
           "A websocket route; each callable gets the arguments of its plan (set_arguments' tuples), filled at the "
           "upgrade, or the WebSocket alone when the plan is None.")
      .def_prop_ro("websocket_count", [](Engine& e) { return e.ws_host->conns.size(); })
      .def("set_cors", &Engine::set_cors, nb::arg("origins"), nb::arg("headers"), nb::arg("any_header"),
           nb::arg("credentials"), nb::arg("max_age"), nb::arg("expose"),
           "CORS for every route (before any route is added): allowed origins (empty: any), headers, credentials.")
      .def("add_preflight_route", &Engine::add_preflight_route, nb::arg("path"), nb::arg("allow_methods"),
           "OPTIONS on `path` answered natively (CORS preflights, plain OPTIONS with Allow); returns its id.")
      .def("set_default_headers", &Engine::set_default_headers, nb::arg("headers"),
           "Header lines added to the answers connections make themselves (404, 405, refused input).")
      .def("set_request_headers", &Engine::set_request_headers, nb::arg("headers"),
           "The app's global request headers: (name, value, replace) for every request.")
      .def("set_error_handling", &Engine::set_error_handling, nb::arg("handlers"), nb::arg("http_exception"),
           nb::arg("format_exception"), nb::arg("dev"), nb::arg("param_error"),
           nb::sig("def set_error_handling(self, handlers: list[tuple[type, object, bool, int]], http_exception: type, "
                   "format_exception: object, dev: bool, param_error: type) -> None"),
           "Exception handlers as (type, handler, is_async, nargs); HTTPException's type; traceback.format_exception; "
           "whether 500 responses show the traceback; the exception raised for a refused parameter, "
           "param_error(message, name).")
      .def("listen", &Engine::listen, nb::arg("host"), nb::arg("port"), nb::arg("backlog") = 1024,
           nb::arg("reuse_port") = false, "Binds and listens; returns the bound port.")
      .def(
          "attach",
          [](nb::handle self, nb::object loop) {
            nb::cast<Engine&>(self).attach(std::move(loop), self.attr("poll"), self.attr("_on_timer"));
          },
          nb::arg("loop"), "Registers the native loop with an asyncio loop (add_reader on its backend fd).")
      .def("open_memory_connection", &Engine::open_memory_connection, nb::arg("peer_ip") = "testclient",
           nb::keep_alive<0, 1>(), "A connection over memory to this engine (the TestClient's transport).")
      .def("detach", &Engine::detach)
      .def("poll", &Engine::poll, "Runs the native loop without blocking (the add_reader callback).")
      .def("_on_timer", &Engine::on_timer, "The asyncio timer that mirrors the native loop's next deadline fired.")
      .def("fileno", [](Engine& e) { return e.ev().backend_fd(); })
      .def("stop_listening",
           [](Engine& e) {
             if (e.server) e.server->stop_listening();
             e.ev().mark_dirty();
             e.poll();
           })
      .def(
          "listen_fd",
          [](Engine& e, int fd, int backlog) {
            std::string error;
            if (e.tcp_server().listen_fd(fd, backlog, error) != 0) throw std::runtime_error(error);
          },
          nb::arg("fd"), nb::arg("backlog") = 1024,
          "Listens on an already bound socket (a duplicate of `fd` is not made: the engine owns it from now on).")
      .def("add_asgi_mount", &Engine::add_asgi_mount, nb::arg("prefix"), nb::arg("app"), nb::arg("disconnected"),
           nb::arg("response_headers"), nb::arg("state").none() = nb::none(),
           "Requests under `prefix` (every method) go to `app`, an ASGI 3 application; `disconnected` is the "
           "OSError subclass its send() raises once the client has left; `state` the dict its lifespan startup "
           "filled, shallow-copied into each request's scope (None: no lifespan).")
      .def("drain_connections",
           [](Engine& e) {
             e.end_event_streams();
             if (e.server) e.server->drain_connections();
             e.ev().mark_dirty();
             e.poll();
           },
           "Graceful shutdown: server-sent-event streams end at once (whole); busy connections close after their "
           "answers (with Connection: close), idle ones after a short grace in which a request that arrives is "
           "answered the same way.")
      .def_prop_ro("requests_served", [](Engine& e) { return e.server ? e.server->env().requests : 0; })
      .def("close_idle_connections",
           [](Engine& e) {
             if (e.server) e.server->close_idle_connections();
             e.poll();
           })
      .def_prop_ro("connection_count", [](Engine& e) { return e.server ? e.server->connection_count() : 0; })
      .def_prop_ro("pending_count", [](Engine& e) { return e.pending.size() + e.asgi_calls.size(); })
      .def_prop_ro("background_count", [](Engine& e) { return e.tasks_runner.unfinished(); },
                   "Background tasks queued (their answers written) and not finished yet.")
      .def("background_idle", [](Engine& e) { return e.tasks_runner.idle(); },
           nb::sig("def background_idle(self) -> asyncio.Future[None]"),
           "An asyncio Future done once no background task is unfinished.")
      .def("abandon_background_tasks", [](Engine& e, const std::string& why) { return e.tasks_runner.abandon(why); },
           nb::arg("why"),
           "Logs every unfinished background task as abandoned (one warning naming its function, saying `why`), "
           "counts it, and cancels what can be; returns how many.")
      .def("close", &Engine::shutdown, "Cancels pending handlers, closes every connection and the listener.");

  m.def(
      "synthetic_request", [](std::string_view method, std::string_view path) {
        return make_synthetic_request(method, path);
      },
      nb::arg("method"), nb::arg("path"), nb::sig("def synthetic_request(method: str, path: str) -> Request"),
      "A Request with no headers or body (for rendering const routes).");
}

}  // namespace tiercel::py
