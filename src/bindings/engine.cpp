// Engine: one native loop + server per asyncio loop. Dispatches routed requests to Python handlers by
// vectorcall, runs async handlers as (eager) Tasks, and writes their results — no framework Python per request.
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>

#include <climits>
#include <ctime>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "bindings/answer_model.h"
#include "bindings/arguments.h"
#include "bindings/background_tasks.h"
#include "bindings/body_stream.h"
#include "bindings/common.h"
#include "bindings/request.h"
#include "bindings/response_compression.h"
#include "bindings/sessions.h"
#include "bindings/sync_pull.h"
#include "bindings/telemetry.h"
#include "bindings/websocket.h"
#include "core/compression.h"
#include "core/cors.h"
#include "core/memory_connection.h"
#include "core/percent.h"
#include "core/proxy.h"
#include "core/static_files.h"
#include "core/tcp_server.h"

namespace tiercel::py {

namespace {

/// Calls `.cancel()` on a Task, Future or TimerHandle (when set), ignoring whatever it raises.
void cancel_handle(const nb::object& h) noexcept {
  if (!h) return;
  PyObject* r = PyObject_CallMethodNoArgs(h.ptr(), globals().s_cancel.ptr());
  Py_XDECREF(r);
  PyErr_Clear();
}


/// Logs `exc` (with its traceback) through the "tiercel" logger.
void log_exception(std::string_view what, std::string_view method, std::string_view path, nb::handle exc) {
  try {
    globals().logger.attr("error")("%s for %s %s", nb::str(what.data(), what.size()),
                                   nb::str(method.data(), method.size()), nb::str(path.data(), path.size()),
                                   nb::arg("exc_info") = exc ? exc : nb::none());
  } catch (...) {
    PyErr_Clear();
  }
}

/// Logs the current Python exception and clears it.
void log_current_exception(std::string_view what, std::string_view method, std::string_view path) {
  log_exception(what, method, path, fetch_exception());
}

void log_warning(const std::string& msg) {
  try {
    globals().logger.attr("warning")(nb::str(msg.c_str()));
  } catch (...) {
    PyErr_Clear();
  }
}

void log_message(const std::string& msg) {
  try {
    globals().logger.attr("error")(nb::str(msg.c_str()));
  } catch (...) {
    PyErr_Clear();
  }
}

}  // namespace

class Engine;

/// What a session holds as the token of a deferred answer: a Pending request or a Stream.
struct Token {
  enum class Kind : uint8_t { kPending, kStream };
  Kind kind = Kind::kPending;
};

/// A request on its way through its route's stages (before hooks, handler, after hooks), kept while one
/// of them is suspended: where the answer goes when that stage's Task finishes.
struct Pending : Token {
  Pending(Engine* e, Http1Session* s, uint64_t q, const ResponseContext& c, uint32_t r)
      : engine(e), session(s), seq(q), ctx(c), route_id(r) {}
  Engine* engine;
  Http1Session* session;
  uint64_t seq;
  ResponseContext ctx;
  uint32_t route_id;
  size_t stage = 0;    // index into [before hooks..., handler, after hooks...]
  nb::object request;  // the Request (a before hook may return a new one)
  nb::object response; // the handler's result; a Response object once an after hook needs one
  nb::object context;  // the contextvars.Context the stages share (hooked routes only)
  nb::object task;     // the suspended stage's Task
  bool handling_error = false;  // the Task is an exception handler's, for an error of `stage`
};

/// Native done-callback of a suspended stage's Task.
struct TaskDone {
  Pending* pending;
};

/// A StreamingResponse being sent: its iterator is pulled only while the connection can take more.
struct Stream : Token {
  Stream() { kind = Kind::kStream; }
  ~Stream() {
    if (puller) puller->detach();
  }
  Engine* engine = nullptr;
  Http1Session* session = nullptr;
  uint64_t seq = 0;
  uint32_t route_id = 0;
  nb::object iter;         // the iterator, or the async iterator
  bool is_async = false;
  nb::object pull;             // a sync iterator's SyncPull (pulled in the thread pool)
  SyncPull* puller = nullptr;  // its C++ object
  bool sse = false;
  ResponseWriter::Framing framing = ResponseWriter::Framing::kChunked;
  nb::object task;         // the pending __anext__() of an async iterator
  nb::object timer;        // the pending ping callback's handle
  nb::object resume;       // the pending resume callback's handle
  double ping_interval = 0;
  bool wrote = false;      // since the last ping check
  bool cancelled = false;  // the client left
  bool resume_scheduled = false;
  // A file body (serve_directory, serve_file): pieces read from `fd`, Content-Length framed.
  int fd = -1;
  std::vector<FilePiece> pieces;
  bool sendfile = true;  // until the transport says it cannot
  size_t piece = 0;
  uint64_t piece_done = 0;
  nb::object background;  // the request's BackgroundTasks: queued once the stream ends
};

/// The native callbacks of a Stream: its __anext__ finished (kTaskDone), a pull after yielding the loop
/// (kResume), its keep-alive ping timer (kPing).
struct StreamEvent {
  enum What : uint8_t { kTaskDone, kResume, kPing };
  Stream* stream;
  What what;
};

/// Enters a contextvars.Context for the current scope (nothing for a null one); exit() leaves it early. Holds a
/// reference: the Pending that owns the context may be gone before the scope ends.
class ContextScope {
 public:
  explicit ContextScope(PyObject* ctx) : ctx_(nb::borrow(ctx)) { enter(); }
  ~ContextScope() { exit(); }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;
  void enter() {
    if (ctx_ && !in_) {
      if (PyContext_Enter(ctx_.ptr()) == 0)
        in_ = true;
      else
        PyErr_Clear();
    }
  }
  void exit() {
    if (in_) {
      if (PyContext_Exit(ctx_.ptr()) != 0) PyErr_Clear();
      in_ = false;
    }
  }

 private:
  nb::object ctx_;
  bool in_ = false;
};

class Engine final : public Dispatcher {
 public:
  /// A callable the engine calls with up to two positional arguments, or (a handler) with the arguments its plan
  /// fills.
  struct Callee {
    nb::object fn;
    bool is_async = false;
    int nargs = 0;
    std::shared_ptr<const ArgPlan> plan;
    bool blocking = false;  // a sync handler run in the blocking thread pool
  };

  struct Route {
    Callee handler;
    std::string method;
    std::string path;
    std::vector<Callee> before, after;  // hooks, in the order they run
    nb::object const_result;            // a const route with hooks: the handler's result, reused
    std::string global_lines;           // the app's global response headers ("Name: value\r\n"*), if any
    bool preflight = false;             // answers CORS preflights natively (no handler)
    bool metrics = false;               // serves the Prometheus metrics natively (no handler)
    std::shared_ptr<WsRoute> ws;         // a websocket route: upgrades, then runs ws->handler
    bool is_static = false;             // serves files under static_root natively (no handler)
    std::string static_root, static_index;
    bool static_listing = false;
    std::string allow_methods;          // preflight: the methods of the path ("GET, HEAD, POST")
    bool auth = false;                  // before[0] is the authentication handler's authenticate()
    nb::object unauthorized;            // what auth answers when authenticate() returns None
    std::shared_ptr<const AnswerModel> answer;  // FastAPI's response model / status_code, or null
    bool hooked() const noexcept { return !before.empty() || !after.empty(); }
  };

  ServerConfig config;
  RouteTable routes;
  std::vector<Route> route_info;
  std::unique_ptr<EventLoop> loop;  // made on first use: an engine that only checks routes has no loop (no fds)
  std::unique_ptr<TcpServer> server;
  std::unique_ptr<SessionEnv> memory_env;
  std::unique_ptr<CorsPolicy> cors;
  std::shared_ptr<WsHost> ws_host = std::make_shared<WsHost>();
  std::unique_ptr<ResponseCompression> compression;
  Telemetry telemetry;
  bool telemetry_on = false;
  Py_buffer metrics_view{};  // the (possibly shared) memory of the metrics counters, held while set
  std::shared_ptr<const SessionSettings> sessions;  // of the TestClient's in-memory connections
  std::unordered_set<Pending*> pending;
  std::unordered_set<Stream*> streams;
  nb::object ensure_future, background;  // asyncio.ensure_future; a set holding fire-and-forget tasks
  BackgroundRunner tasks_runner;         // the handlers' BackgroundTasks, run once their answers are out

  nb::object aio_loop, call_at, call_soon, poll_cb, timer_cb, timer_handle;
  // Error handling: {exception type: (handler, is_async, nargs)}, the HTTPException type, traceback formatting,
  // the exception for a refused path or query parameter.
  nb::object error_handlers, http_exception, format_exception, param_error;
  // Blocking handlers and sync generators of streams: the thread pool, its submit, and asyncio.wrap_future.
  nb::object blocking_executor, blocking_submit, wrap_future;
  std::unordered_map<PyObject*, Callee> error_callees;  // keys are the types held by error_handlers
  std::shared_ptr<const std::vector<std::tuple<std::string, std::string, bool>>> request_headers;
  bool dev = false;
  double timer_deadline = 0;
  bool soon_pending = false;
  bool attached = false;
  int reader_fd = -1;

  ~Engine() override {
    shutdown();
    telemetry.flush();
    if (metrics_view.obj) PyBuffer_Release(&metrics_view);
  }

  /// The listener's server, made on first use, with the observer set.
  TcpServer& tcp_server() {
    if (!server) {
      server = std::make_unique<TcpServer>(ev(), config, routes, *this);
      if (telemetry_on) server->env().observer = &telemetry;
      server->set_warn(log_warning);
    }
    return *server;
  }

  void set_access_log(bool on, int fd) {
    telemetry.access_log = on;
    telemetry.log_fd = fd;
    telemetry_on = telemetry_on || on;
    observe();
  }

  /// The server's connections report to the telemetry once it is on (the server may be made before: TLS settings).
  void observe() {
    if (server && telemetry_on) server->env().observer = &telemetry;
  }

  /// Metrics counted into block `own` of `nblocks` blocks in `memory` (a writable buffer, shared between workers
  /// by a supervisor), and served at GET `path` from all of them.
  void set_metrics(nb::object memory, size_t nblocks, size_t own, size_t max_routes, std::string_view path) {
    if (metrics_view.obj) throw std::runtime_error("metrics are already set");
    if (own >= nblocks) throw nb::value_error("the metrics block is out of range");
    if (route_info.size() + 1 > max_routes) throw nb::value_error("max_routes is smaller than the routes");
    if (PyObject_GetBuffer(memory.ptr(), &metrics_view, PyBUF_WRITABLE) != 0) throw nb::python_error();
    size_t need = nblocks * Telemetry::block_words(max_routes) * sizeof(uint64_t);
    if (static_cast<size_t>(metrics_view.len) < need ||
        reinterpret_cast<uintptr_t>(metrics_view.buf) % alignof(uint64_t) != 0) {
      PyBuffer_Release(&metrics_view);
      metrics_view = {};
      throw nb::value_error("the metrics memory is too small or not aligned");
    }
    uint32_t id = add_route("GET", path, nb::none(), false, 0);
    route_info[id].metrics = true;
    telemetry.base = static_cast<uint64_t*>(metrics_view.buf);
    telemetry.nblocks = nblocks;
    telemetry.own = own;
    telemetry.max_routes = max_routes;
    for (auto& rt : route_info) {
      std::string label = "route=\"";
      for (char c : rt.path) {
        if (c == '"' || c == '\\') label.push_back('\\');
        label.push_back(c);
      }
      label += "\",method=\"" + rt.method + "\"";
      telemetry.route_labels.push_back(std::move(label));
    }
    tasks_runner.telemetry = &telemetry;
    telemetry_on = true;
    observe();
  }

  EventLoop& ev() {
    if (!loop) loop = std::make_unique<EventLoop>();
    return *loop;
  }

  // ---- registration -----------------------------------------------------------------------
  uint32_t add_route(std::string_view method, std::string_view path, nb::object handler, bool is_async, int nargs) {
    auto m = parse_method(method);
    if (!m) throw nb::value_error(("unknown HTTP method '" + std::string(method) + "'").c_str());
    if (nargs < 0 || nargs > 1) throw nb::value_error("a handler takes at most one positional argument (the request)");
    uint32_t id = static_cast<uint32_t>(route_info.size());
    std::string error;
    if (!routes.router.add(*m, path, id, error)) throw nb::value_error(error.c_str());
    Route& rt = route_info.emplace_back();
    rt.handler = Callee{std::move(handler), is_async, nargs, {}};
    rt.method = method;
    rt.path = path;
    routes.const_head.emplace_back();
    routes.const_body.emplace_back();
    return id;
  }

  /// The handler's arguments: (source, name, conversion, extra, default, has_default, keyword) per parameter.
  void set_arguments(uint32_t route_id, nb::handle args) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    route_info[route_id].handler.plan = make_plan(args);
  }

  /// The route's handler is sync and may block: it runs in `executor` (a concurrent.futures.Executor).
  void set_blocking(uint32_t route_id, nb::object executor, nb::object wrap_future_fn) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    Callee& h = route_info[route_id].handler;
    if (h.is_async) throw nb::value_error("blocking=True is for sync handlers; an async handler must not block");
    h.blocking = true;
    set_executor(std::move(executor), std::move(wrap_future_fn));
  }

  void set_answer(uint32_t route_id, nb::object validate, nb::object encode, int status, nb::object exact) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
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
    route_info[route_id].answer = std::move(m);
  }

  /// The handler's `result` shaped by the route's response model (FastAPI's): false with a Python error set.
  static bool shape(const Route& rt, nb::object& result) { return !rt.answer || shape_answer(*rt.answer, result); }

  /// The thread pool that pulls the sync generators of streamed answers (and runs blocking=True handlers).
  void set_executor(nb::object executor, nb::object wrap_future_fn) {
    blocking_submit = executor.attr("submit");
    blocking_executor = std::move(executor);
    wrap_future = std::move(wrap_future_fn);
    tasks_runner.submit = blocking_submit;
    tasks_runner.wrap_future = wrap_future;
  }

  void set_stream_body(uint32_t route_id, uint64_t limit) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    if (!route_info[route_id].handler.is_async) {
      throw nb::value_error("stream_body=True needs an async handler: it reads the body with `async for`");
    }
    if (limit == 0) throw nb::value_error("the largest streamed body must be at least 1 byte");
    if (routes.stream_body_limit.size() <= route_id) routes.stream_body_limit.resize(route_id + 1, 0);
    routes.stream_body_limit[route_id] = limit;
    routes.has_stream_body = true;
  }

  /// Serves TLS with these certificates ((cert file, key file, key password); the first is the default, the others
  /// are chosen by SNI). Called again, it reloads: new connections get the new certificates.
  void set_tls(const std::vector<std::tuple<std::string, std::string, std::string>>& certificates,
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

  /// Submits a blocking handler's call to the pool: an asyncio Future (new reference) or null with the error set.
  /// It runs in a copy of `context` (or of the current one): a Context cannot be entered by two threads at once.
  PyObject* submit_blocking(const Callee& h, nb::handle request, nb::handle context) {
    nb::inst_ptr<Request>(request)->detach();  // the thread may read it after the connection buffer moved on
    nb::object copy = nb::steal(context ? PyContext_Copy(context.ptr()) : PyContext_CopyCurrent());
    if (!copy) return nullptr;
    nb::object run = copy.attr("run");
    PyObject* future;
    if (h.plan) {
      future = call_with_plan(blocking_submit, *h.plan, request, param_error, {run.ptr(), h.fn.ptr()});
    } else {
      PyObject* args[4] = {nullptr, run.ptr(), h.fn.ptr(), request.ptr()};
      future = PyObject_Vectorcall(blocking_submit.ptr(), args + 1,
                                   static_cast<size_t>(2 + h.nargs) | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
    }
    if (!future) return nullptr;
    nb::object cf = nb::steal(future);
    try {
      return wrap_future(cf, nb::arg("loop") = aio_loop).release().ptr();
    } catch (nb::python_error& e) {
      e.restore();
      return nullptr;
    }
  }

  void set_hooks(uint32_t route_id, const std::vector<std::tuple<nb::object, bool, int>>& before,
                 const std::vector<std::tuple<nb::object, bool, int>>& after) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    Route& rt = route_info[route_id];
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

  /// Trust proxy headers from these proxies ("127.0.0.1,10.0.0.0/8", "*").
  void set_proxy_headers(std::string_view trusted) {
    auto t = std::make_shared<TrustedProxies>();
    std::string error;
    if (!t->parse(trusted, error)) throw nb::value_error(("forwarded_allow_ips: " + error).c_str());
    config.trusted_proxies = std::move(t);
  }

  /// CORS for every route: `origins` empty means any origin ("*"), `headers` empty with any_header means any.
  void set_cors(const std::vector<std::string>& origins, const std::vector<std::string>& headers, bool any_header,
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

  /// Response compression for every route (off until this is called).
  void set_compression(size_t min_size, std::vector<std::string> types, const std::vector<std::string>& codings,
                       int level) {
    if (!route_info.empty()) throw std::runtime_error("set_compression comes before the routes");
    compression = ResponseCompression::make(min_size, std::move(types), codings, level);
  }

  /// Signed cookie sessions (request.session) for every route.
  void set_sessions(nb::bytes key, std::string cookie_name, long long max_age, std::string path, nb::object domain,
                    bool secure, bool http_only, nb::object same_site) {
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

  /// OPTIONS on `path`, answered natively: CORS preflights (set_cors first) and plain OPTIONS with `Allow`.
  uint32_t add_preflight_route(std::string_view path, std::string allow_methods) {
    if (!cors) throw std::runtime_error("preflight routes need set_cors first");
    uint32_t id = add_route("OPTIONS", path, nb::none(), false, 0);
    route_info[id].preflight = true;
    route_info[id].allow_methods = std::move(allow_methods);
    return id;
  }

  /// WebSocket settings: the exception for a closed connection, the largest message accepted (1009 above).
  void set_websocket(nb::object disconnect, uint64_t max_message, double ping_interval, double ping_timeout,
                     double idle_timeout) {
    ws_host->disconnect = std::move(disconnect);
    ws_host->max_message = max_message;
    ws_host->ping_interval = ping_interval;
    ws_host->ping_timeout = ping_timeout;
    ws_host->idle_timeout = idle_timeout;
  }

  /// A websocket route: GET `path` upgrades and runs `handler` (async) with optional hooks, each called with the
  /// arguments of its plan (as set_arguments' tuples), or with the WebSocket alone when its plan is None.
  uint32_t add_websocket_route(std::string_view path, nb::object handler, nb::object on_connect, nb::object on_close,
                               nb::object handler_args, nb::object on_connect_args, nb::object on_close_args) {
    auto r = std::make_shared<WsRoute>();
    r->path = std::string(path);
    for (auto [callee, fn, args] : {std::tuple{&r->handler, &handler, &handler_args},
                                    std::tuple{&r->on_connect, &on_connect, &on_connect_args},
                                    std::tuple{&r->on_close, &on_close, &on_close_args}}) {
      if (!fn->is_none()) callee->fn = *fn;
      if (!args->is_none()) callee->plan = make_plan(*args);
    }
    uint32_t id = add_route("GET", path, nb::none(), false, 0);
    route_info[id].ws = std::move(r);
    return id;
  }

  /// auth_required: `authenticate(request)` runs before the route's hooks; None answers `unauthorized`, anything
  /// else becomes request.identity. Call after set_hooks.
  void set_authentication(uint32_t route_id, nb::object authenticate, bool is_async, nb::object unauthorized) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    std::string error;
    if (!as_response(unauthorized, error)) throw nb::type_error(("unauthorized_response: " + error).c_str());
    Route& rt = route_info[route_id];
    if (rt.auth) throw nb::value_error("the route already has authentication");
    rt.before.insert(rt.before.begin(), Callee{std::move(authenticate), is_async, 1, {}});
    rt.auth = true;
    rt.unauthorized = std::move(unauthorized);
  }

  /// Header lines for the answers connections make themselves (404, 405, refusals): the global response headers.
  void set_default_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
    config.extra_header_lines = header_lines(headers);
  }

  /// The app's global request headers, as (name, value, replace), for every route (checked by the app).
  void set_request_headers(const std::vector<std::tuple<std::string, std::string, bool>>& headers) {
    if (headers.empty())
      request_headers.reset();
    else
      request_headers = std::make_shared<const std::vector<std::tuple<std::string, std::string, bool>>>(headers);
  }

  /// Global response headers for one route (checked by the app): added to each of its responses that does not
  /// set the same name.
  void set_response_headers(uint32_t route_id, const std::vector<std::pair<std::string, std::string>>& headers) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    route_info[route_id].global_lines = header_lines(headers);
  }

  /// "Name: value\r\n" for each header; ValueError for one that could split a response.
  static std::string header_lines(const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string lines;
    for (auto& [name, value] : headers) {
      if (!is_header_name(name) || !is_header_value(value))
        throw nb::value_error(("invalid header '" + name + "'").c_str());
      lines.append(name).append(": ").append(value).append("\r\n");
    }
    return lines;
  }

  void set_error_handling(nb::list handlers, nb::object http_exception_type, nb::object format_exception_fn,
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

  void set_const_response(uint32_t route_id, nb::handle result) {
    if (route_id >= route_info.size()) throw nb::index_error("no such route");
    if (nb::isinstance<StreamingResponse>(result))
      throw nb::type_error("const route: a StreamingResponse is used up by one request; drop const=True so that "
                           "each request gets a fresh one");
    if (route_info[route_id].hooked() || cors || compression || nb::isinstance<FileResponse>(result)) {
      // Hooks run per request and CORS headers depend on the request's Origin, so the bytes cannot be fixed:
      // the result is reused instead of calling the handler.
      std::string error;
      nb::object response = as_response(result, error);
      if (!response) throw nb::type_error(("const route: " + error).c_str());
      route_info[route_id].const_result = nb::borrow(result);
      return;
    }
    Rendered r;
    std::string error;
    size_t length = 0;
    if (!render_result(result, r, error) || !framed_length(r, false, length, error))
      throw nb::type_error(("const route: " + error).c_str());
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) + "\r\n";
    head += r.header_lines;
    append_absent(head, r.header_lines, route_info[route_id].global_lines);
    routes.const_head[route_id] = std::move(head);
    routes.const_body[route_id] = std::string(r.body);
  }

  // ---- serving ----------------------------------------------------------------------------
  int listen(const std::string& host, int port, int backlog, bool reuse_port) {
    tcp_server();
    std::string error;
    int bound = server->listen(host, port, backlog, reuse_port, error);
    if (bound < 0) throw std::runtime_error(error);
    return bound;
  }

  /// A connection over memory to this engine's routes (the TestClient's): the same sessions and dispatch.
  std::unique_ptr<MemoryConnection> open_memory_connection(std::string peer_ip) {
    if (!memory_env)
      memory_env = std::make_unique<SessionEnv>(
          SessionEnv{config, routes, *this, {}, 0, 0, 0, telemetry_on ? &telemetry : nullptr});
    return std::make_unique<MemoryConnection>(*memory_env, std::move(peer_ip));
  }

  void attach(nb::object asyncio_loop, nb::object self_poll, nb::object self_on_timer) {
    if (attached) throw std::runtime_error("the engine is already attached to an event loop");
    aio_loop = std::move(asyncio_loop);
    call_at = aio_loop.attr("call_at");
    call_soon = aio_loop.attr("call_soon");
    ensure_future = nb::module_::import_("asyncio").attr("ensure_future");
    tasks_runner.loop = aio_loop;
    tasks_runner.call_soon = call_soon;
    ws_host->loop = aio_loop;
    ws_host->logger = globals().logger;
    ws_host->after_callback = [this]() {
      if (loop && loop->dirty()) poll();
    };
    background = nb::steal(PySet_New(nullptr));
    poll_cb = std::move(self_poll);
    timer_cb = std::move(self_on_timer);
    reader_fd = ev().backend_fd();
    aio_loop.attr("add_reader")(reader_fd, poll_cb);
    attached = true;
    // libuv arms new watchers (the listener) only inside a run: do one now.
    poll();
  }

  void detach() {
    if (!attached) return;
    attached = false;
    try {
      aio_loop.attr("remove_reader")(reader_fd);
    } catch (nb::python_error&) {
      // The loop may already be closed; nothing left to unregister then.
    }
    if (timer_handle) timer_handle.attr("cancel")();
    timer_handle.reset();
    // poll_cb is a bound method of this engine: drop it (and the loop) so nothing keeps a cycle alive.
    poll_cb.reset();
    timer_cb.reset();
    tasks_runner.loop.reset();
    tasks_runner.call_soon.reset();
    call_at.reset();
    call_soon.reset();
    aio_loop.reset();
  }

  void poll() {
    // From inside a native callback (a WebSocket frame handler, a synchronous answer) the running native loop
    // picks up whatever was started: it runs again while dirty.
    if (loop && loop->running()) return;
    soon_pending = false;
    int t = ev().run_nowait();
    if (attached) schedule(t);
  }

  /// The asyncio timer fired. It is forgotten before polling: asyncio may fire it a little before
  /// `timer_deadline` by our clock (uvloop counts whole milliseconds), and a fired handle kept as "pending"
  /// would never be replaced, leaving the native timers (timeouts, lingering closes) unserved.
  void on_timer() {
    timer_handle.reset();
    poll();
  }

  /// Mirrors the native loop's next deadline into asyncio, touching asyncio only when it changes.
  void schedule(int timeout_ms) {
    if (timeout_ms == 0) {
      if (!soon_pending) {
        soon_pending = true;
        call_soon(poll_cb);
      }
      return;
    }
    if (timeout_ms < 0) return;
    double now = monotonic_seconds();
    double when = now + timeout_ms / 1000.0;
    if (!timer_handle || now >= timer_deadline || when < timer_deadline - 0.001) {
      if (timer_handle) timer_handle.attr("cancel")();
      timer_handle = call_at(when, timer_cb);
      timer_deadline = when;
    }
  }

  void shutdown() {
    for (Pending* p : pending) {
      p->engine = nullptr;
      cancel_handle(p->task);
    }
    pending.clear();
    for (Stream* st : streams) {
      if (st->background) queue_tasks(std::move(st->background), route_info[st->route_id]);  // abandoned below
      st->engine = nullptr;
      st->cancelled = true;
      if (st->puller) st->puller->detach();
      cancel_handle(st->task);
      cancel_handle(st->timer);
      if (!st->task && !st->resume_scheduled) {  // no callback will come for it: drop it now
        Http1Session* s = st->session;
        delete st;
        s->release();
      }
    }
    streams.clear();
    tasks_runner.abandon("the server stopped before it finished");
    ws_host->after_callback = nullptr;
    ws_host->conns.clear();
    detach();
    server.reset();
  }

  // ---- dispatch ---------------------------------------------------------------------------
  void dispatch(Http1Session& session, uint64_t seq, const RoutedRequest& req) override {
    const Route& rt = route_info[req.route_id];
    ResponseContext ctx = req.ctx;
    if (cors) {
      const std::string_view* origin = find_header(req.head.headers, "origin");
      ctx.cors_origin = static_cast<int16_t>(origin ? cors->match(*origin) : CorsPolicy::kNoOrigin);
    }
    if (rt.preflight) return write_preflight(session, seq, req.head, ctx, rt);
    if (rt.is_static) return serve_static(session, seq, req, ctx, rt);
    if (rt.ws) {
      if (!ws_host->disconnect) throw std::logic_error("websocket route without set_websocket");
      nb::object request = make_request(req);
      nb::inst_ptr<Request>(request)->detach();  // the connection's buffer is the frames' from now on
      if (sessions) nb::inst_ptr<Request>(request)->sessions = sessions;  // read at the upgrade, never saved
      return start_websocket(ws_host, rt.ws, session, seq, req, ctx, std::move(request), config.server_header);
    }
    if (rt.metrics) {
      ResponseWriter w(session.response_buffer(seq), session.env().date_line(), config.server_header);
      w.start(200);
      w.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      w.finish(telemetry.render(), live(session, seq, ctx));
      return session.response_done(seq);
    }
    nb::object request = make_request(req);
    if (req.body_streamed) attach_body_stream(request, session);
    if (request_headers) nb::inst_ptr<Request>(request)->extra_headers = request_headers;
    if (sessions) nb::inst_ptr<Request>(request)->sessions = sessions;
    if (rt.hooked()) {
      auto p = std::make_unique<Pending>(this, &session, seq, ctx, req.route_id);
      p->request = request;
      p->context = nb::steal(PyContext_CopyCurrent());
      run_stages(std::move(p));
    } else if (rt.const_result) {
      write_result(session, seq, ctx, rt.const_result, rt, request);
    } else {
      // Each request runs in a context of its own: a ContextVar a handler sets must not reach the next request
      // (the asyncio reader callback that runs us keeps one context for every call). A Task copies it anyway.
      nb::object context = rt.handler.is_async ? nb::object() : nb::steal(PyContext_CopyCurrent());
      ContextScope scope(context.ptr());
      PyObject* res = rt.handler.blocking ? submit_blocking(rt.handler, request, nb::handle())
                                          : call_handler(rt.handler, request);
      if (!res) {
        fail(fresh_pending(session, seq, ctx, req.route_id, request), rt, "Unhandled exception in handler");
      } else if (rt.handler.blocking) {
        suspend(fresh_pending(session, seq, ctx, req.route_id, request), nb::steal(res));
      } else if (!rt.handler.is_async) {
        nb::object result = nb::steal(res);
        if (!shape(rt, result))
          fail(fresh_pending(session, seq, ctx, req.route_id, request), rt, "Response model refused the handler's value");
        else
          write_result(session, seq, ctx, result, rt, request);
      } else {
        run_coroutine(session, seq, ctx, req.route_id, nb::steal(res), rt, request);
      }
    }
    // The handler (or a suspended coroutine) kept the request: it must stop pointing into the buffer.
    if (Py_REFCNT(request.ptr()) > 1) nb::inst_ptr<Request>(request)->detach();
  }

  /// An OPTIONS request to a path the app has no OPTIONS route for, when CORS is on: a preflight's answer, or
  /// for a plain OPTIONS 204 with `Allow`.
  void write_preflight(Http1Session& session, uint64_t seq, const http1::RequestHead& head, const ResponseContext& ctx,
                       const Route& rt) {
    std::string lines, message;
    int status = 204;
    if (find_header(head.headers, "origin") && find_header(head.headers, "access-control-request-method"))
      status = cors->preflight(head, rt.allow_methods, lines, message);
    else
      lines.append("Allow: ").append(rt.allow_methods).append("\r\n");
    const std::string own = lines;  // the global headers too, as on the connection's other own answers
    append_absent(lines, own, config.extra_header_lines);
    ResponseWriter w(session.response_buffer(seq), session.env().date_line(), config.server_header);
    if (status == 204) {
      w.start(204);
      w.raw_headers(lines);
      w.finish({}, live(session, seq, ctx));
    } else {
      w.text(status, message + "\n", live(session, seq, ctx), lines);
    }
    session.response_done(seq);
  }


  /// The handler called for `request`: with the request alone, or with the arguments of its plan. A new reference,
  /// or null with the Python error set.
  PyObject* call_handler(const Callee& h, nb::handle request) {
    if (h.plan) return call_with_plan(h.fn, *h.plan, request, param_error);
    PyObject* args[2] = {nullptr, request.ptr()};
    return PyObject_Vectorcall(h.fn.ptr(), args + 1, static_cast<size_t>(h.nargs) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                               nullptr);
  }

  /// asyncio.Task(coro, loop=..., [eager_start=True,] [context=...]); null with the Python error set on failure.
  PyObject* make_task(nb::handle coro, nb::handle context) {
    auto& g = globals();
#if PY_VERSION_HEX >= 0x030C0000
    PyObject* args[5] = {nullptr, coro.ptr(), aio_loop.ptr(), Py_True, context.ptr()};
#else
    PyObject* args[4] = {nullptr, coro.ptr(), aio_loop.ptr(), context.ptr()};
#endif
    nb::handle kw = context ? g.kw_loop_context : g.kw_loop;
    return PyObject_Vectorcall(g.task_type.ptr(), args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, kw.ptr());
  }

  std::unique_ptr<Pending> fresh_pending(Http1Session& session, uint64_t seq, const ResponseContext& ctx,
                                         uint32_t route_id, nb::handle request) {
    auto p = std::make_unique<Pending>(this, &session, seq, ctx, route_id);
    p->request = nb::borrow(request);
    return p;
  }

  void run_coroutine(Http1Session& session, uint64_t seq, const ResponseContext& ctx, uint32_t route_id,
                     nb::object coro, const Route& rt, nb::handle request) {
    PyObject* t = make_task(coro, nb::handle());
    if (!t) {
      fail(fresh_pending(session, seq, ctx, route_id, request), rt,
           "Cannot start the handler's task (did the handler return a coroutine?)");
      return;
    }
    nb::object task = nb::steal(t);
    coro.reset();
    if (task_done(task)) {
      PyObject* r = task_result(task);
      if (!r) {
        fail(fresh_pending(session, seq, ctx, route_id, request), rt, "Unhandled exception in handler");
        return;
      }
      nb::object result = nb::steal(r);
      if (!shape(rt, result))
        return fail(fresh_pending(session, seq, ctx, route_id, request), rt, "Response model refused the handler's value");
      write_result(session, seq, ctx, result, rt, request);
      return;
    }
    suspend(fresh_pending(session, seq, ctx, route_id, request), std::move(task));
  }

  /// Parks `p` until `task` finishes (TaskDone then calls on_task_done).
  void suspend(std::unique_ptr<Pending> owned, nb::object task) {
    Pending* p = owned.release();
    p->task = std::move(task);
    pending.insert(p);
    p->session->retain();
    p->session->defer(p->seq, p);
    nb::object cb = nb::cast(TaskDone{p});
    PyObject* r = PyObject_CallMethodOneArg(p->task.ptr(), globals().s_add_done_callback.ptr(), cb.ptr());
    if (!r) {
      const Route& rt = route_info[p->route_id];
      log_current_exception("Cannot watch the handler's task", rt.method, rt.path);
      return;
    }
    Py_DECREF(r);
  }

  // ---- stages of a hooked route -------------------------------------------------------------
  /// Runs p's stages from p->stage on, in p's context, until one suspends or the answer is written.
  void run_stages(std::unique_ptr<Pending> p) {
    const Route& rt = route_info[p->route_id];
    const size_t before = rt.before.size(), total = before + 1 + rt.after.size();
    ContextScope scope(p->context.ptr());
    while (p->stage < total) {
      const size_t stage = p->stage;
      const bool is_handler = stage == before;
      const Callee& c = is_handler ? rt.handler : stage < before ? rt.before[stage] : rt.after[stage - before - 1];
      if (is_handler && rt.const_result) {
        if (!take_stage_result(*p, rt, rt.const_result)) return;
        continue;
      }
      PyObject* res;
      if (is_handler && c.blocking) {
        scope.exit();
        res = submit_blocking(c, p->request, p->context);
        if (!res) return fail(std::move(p), rt, "Cannot run the blocking handler");
        return suspend(std::move(p), nb::steal(res));
      } else if (is_handler) {
        res = call_handler(c, p->request);
      } else {
        PyObject* args[3] = {nullptr, p->request.ptr(), p->response.ptr()};
        if (stage > before && c.nargs == 1) args[1] = p->response.ptr();
        res = PyObject_Vectorcall(c.fn.ptr(), args + 1, static_cast<size_t>(c.nargs) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                  nullptr);
      }
      if (!res) return fail(std::move(p), rt, "Unhandled exception in " + stage_name(rt, stage));
      nb::object result = nb::steal(res);
      if (c.is_async) {
        // A Task must not be created (eagerly run) inside the very context it is given.
        scope.exit();
        PyObject* t = make_task(result, p->context);
        scope.enter();
        if (!t) return fail(std::move(p), rt, "Cannot start the task of " + stage_name(rt, stage));
        nb::object task = nb::steal(t);
        if (!task_done(task)) return suspend(std::move(p), std::move(task));
        PyObject* r = task_result(task);
        if (!r) return fail(std::move(p), rt, "Unhandled exception in " + stage_name(rt, stage));
        result = nb::steal(r);
      }
      if (is_handler && !shape(rt, result)) return fail(std::move(p), rt, "Response model refused the handler's value");
      if (!take_stage_result(*p, rt, result)) return;
    }
    write_result(*p->session, p->seq, p->ctx, p->response, rt, p->request);
  }

  /// Applies what stage p->stage returned and moves p to its next stage. False when the answer was written.
  /// `is_answer`: the result is an exception handler's, the answer whatever the stage (a None included).
  bool take_stage_result(Pending& p, const Route& rt, nb::handle result, bool is_answer = false) {
    const size_t before = rt.before.size(), stage = p.stage;
    if (p.stage < before) {
      if (is_answer) {
        // an exception handler answered for this before stage
      } else if (stage == 0 && rt.auth) {
        if (!result.is_none()) {
          nb::inst_ptr<Request>(p.request)->py_identity = nb::borrow(result);
          ++p.stage;
          return true;
        }
        result = rt.unauthorized;
      } else if (result.is_none() || nb::isinstance<Request>(result)) {
        if (!result.is_none()) p.request = nb::borrow(result);
        ++p.stage;
        return true;
      }
      p.stage = before + 1;  // a before hook answered: skip the handler, the after hooks still run
    } else {
      ++p.stage;
      if (p.stage > before + 1 && result.is_none() && !is_answer) return true;  // an after hook kept the response
      if (rt.after.empty()) {
        p.response = nb::borrow(result);
        return true;
      }
    }
    std::string error;
    nb::object response = as_response(result, error);
    if (!response) {
      log_message("Bad return value from " + stage_name(rt, stage) + " for " + rt.method + " " + rt.path + ": " +
                  error);
      write_error(*p.session, p.seq, p.ctx, rt);
      queue_tasks(take_tasks(p.request), rt);
      return false;
    }
    p.response = std::move(response);
    return true;
  }

  static std::string stage_name(const Route& rt, size_t stage) {
    const size_t before = rt.before.size();
    if (stage == 0 && rt.auth) return "authentication handler";
    if (stage < before) return "before-request hook";
    if (stage == before) return "handler";
    return "after-request hook";
  }

  // ---- errors -------------------------------------------------------------------------------
  /// The current Python exception ended p's stage: an exception handler (the most specific for its type), an
  /// HTTPException's own response, or a 500. A handled error counts as what the stage returned, so the
  /// after-request hooks still run.
  void fail(std::unique_ptr<Pending> p, const Route& rt, const std::string& what) {
    nb::object exc = fetch_exception();
    if (p->stage == rt.before.size()) discard_tasks(p->request);  // the handler raised: its tasks never run
    if (p->handling_error) return unhandled(*p, rt, "Exception handler failed for " + stage_name(rt, p->stage), exc);
    const Callee* handler = find_error_handler(exc);
    if (!handler) {
      if (http_exception && exc && PyObject_IsInstance(exc.ptr(), http_exception.ptr()) == 1) {
        PyErr_Clear();
        nb::object result = http_exception_result(exc);
        if (!result) return unhandled(*p, rt, "Bad HTTPException for " + stage_name(rt, p->stage), fetch_exception());
        return resume_with(std::move(p), rt, result, true);
      }
      PyErr_Clear();
      return unhandled(*p, rt, what, exc);
    }
    ContextScope scope(p->context.ptr());
    PyObject* args[3] = {nullptr, p->request.ptr(), exc.ptr()};
    PyObject** first = handler->nargs == 2 ? args + 1 : args + 2;
    PyObject* res = PyObject_Vectorcall(handler->fn.ptr(), first,
                                        static_cast<size_t>(handler->nargs) | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
    if (!res) return unhandled(*p, rt, "Exception handler failed for " + stage_name(rt, p->stage), fetch_exception());
    nb::object result = nb::steal(res);
    if (handler->is_async) {
      scope.exit();
      PyObject* t = make_task(result, p->context);
      if (!t) return unhandled(*p, rt, "Cannot start the exception handler's task", fetch_exception());
      nb::object task = nb::steal(t);
      if (!task_done(task)) {
        p->handling_error = true;
        return suspend(std::move(p), std::move(task));
      }
      PyObject* r = task_result(task);
      if (!r) return unhandled(*p, rt, "Exception handler failed for " + stage_name(rt, p->stage), fetch_exception());
      result = nb::steal(r);
    }
    scope.exit();
    resume_with(std::move(p), rt, result, true);
  }

  /// Goes on with p's stages as if its current stage had returned `result` (`is_answer`: an exception handler's).
  void resume_with(std::unique_ptr<Pending> p, const Route& rt, nb::handle result, bool is_answer) {
    bool go_on;
    {
      ContextScope scope(p->context.ptr());
      go_on = take_stage_result(*p, rt, result, is_answer);
    }
    if (go_on) run_stages(std::move(p));
  }

  /// The handler for `exc`: the first of its MRO's classes with one. A client error the framework raised
  /// (ClientError) is the app's only where it asked for HTTPException or a subclass: a catch-all handler
  /// (Exception) does not see it, and it keeps its 4xx.
  const Callee* find_error_handler(nb::handle exc) {
    if (!error_handlers || !exc) return nullptr;
    nb::handle client_error = globals().client_error;
    auto* http_type = reinterpret_cast<PyTypeObject*>(http_exception.ptr());
    bool framework = client_error && http_type &&
                     PyObject_TypeCheck(exc.ptr(), reinterpret_cast<PyTypeObject*>(client_error.ptr()));
    PyObject* mro = Py_TYPE(exc.ptr())->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); ++i) {
      PyObject* type = PyTuple_GET_ITEM(mro, i);
      if (framework && !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(type), http_type)) continue;
      auto it = error_callees.find(type);
      if (it != error_callees.end()) return &it->second;
    }
    return nullptr;
  }

  /// (detail, status_code, headers) of an HTTPException; null with a Python error when it has no valid status.
  static nb::object http_exception_result(nb::handle exc) {
    try {
      nb::object status = exc.attr("status_code");
      return nb::make_tuple(exc.attr("detail"), status, exc.attr("headers"));
    } catch (nb::python_error& e) {
      e.restore();
      return {};
    }
  }

  /// Logs `exc` and answers 500: "Internal Server Error", or in development mode the traceback.
  void unhandled(Pending& p, const Route& rt, const std::string& what, nb::handle exc) {
    log_exception(what, rt.method, rt.path, exc);
    queue_tasks(take_tasks(p.request), rt);  // a later stage failed, not the handler: its tasks still run
    if (dev && exc && format_exception) {
      try {
        nb::object lines = format_exception(exc);
        std::string text = nb::cast<std::string>(nb::str("").attr("join")(lines));
        ResponseWriter(p.session->response_buffer(p.seq), p.session->env().date_line(), config.server_header)
            .text(500, text, live(*p.session, p.seq, p.ctx), error_lines(rt, p.ctx));
        p.session->response_done(p.seq);
        return;
      } catch (nb::python_error&) {
        PyErr_Clear();
      }
    }
    write_error(*p.session, p.seq, p.ctx, rt);
  }

  /// task.result(): a new reference, or null with the task's exception set.
  static PyObject* task_result(nb::handle task) {
    return PyObject_CallMethodNoArgs(task.ptr(), globals().s_result.ptr());
  }

  static bool task_done(nb::handle task) {
    PyObject* r = PyObject_CallMethodNoArgs(task.ptr(), globals().s_done.ptr());
    if (!r) {
      PyErr_Clear();
      return false;
    }
    bool done = r == Py_True;
    Py_DECREF(r);
    return done;
  }

  void on_task_done(Pending* p) {
    std::unique_ptr<Pending> owned(p);
    pending.erase(p);
    Http1Session* s = p->session;
    nb::object task = std::move(p->task);
    PyObject* r = task_result(task);
    if (s->closed()) {
      // The client left: the outcome was consumed above so that asyncio does not warn it was never retrieved.
      // The tasks of a handler that returned still run; those of one that raised (or was cancelled) do not.
      const Route& rt = route_info[p->route_id];
      if (!r && p->stage == rt.before.size())
        discard_tasks(p->request);
      else
        queue_tasks(take_tasks(p->request), rt);
      Py_XDECREF(r);
      PyErr_Clear();
    } else {
      const Route& rt = route_info[p->route_id];
      if (!r) {
        fail(std::move(owned), rt, "Unhandled exception in " + stage_name(rt, p->stage));
      } else {
        bool is_answer = std::exchange(p->handling_error, false);
        nb::object result = nb::steal(r);
        if (!is_answer && p->stage == rt.before.size() && !shape(rt, result))
          fail(std::move(owned), rt, "Response model refused the handler's value");
        else
          resume_with(std::move(owned), rt, result, is_answer);
      }
    }
    s->release();
    // The answer was written outside a native run: arm its watchers / close callbacks now.
    if (loop && loop->dirty()) poll();
  }

  void cancel(void* token) noexcept override {
    if (static_cast<Token*>(token)->kind == Token::Kind::kStream) return cancel_stream(static_cast<Stream*>(token));
    cancel_handle(static_cast<Pending*>(token)->task);
  }

  void on_writable(void* token) noexcept override {
    if (static_cast<Token*>(token)->kind != Token::Kind::kStream) return;
    auto* st = static_cast<Stream*>(token);
    if (!busy(st) && !st->cancelled) pump(st);
  }

  // ---- files ---------------------------------------------------------------------------------------------
  /// GET `prefix` and `prefix/*path` answered from the files under `root` (serve_directory).
  std::vector<uint32_t> add_static_route(std::string_view prefix, const std::string& root, std::string index,
                                         bool listing) {
    char buf[PATH_MAX];
    if (!realpath(root.c_str(), buf)) throw nb::value_error(("no such directory: '" + root + "'").c_str());
    std::string base(prefix);
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    std::vector<uint32_t> ids;
    for (std::string pattern : {base, (base == "/" ? std::string() : base) + "/*path"}) {
      uint32_t id = ids.emplace_back(add_route("GET", pattern, nb::none(), false, 0));
      Route& rt = route_info[id];
      rt.is_static = true;
      rt.static_root = buf;
      rt.static_index = index;
      rt.static_listing = listing;
    }
    return ids;
  }

  void serve_static(Http1Session& session, uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx,
                    const Route& rt) {
    std::string rel;
    for (auto& p : req.params) {
      if (p.name == "path") rel = percent_decode(p.value, false);
    }
    std::string path;
    if (!resolve_under(rt.static_root, rel, path)) {
      FileAnswer refused;
      refused.status = 404;
      refused.text = "Not Found\n";
      return send_file_answer(session, seq, ctx, rt, refused);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::string index;
      struct stat ist {};
      bool has_index = !rt.static_index.empty() && resolve_under(rt.static_root, rel + "/" + rt.static_index, index) &&
                       ::stat(index.c_str(), &ist) == 0 && S_ISREG(ist.st_mode);
      std::string_view asked = req.head.path;  // as Robyn: a directory's URL ends in '/', so relative links work
      if ((has_index || rt.static_listing) && !asked.empty() && asked.back() != '/' && asked.substr(0, 2) != "//") {
        FileAnswer moved;
        moved.status = 302;
        moved.header_lines = "Location: " + std::string(asked) + "/\r\n";
        return send_file_answer(session, seq, ctx, rt, moved);
      }
      if (has_index) {
        FileAnswer a = answer_file(index, req.head.headers, true, {});
        return send_file_answer(session, seq, ctx, rt, a);
      }
      FileAnswer a;
      if (rt.static_listing) {
        a.header_lines = "Content-Type: text/html; charset=utf-8\r\n";
        a.text = directory_listing(path, percent_decode(req.head.path, false));
      } else {
        a.status = 404;
        a.text = "Not Found\n";
      }
      return send_file_answer(session, seq, ctx, rt, a);
    }
    FileAnswer a = answer_file(path, req.head.headers, true, {});
    send_file_answer(session, seq, ctx, rt, a);
  }

  void send_file_answer(Http1Session& session, uint64_t seq, const ResponseContext& request_ctx, const Route& rt,
                        FileAnswer& a, nb::object* tasks = nullptr) {
    const ResponseContext ctx = live(session, seq, request_ctx);
    std::string head;
    ResponseWriter w(head, session.env().date_line(), config.server_header);
    if (a.fd < 0 && !a.text.empty() && !find_field(a.header_lines, "content-type"))
      a.header_lines.append("Content-Type: text/plain; charset=utf-8\r\n");
    w.start(a.status);
    w.raw_headers(a.header_lines);
    if (!rt.global_lines.empty()) append_absent(head, a.header_lines, rt.global_lines);
    if (cors) cors->append_response_lines(head, ctx.cors_origin, a.header_lines);
    if (a.fd < 0) {
      w.finish(a.text, ctx);
      session.response_buffer(seq).append(head);
      return session.response_done(seq);
    }
    if (!w.finish_head(a.content_length, ctx) || a.content_length == 0) {  // HEAD, or an empty file
      ::close(a.fd);
      session.response_buffer(seq).append(head);
      return session.response_done(seq);
    }
    auto* st = new Stream();
    st->engine = this;
    st->session = &session;
    st->seq = seq;
    st->route_id = static_cast<uint32_t>(&rt - route_info.data());
    st->fd = a.fd;
    st->pieces = std::move(a.pieces);
    st->framing = ResponseWriter::Framing::kNone;  // Content-Length framed: the bytes go out as they are
    if (tasks) st->background = std::move(*tasks);
    streams.insert(st);
    session.retain();
    session.stream_begin(seq, head, st);
    pump(st);
  }

  /// The next chunk of a file stream; false when it failed (the stream is over).
  bool pump_file(Stream* st) {
    constexpr uint64_t kChunk = 64 * 1024;
    while (st->piece < st->pieces.size()) {
      FilePiece& p = st->pieces[st->piece];
      if (!p.literal.empty()) {
        st->session->stream_write(st->seq, p.literal);
        ++st->piece;
        return true;
      }
      if (st->piece_done >= p.length) {
        ++st->piece;
        st->piece_done = 0;
        continue;
      }
      if (st->sendfile) {
        // Straight from the page cache to the socket while it takes them; when it is full, one piece goes
        // through the write queue below, whose draining brings the stream back here.
        ssize_t sent = st->session->stream_send_file(st->seq, st->fd, p.offset + st->piece_done,
                                                     static_cast<size_t>(p.length - st->piece_done));
        if (sent > 0) {
          st->piece_done += static_cast<uint64_t>(sent);
          return true;
        }
        if (sent < 0) st->sendfile = false;
      }
      uint64_t want = std::min(kChunk, p.length - st->piece_done);
      std::string buf(static_cast<size_t>(want), '\0');
      ssize_t n = ::pread(st->fd, buf.data(), static_cast<size_t>(want), static_cast<off_t>(p.offset + st->piece_done));
      if (n <= 0) {  // the file shrank or failed under us: the promised length cannot be met
        const Route& rt = route_info[st->route_id];
        log_message("Reading a file for " + rt.method + " " + rt.path + " failed: the connection is closed");
        st->session->stream_end(st->seq, true);
        drop_stream(st);
        return false;
      }
      buf.resize(static_cast<size_t>(n));
      st->piece_done += static_cast<uint64_t>(n);
      st->session->stream_write(st->seq, buf);
      return true;
    }
    st->session->stream_end(st->seq, false);
    drop_stream(st);
    return false;
  }

  // ---- streamed answers ---------------------------------------------------------------------------
  /// Sends a StreamingResponse: its head now, then its items as the connection takes them.
  void start_stream(Http1Session& session, uint64_t seq, const ResponseContext& request_ctx, nb::handle result,
                    const Route& rt, nb::handle request, nb::object* tasks = nullptr) {
    const ResponseContext ctx = live(session, seq, request_ctx);
    auto& sr = nb::cast<StreamingResponse&>(result);
    bool is_async = nb::hasattr(sr.content, "__aiter__");
    PyObject* it = is_async ? PyObject_CallMethod(sr.content.ptr(), "__aiter__", nullptr) : PyObject_GetIter(sr.content.ptr());
    if (!it) {
      log_current_exception("Cannot iterate the StreamingResponse", rt.method, rt.path);
      return write_error(session, seq, ctx, rt);
    }
    nb::object iter = nb::steal(it);
    std::string lines, error;
    bool has_ct = false;
    if (sr.status_code < 100 || sr.status_code > 999 || !response_header_lines(sr.headers, lines, has_ct, error)) {
      log_message("Bad StreamingResponse for " + rt.method + " " + rt.path + ": " +
                  (error.empty() ? "status_code out of range 100-999" : error));
      return write_error(session, seq, ctx, rt);
    }
    std::string head;
    ResponseWriter w(head, session.env().date_line(), config.server_header);
    w.start(sr.status_code);
    if (!has_ct && !bodyless_status(sr.status_code)) w.header("Content-Type", sr.media_type);
    head.append(lines);
    if (!rt.global_lines.empty()) append_absent(head, lines, rt.global_lines);
    if (cors) cors->append_response_lines(head, ctx.cors_origin, lines);
    if (sessions && request) append_session_cookie(*nb::inst_ptr<Request>(request), head);
    auto* st = new Stream();
    st->engine = this;
    st->session = &session;
    st->seq = seq;
    st->route_id = static_cast<uint32_t>(&rt - route_info.data());
    st->iter = std::move(iter);
    st->is_async = is_async;
    st->sse = sr.sse;
    if (!is_async && blocking_submit) {  // it may block (time.sleep): pulled in the pool, never on the loop
      nb::object context = nb::steal(PyContext_CopyCurrent());  // the request's, when a stage or handler runs us
      st->pull = nb::cast(SyncPull(st->iter, sr.sse, std::move(context), aio_loop.attr("call_soon_threadsafe")));
      st->puller = nb::inst_ptr<SyncPull>(st->pull);
      st->puller->on_wake = [this, st] { on_pulled(st); };
    }
    st->ping_interval = sr.ping_interval;
    if (tasks) st->background = std::move(*tasks);
    st->framing = w.finish_head_streaming(ctx);
    streams.insert(st);
    session.retain();
    session.stream_begin(seq, head, st);
    if (st->framing == ResponseWriter::Framing::kNone) {  // HEAD, 204, 304: the head alone
      close_iterator(st);
      return finish_stream(st);
    }
    if (st->ping_interval > 0) schedule(st, StreamEvent::kPing, st->ping_interval);
    pump(st);
  }

  /// Pulls items while the connection takes them, then sends what they made in one write.
  void pump(Stream* st) {
    Http1Session* session = st->session;
    const uint64_t seq = st->seq;
    session->retain();  // `st` may be dropped inside: the session stays until the batch is sent
    while (pump_batch(st)) {
      // Stopped because the output reached the watermark: send it; if the socket took it, go on at once (the
      // session's own call-back may be the one running us, so it would not come again).
      session->flush_output();
      if (!session->stream_writable(seq)) break;  // now on_writable() comes back, once the client has read
    }
    session->flush_output();
    session->release();
  }

  /// One batch of pump(): yields the loop after 64 items so one stream cannot hog it. The bytes stay in the
  /// connection's output until the batch ends. True when it stopped only because the output is full.
  bool pump_batch(Stream* st) {
    for (int budget = 64; !st->task && !st->cancelled; --budget) {
      if (!st->session->stream_writable(st->seq)) return true;
      if (budget == 0) {
        schedule(st, StreamEvent::kResume, 0);
        return false;
      }
      if (st->fd >= 0) {
        if (!pump_file(st)) return false;
        continue;
      }
      if (st->puller) return send_pulled(st);
      if (!st->is_async) {
        PyObject* item = PyIter_Next(st->iter.ptr());
        if (!item) {
          if (PyErr_Occurred()) {
            fail_stream(st, "The StreamingResponse's iterator raised");
          } else {
            finish_stream(st);
          }
          return false;
        }
        if (!write_item(st, nb::steal(item))) return false;
        continue;
      }
      PyObject* aw = PyObject_CallMethod(st->iter.ptr(), "__anext__", nullptr);
      if (!aw) {
        fail_stream(st, "The StreamingResponse's async iterator raised");
        return false;
      }
      nb::object awaitable = nb::steal(aw);
      nb::object task;
      try {
        task = ensure_future(awaitable, nb::arg("loop") = aio_loop);
      } catch (nb::python_error& e) {
        e.restore();
        fail_stream(st, "Cannot await the StreamingResponse's async iterator");
        return false;
      }
      if (!task_done(task)) {
        st->task = task;
        nb::object cb = nb::cast(StreamEvent{st, StreamEvent::kTaskDone});
        PyObject* r = PyObject_CallMethodOneArg(task.ptr(), globals().s_add_done_callback.ptr(), cb.ptr());
        if (!r) {
          fail_stream(st, "Cannot watch the StreamingResponse's async iterator");
          return false;
        }
        Py_DECREF(r);
        return false;
      }
      if (!take_anext(st, task)) return false;
    }
    return false;
  }


  /// Sends what the pool's worker made while the connection takes it; then, the inbox empty, ends the stream or
  /// submits the next job. True when it stopped only because the output is full.
  bool send_pulled(Stream* st) {
    SyncPull& p = *st->puller;
    for (; !p.inbox.empty(); p.inbox.pop_front()) {
      if (!st->session->stream_writable(st->seq)) return true;
      p.inbox_bytes -= p.inbox.front().size();
      send_stream_bytes(st, p.inbox.front());
      st->wrote = true;
    }
    if (p.running) return false;  // its wake-up comes back here
    if (p.failed) {
      const Route& rt = route_info[st->route_id];
      if (!p.restore_error())
        log_message("Bad item from the StreamingResponse of " + rt.method + " " + rt.path + ": " + p.message);
      fail_stream(st, "The StreamingResponse's iterator raised");
    } else if (p.ended) {
      finish_stream(st);
    } else if (size_t budget = st->session->stream_budget(st->seq); budget == 0) {
      return true;  // the connection is full: the next job waits for on_writable()
    } else if (p.inbox_limit = std::min(SyncPull::kInboxBytes, budget); !submit_pull(st)) {
      fail_stream(st, "Cannot pull the StreamingResponse's iterator in the thread pool");
    }
    return false;
  }

  bool submit_pull(Stream* st) {
    st->puller->running = true;
    PyObject* f = PyObject_CallOneArg(blocking_submit.ptr(), st->pull.ptr());
    Py_XDECREF(f);
    if (!f) st->puller->running = false;
    return f != nullptr;
  }

  /// The worker woke the loop: it made items, or its job ended.
  void on_pulled(Stream* st) {
    if (st->cancelled) {
      if (st->puller->running) return;  // its end wakes us again
      if (!st->puller->stop) close_iterator(st);  // else the job that stopped closed it
      drop_stream(st);
    } else {
      pump(st);
    }
    if (loop && loop->dirty()) poll();
  }

  /// A pull is under way: its completion comes back to the stream.
  static bool busy(const Stream* st) { return st->task || (st->puller && st->puller->running); }

  /// The result of an __anext__ task: an item (written; true) or the end / an error (the stream is over; false).
  bool take_anext(Stream* st, nb::handle task) {
    PyObject* r = task_result(task);
    if (!r) {
      if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration)) {
        PyErr_Clear();
        finish_stream(st);
      } else {
        fail_stream(st, "The StreamingResponse's async iterator raised");
      }
      return false;
    }
    return write_item(st, nb::steal(r));
  }

  bool write_item(Stream* st, nb::handle item) {
    std::string data, error;
    if (!stream_item_bytes(item, st->sse, data, error)) {
      const Route& rt = route_info[st->route_id];
      log_message("Bad item from the StreamingResponse of " + rt.method + " " + rt.path + ": " + error);
      fail_stream(st, "");
      return false;
    }
    if (data.empty()) return true;  // an empty chunk would end a chunked body
    send_stream_bytes(st, data);
    st->wrote = true;
    return true;
  }

  void send_stream_bytes(Stream* st, std::string_view data) {
    if (st->framing == ResponseWriter::Framing::kChunked) {
      char size[24];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      std::string frame;
      frame.reserve(static_cast<size_t>(n) + data.size() + 2);
      frame.append(size, static_cast<size_t>(n)).append(data).append("\r\n");
      st->session->stream_write(st->seq, frame);
    } else {
      st->session->stream_write(st->seq, data);
    }
  }

  void finish_stream(Stream* st) {
    if (st->framing == ResponseWriter::Framing::kChunked) st->session->stream_write(st->seq, "0\r\n\r\n");
    st->session->stream_end(st->seq, st->framing == ResponseWriter::Framing::kUntilClose);
    drop_stream(st);
  }

  /// The iterator failed mid-body: the status is long sent, so the connection closes without the final chunk
  /// (the client sees an incomplete body, not a complete wrong one).
  void fail_stream(Stream* st, const std::string& what) {
    const Route& rt = route_info[st->route_id];
    if (PyErr_Occurred()) log_current_exception(what, rt.method, rt.path);
    st->session->stream_end(st->seq, true);
    drop_stream(st);
  }

  void cancel_stream(Stream* st) noexcept {
    st->cancelled = true;
    if (st->puller && st->puller->running) {  // the job stops at its next item, closes the iterator, wakes us
      st->puller->stop = true;
    } else if (st->task) {  // its done-callback drops the stream
      cancel_handle(st->task);
    } else {  // not from inside the session's close: later
      try {
        schedule(st, StreamEvent::kResume, 0);
      } catch (...) {
        PyErr_Clear();
      }
    }
  }

  /// Stops the generator: GeneratorExit in a sync one, aclose() (as a task) for an async one.
  void close_iterator(Stream* st) {
    try {
      if (st->puller) {  // a job that stops at once closes it in the pool (its `finally` may block)
        st->puller->stop = true;
        if (!submit_pull(st)) PyErr_Clear();
      } else if (st->is_async) {
        if (nb::hasattr(st->iter, "aclose")) {
          nb::object t = ensure_future(st->iter.attr("aclose")(), nb::arg("loop") = aio_loop);
          background.attr("add")(t);  // asyncio keeps only weak references to tasks
          t.attr("add_done_callback")(background.attr("discard"));
        }
      } else if (nb::hasattr(st->iter, "close")) {
        st->iter.attr("close")();
      }
    } catch (nb::python_error& e) {
      const Route& rt = route_info[st->route_id];
      e.restore();
      log_current_exception("Closing the StreamingResponse's iterator failed", rt.method, rt.path);
    }
  }

  void drop_stream(Stream* st) {
    if (st->fd >= 0) ::close(st->fd);
    if (st->background) queue_tasks(std::move(st->background), route_info[st->route_id]);
    cancel_handle(st->timer);  // no callback may come for a stream that is gone
    cancel_handle(st->resume);
    streams.erase(st);
    Http1Session* s = st->session;
    delete st;
    s->release();
  }

  /// Runs `what` for `st` after `delay` seconds (0: on the loop's next turn).
  void schedule(Stream* st, StreamEvent::What what, double delay) {
    if (what == StreamEvent::kResume) {
      if (st->resume_scheduled) return;
      st->resume_scheduled = true;
      st->resume = call_soon(nb::cast(StreamEvent{st, what}));
      return;
    }
    st->timer = aio_loop.attr("call_later")(delay, nb::cast(StreamEvent{st, what}));
  }

  void on_stream_event(Stream* st, StreamEvent::What what) {
    switch (what) {
      case StreamEvent::kTaskDone: {
        nb::object task = std::move(st->task);
        if (st->cancelled) {
          PyObject* r = task_result(task);  // consumed, so asyncio does not warn it was never retrieved
          Py_XDECREF(r);
          PyErr_Clear();
          drop_stream(st);
          break;
        }
        if (take_anext(st, task)) pump(st);
        break;
      }
      case StreamEvent::kResume:
        st->resume_scheduled = false;
        st->resume.reset();
        if (st->cancelled) {
          if (!busy(st)) {
            if (st->fd < 0) close_iterator(st);
            drop_stream(st);
          }
        } else if (!busy(st)) {
          pump(st);
        }
        break;
      case StreamEvent::kPing:
        st->timer.reset();
        if (st->cancelled) break;
        if (!st->wrote && st->session->stream_writable(st->seq)) {
          send_stream_bytes(st, ": ping\n\n");
          st->session->flush_output();
        }
        st->wrote = false;
        schedule(st, StreamEvent::kPing, st->ping_interval);
        break;
    }
    if (loop && loop->dirty()) poll();
  }

  /// `ctx` for the answer to `seq` now: a connection that is draining makes it say `Connection: close`.
  static ResponseContext live(const Http1Session& session, uint64_t seq, ResponseContext ctx) {
    if (session.closes_after(seq)) ctx.keep_alive = false;
    return ctx;
  }

  // ---- background tasks -------------------------------------------------------------------------
  /// The request's BackgroundTasks (null when the handler took none), taken from it.
  static nb::object take_tasks(nb::handle request) {
    return request ? std::exchange(nb::inst_ptr<Request>(request)->py_background, nb::object()) : nb::object();
  }

  static void discard_tasks(nb::handle request) {
    if (nb::object tasks = take_tasks(request)) discard_background_tasks(tasks);
  }

  /// `tasks` (a BackgroundTasks, or null) of a request to `rt` start on the loop's next turn, after its answer.
  void queue_tasks(nb::handle tasks, const Route& rt) noexcept {
    if (!tasks) return;
    try {
      tasks_runner.queue(tasks, rt.method, rt.path);
    } catch (nb::python_error& e) {
      e.restore();
      log_current_exception("Cannot queue the background tasks", rt.method, rt.path);
    } catch (const std::exception& e) {
      log_message(std::string("Cannot queue the background tasks for ") + rt.method + " " + rt.path + ": " + e.what());
    }
  }

  /// Queues a request's tasks when the answer's writing is over, unless a stream took them (queued at its end).
  struct QueueTasksAfter {
    Engine* engine;
    const Route& rt;
    nb::object tasks;
    ~QueueTasksAfter() { engine->queue_tasks(tasks, rt); }
  };

  void write_result(Http1Session& session, uint64_t seq, const ResponseContext& request_ctx, nb::handle result,
                    const Route& rt, nb::handle request) {
    QueueTasksAfter after{this, rt, take_tasks(request)};
    nb::object* tasks = after.tasks ? &after.tasks : nullptr;
    if (nb::isinstance<StreamingResponse>(result))
      return start_stream(session, seq, request_ctx, result, rt, request, tasks);
    if (nb::isinstance<FileResponse>(result)) {
      auto& f = nb::cast<const FileResponse&>(result);
      static const std::vector<http1::Header> kNoHeaders;
      const Request* r = request ? nb::inst_ptr<Request>(request) : nullptr;
      FileAnswer a = answer_file(f.path, r && r->headers ? *r->headers : kNoHeaders, false, f.file_name);
      if (a.status == 404 && a.fd < 0) log_message("serve_file: no such file '" + f.path + "' for " + rt.method + " " + rt.path);
      std::string own, error;
      bool has_ct = false;
      if (!response_header_lines(f.headers, own, has_ct, error)) {
        log_message("Bad headers on the FileResponse for " + rt.method + " " + rt.path + ": " + error);
        if (a.fd >= 0) ::close(a.fd);
        return write_error(session, seq, request_ctx, rt);
      }
      if (!own.empty()) {  // the hook's or handler's headers win over the file's own of the same name
        std::string merged = own;
        append_absent(merged, own, a.header_lines);
        a.header_lines = std::move(merged);
      }
      if (a.status == 200 && f.status_code != 200) a.status = f.status_code;
      return send_file_answer(session, seq, request_ctx, rt, a, tasks);
    }
    const ResponseContext ctx = live(session, seq, request_ctx);
    Rendered r;
    std::string error;
    size_t length = 0;
    if (!render_result(result, r, error) || !framed_length(r, ctx.head_request, length, error)) {
      log_message("Bad return value from handler for " + rt.method + " " + rt.path + ": " + error);
      write_error(session, seq, ctx, rt);
      return;
    }
    std::string compressed;
    std::string_view body = r.body;
    std::string encoding_lines;
    if (compression) {
      encoding_lines = compression->apply(r, request, compressed);
      if (!compressed.empty()) body = compressed;
    }
    ResponseWriter w(session.response_buffer(seq), session.env().date_line(), config.server_header);
    w.start(r.status);
    w.raw_headers(r.header_lines);
    append_absent(session.response_buffer(seq), r.header_lines, encoding_lines);  // the response's Vary may say it
    if (!rt.global_lines.empty()) append_absent(session.response_buffer(seq), r.header_lines, rt.global_lines);
    if (cors) cors->append_response_lines(session.response_buffer(seq), ctx.cors_origin, r.header_lines);
    if (sessions) append_session_cookie(*nb::inst_ptr<Request>(request), session.response_buffer(seq));
    if (w.finish_head(compressed.empty() ? length : body.size(), ctx))
      session.response_done(seq, body);  // r.body_owner (or `compressed`) keeps the bytes alive through the call
    else
      session.response_done(seq);
  }

  void write_error(Http1Session& session, uint64_t seq, const ResponseContext& ctx, const Route& rt) {
    ResponseWriter(session.response_buffer(seq), session.env().date_line(), config.server_header)
        .text(500, "Internal Server Error\n", live(session, seq, ctx), error_lines(rt, ctx));
    session.response_done(seq);
  }

  /// The header lines of the engine's own error answers on `rt`: its global headers and the CORS ones.
  std::string error_lines(const Route& rt, const ResponseContext& ctx) const {
    std::string lines = rt.global_lines;
    if (cors) cors->append_response_lines(lines, ctx.cors_origin, rt.global_lines);
    return lines;
  }
};

void bind_engine(nb::module_& m) {
  nb::class_<TaskDone>(m, "_TaskDone")
      .def("__call__", [](TaskDone& d, nb::handle) {
        Pending* p = d.pending;
        d.pending = nullptr;
        if (!p) return;
        if (!p->engine) {
          p->session->release();
          delete p;
          return;
        }
        p->engine->on_task_done(p);
      });

  nb::class_<StreamEvent>(m, "_StreamEvent")
      .def(
          "__call__",
          [](StreamEvent& ev, nb::handle) {
            Stream* st = ev.stream;
            if (!st->engine) {  // the engine is gone: only the reference on the session is left to drop
              if (ev.what == StreamEvent::kTaskDone || (ev.what == StreamEvent::kResume && !st->task)) {
                Http1Session* s = st->session;
                delete st;
                s->release();
              }
              return;
            }
            st->engine->on_stream_event(st, ev.what);
          },
          nb::arg("arg").none() = nb::none());

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
      .def("add_route", &Engine::add_route, nb::arg("method"), nb::arg("path"), nb::arg("handler").none(),
           nb::arg("is_async"), nb::arg("nargs"), "Registers a handler; returns its route id.")
      .def("set_arguments", &Engine::set_arguments, nb::arg("route_id"), nb::arg("args"),
           nb::sig("def set_arguments(self, route_id: int, args: list[tuple[int, str, int, object, object, bool, bool]]) "
                   "-> None"),
           "The handler's arguments, filled per request: (source, name, conversion, extra, default, has_default, "
           "keyword) per parameter (tiercel/params.py).")
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
      .def("set_stream_body", &Engine::set_stream_body, nb::arg("route_id"), nb::arg("limit"),
           "The route gets its body as it arrives (request.stream(), request.form()), up to `limit` bytes (413 above).")
      .def("set_answer", &Engine::set_answer, nb::arg("route_id"), nb::arg("validate").none(),
           nb::arg("encode").none(), nb::arg("status"), nb::arg("exact").none() = nb::none(),
           "FastAPI's response model and status_code: what the handler returns, unless a response of its own, is "
           "validate()d (unless it is an instance of exactly the class `exact`) and encode()d to JSON (encode "
           "None: kept as it is), answered with `status` (0: 200).")
      .def("set_blocking", &Engine::set_blocking, nb::arg("route_id"), nb::arg("executor"), nb::arg("wrap_future"),
           "The route's sync handler runs in `executor` (blocking=True).")
      .def_prop_ro(
          "blocking_executor", [](Engine& e) { return e.blocking_executor ? e.blocking_executor : nb::none(); },
          nb::sig("def blocking_executor(self) -> concurrent.futures.Executor | None"))
      .def("set_hooks", &Engine::set_hooks, nb::arg("route_id"), nb::arg("before"), nb::arg("after"),
           "Sets the route's before/after-request hooks: lists of (callable, is_async, nargs).")
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
      .def("add_static_route", &Engine::add_static_route, nb::arg("prefix"), nb::arg("root"), nb::arg("index"),
           nb::arg("listing"),
           "GET prefix and prefix/*path answered natively from the files under root; returns their route ids.")
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
      .def("set_authentication", &Engine::set_authentication, nb::arg("route_id"), nb::arg("authenticate"),
           nb::arg("is_async"), nb::arg("unauthorized"),
           "auth_required: authenticate(request) runs first; None answers `unauthorized`, else request.identity.")
      .def("set_default_headers", &Engine::set_default_headers, nb::arg("headers"),
           "Header lines added to the answers connections make themselves (404, 405, refused input).")
      .def("set_request_headers", &Engine::set_request_headers, nb::arg("headers"),
           "The app's global request headers: (name, value, replace) for every request.")
      .def("set_response_headers", &Engine::set_response_headers, nb::arg("route_id"), nb::arg("headers"),
           "Global response headers for one route, added where the response does not set the name.")
      .def("set_error_handling", &Engine::set_error_handling, nb::arg("handlers"), nb::arg("http_exception"),
           nb::arg("format_exception"), nb::arg("dev"), nb::arg("param_error"),
           nb::sig("def set_error_handling(self, handlers: list[tuple[type, object, bool, int]], http_exception: type, "
                   "format_exception: object, dev: bool, param_error: type) -> None"),
           "Exception handlers as (type, handler, is_async, nargs); HTTPException's type; traceback.format_exception; "
           "whether 500 responses show the traceback; the exception raised for a refused parameter, "
           "param_error(message, name).")
      .def("set_const_response", &Engine::set_const_response, nb::arg("route_id"), nb::arg("result"),
           "Serves `result` for the route from C++ without calling Python.")
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
      .def("drain_connections",
           [](Engine& e) {
             if (e.server) e.server->drain_connections();
             e.ev().mark_dirty();
             e.poll();
           },
           "Graceful shutdown: busy connections close after their answers (with Connection: close), idle ones "
           "after a short grace in which a request that arrives is answered the same way.")
      .def_prop_ro("requests_served", [](Engine& e) { return e.server ? e.server->env().requests : 0; })
      .def("close_idle_connections",
           [](Engine& e) {
             if (e.server) e.server->close_idle_connections();
             e.poll();
           })
      .def_prop_ro("connection_count", [](Engine& e) { return e.server ? e.server->connection_count() : 0; })
      .def_prop_ro("pending_count", [](Engine& e) { return e.pending.size(); })
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
