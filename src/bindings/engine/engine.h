// Engine: one native loop + server per asyncio loop. Dispatches routed requests to Python handlers by
// vectorcall, runs async handlers as (eager) Tasks, and writes their results — no framework Python per request.
// One class, its parts in the files of this folder (named in the sections below); python_api.cpp binds it.
#pragma once

#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>

#include <memory>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "bindings/answer_model.h"
#include "bindings/arguments.h"
#include "bindings/background_tasks.h"
#include "bindings/request_body_stream.h"
#include "bindings/py_types.h"
#include "bindings/engine/route_spec.h"
#include "bindings/route_checker.h"
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

/// Calls `.cancel()` on a Task, Future or TimerHandle (when set), ignoring whatever it raises.
void cancel_handle(const nb::object& h) noexcept;
/// Logs `exc` (with its traceback) through the "tiercel" logger.
void log_exception(std::string_view what, std::string_view method, std::string_view path, nb::handle exc);
/// Logs the current Python exception and clears it.
void log_current_exception(std::string_view what, std::string_view method, std::string_view path);
/// A warning / an error line through the "tiercel" logger.
void log_warning(const std::string& msg);
void log_message(const std::string& msg);

class Engine;

/// What a connection holds as the token of a deferred answer: a Pending request or a ResponsePump.
struct Token {
  enum class Kind : uint8_t { kPending, kPump, kAsgi };
  Kind kind = Kind::kPending;
};

/// A request on its way through its route's stages (before hooks, handler, after hooks), kept while one
/// of them is suspended: where the answer goes when that stage's Task finishes.
struct Pending : Token {
  Pending(Engine* e, Responder* s, uint64_t q, const ResponseContext& c, uint32_t r)
      : engine(e), conn(s), seq(q), ctx(c), route_id(r) {}
  Engine* engine;
  Responder* conn;
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

/// An answer sent in pieces as the connection takes them: a StreamingResponse (its iterator is pulled only while
/// the connection can take more) or a file body.
struct ResponsePump : Token {
  ResponsePump() { kind = Kind::kPump; }
  ~ResponsePump() {
    if (puller) puller->detach();
  }
  Engine* engine = nullptr;
  Responder* conn = nullptr;
  uint64_t seq = 0;
  uint32_t route_id = 0;
  nb::object iter;         // the iterator, or the async iterator
  bool is_async = false;
  nb::object pull;             // a sync iterator's SyncPull (pulled in the thread pool)
  SyncPull* puller = nullptr;  // its C++ object
  bool sse = false;
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

/// The native callbacks of a ResponsePump: its __anext__ finished (kTaskDone), a pull after yielding the loop
/// (kResume), its keep-alive ping timer (kPing).
struct PumpEvent {
  enum What : uint8_t { kTaskDone, kResume, kPing };
  ResponsePump* pump;
  What what;
};

/// A request to a mounted ASGI application under way (ASGI 3.0, its HTTP sub-specification): what the app has sent
/// of its answer, and its receive() and send() waiting. tiercel._core.AsgiCall; its methods are the app's receive
/// and send, native, so serving it runs no framework Python.
struct AsgiCall : Token {
  AsgiCall() { kind = Kind::kAsgi; }
  enum class State : uint8_t {
    kStart,      // nothing sent yet
    kHead,       // http.response.start received, held until the first body message
    kStreaming,  // the head is out, the body goes out as it comes
    kBodiless,   // the head is out and no body may follow (HEAD, 204, 304): body messages are taken and dropped
    kDone,       // the response is complete
  };
  Engine* engine = nullptr;  // null once the app's task is over, or the engine gone
  Responder* conn = nullptr;
  uint64_t seq = 0;
  ResponseContext ctx;
  uint32_t route_id = 0;
  std::string body;           // the request's body, whole
  bool body_given = false;    // receive() returned it
  State state = State::kStart;
  int status = 0;
  std::string fields;         // http.response.start's headers, as header lines
  uint64_t length = 0;        // the app's Content-Length (kUnknownLength when it gave none)
  uint64_t sent = 0;          // body bytes streamed so far
  bool disconnected = false;  // the client left
  nb::object task;            // the app's Task
  nb::object receiver;        // a receive() waiting for the end of the request (http.disconnect)
  nb::object sender;          // a send() waiting for the connection to take more
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

  /// What a route does with a request.
  enum class RouteKind : uint8_t {
    kHandler,    // calls its handler, with its stages (authentication, hooks) and response model
    kWebSocket,  // upgrades, then runs ws->handler
    kStatic,     // answers from the files under static_dir.root (serve_directory)
    kPreflight,  // answers CORS preflights and plain OPTIONS (allow_methods)
    kMetrics,    // answers the Prometheus metrics
    kAsgi,       // calls a mounted ASGI application (asgi_app) with the request's scope, receive and send
  };

  /// A directory served by a kStatic route.
  struct StaticDir {
    std::string root;   // real path
    std::string index;  // the file answered for a directory ("index.html"), or empty
    bool listing = false;
  };

  /// One route: its kind, what every kind has (method, path, the app's global response headers), and the data of
  /// its kind.
  struct Route {
    RouteKind kind = RouteKind::kHandler;
    std::string method;
    std::string path;
    std::string global_lines;  // the app's global response headers ("Name: value\r\n"*), if any
    // kHandler
    Callee handler;
    std::vector<Callee> before, after;  // hooks, in the order they run
    nb::object const_result;            // a const route with hooks: the handler's result, reused
    nb::object unauthorized;            // set when before[0] authenticates: what a None from it answers
    std::shared_ptr<const AnswerModel> answer;  // FastAPI's response model / status_code, or null
    // kWebSocket, kStatic, kPreflight
    std::shared_ptr<WsRoute> ws;
    StaticDir static_dir;
    std::string allow_methods;  // the methods of the path ("GET, HEAD, POST")
    // kAsgi
    nb::object asgi_app;    // an ASGI 3 application: async app(scope, receive, send)
    nb::object root_path;   // str: the mount's prefix ("" for "/"), scope["root_path"]
    nb::object asgi_state;  // the lifespan state (a dict) copied into each scope, or None (no lifespan)

    bool hooked() const noexcept { return !before.empty() || !after.empty(); }
    bool authenticated() const noexcept { return unauthorized.is_valid(); }
  };

  ServerConfig config;
  RouteTable routes;
  std::vector<Route> route_info;
  std::unique_ptr<EventLoop> loop;  // made on first use: an engine that only checks routes has no loop (no fds)
  std::unique_ptr<TcpServer> server;
  std::unique_ptr<ConnectionEnv> memory_env;
  std::unique_ptr<CorsPolicy> cors;
  std::shared_ptr<WsHost> ws_host = std::make_shared<WsHost>();
  std::unique_ptr<ResponseCompression> compression;
  Telemetry telemetry;
  bool telemetry_on = false;
  Py_buffer metrics_view{};  // the (possibly shared) memory of the metrics counters, held while set
  std::shared_ptr<const SessionSettings> sessions;  // of the TestClient's in-memory connections
  std::unordered_set<Pending*> pending;
  std::unordered_set<ResponsePump*> pumps;
  std::unordered_map<AsgiCall*, nb::object> asgi_calls;  // the calls whose app is running, and their Python objects
  nb::object client_disconnected;  // the OSError subclass an ASGI send() raises once the client left
  nb::object cancelled_error;      // asyncio.CancelledError: an ASGI task cancelled at shutdown is not logged
  nb::object ensure_future, background;  // asyncio.ensure_future; a set holding fire-and-forget tasks
  BackgroundRunner tasks_runner;         // the handlers' BackgroundTasks, run once their answers are out

  nb::object aio_loop, call_at, call_soon, poll_cb, timer_cb, timer_handle;
  // Error handling: {exception type: (handler, is_async, nargs)}, the HTTPException type, traceback formatting,
  // the exception for a refused path or query parameter.
  nb::object error_handlers, http_exception, format_exception, param_error;
  // Blocking handlers and sync generators of streamed answers: the thread pool, its submit, and asyncio.wrap_future.
  nb::object blocking_executor, blocking_submit, wrap_future;
  std::unordered_map<PyObject*, Callee> error_callees;  // keys are the types held by error_handlers
  std::shared_ptr<const std::vector<std::tuple<std::string, std::string, bool>>> request_headers;
  bool dev = false;
  double timer_deadline = 0;
  bool soon_pending = false;
  bool attached = false;
  int reader_fd = -1;
  /// Queues a request's tasks when the answer's writing is over, unless a stream took them (queued at its end).
  struct QueueTasksAfter {
    Engine* engine;
    const Route& rt;
    nb::object tasks;
    ~QueueTasksAfter() { engine->queue_tasks(tasks, rt); }
  };

  // ---- lifecycle and polling (lifecycle.cpp) ----------------------------------------------------------------------
  ~Engine() override;
  /// The listener's server, made on first use, with the observer set.
  TcpServer& tcp_server();
  void set_access_log(bool on, int fd);
  /// The server's connections report to the telemetry once it is on (the server may be made before: TLS settings).
  void observe() {
    if (server && telemetry_on) server->env().observer = &telemetry;
  }
  EventLoop& ev();
  int listen(const std::string& host, int port, int backlog, bool reuse_port);
  /// A connection over memory to this engine's routes (the TestClient's): the same connections and dispatch.
  std::unique_ptr<MemoryConnection> open_memory_connection(std::string peer_ip);
  void attach(nb::object asyncio_loop, nb::object self_poll, nb::object self_on_timer);
  void detach();
  void poll();
  /// The asyncio timer fired. It is forgotten before polling: asyncio may fire it a little before
  /// `timer_deadline` by our clock (uvloop counts whole milliseconds), and a fired handle kept as "pending"
  /// would never be replaced, leaving the native timers (timeouts, lingering closes) unserved.
  void on_timer();
  /// Mirrors the native loop's next deadline into asyncio, touching asyncio only when it changes.
  void schedule(int timeout_ms);
  void shutdown();

  // ---- registration (registration.cpp) ----------------------------------------------------------------------------
  /// The app's handler routes, in the order given (their ids follow): each with its plan, hooks, authentication,
  /// response model and headers, or its const answer. ValueError/TypeError for a route the engine cannot take.
  void add_routes(const std::vector<RouteSpec>& specs);
  /// One of add_routes' routes; its id.
  uint32_t add_handler_route(const RouteSpec& spec);
  uint32_t add_route(std::string_view method, std::string_view path, nb::object handler, bool is_async, int nargs);
  /// A new route of `kind` (other than kHandler): no handler, answered by the engine.
  Route& add_native_route(RouteKind kind, std::string_view method, std::string_view path);
  /// The handler route `route_id`: IndexError for no such route, ValueError for a route the engine answers.
  Route& handler_route(uint32_t route_id);
  /// The handler's arguments: (source, name, conversion, extra, default, has_default, keyword) per parameter.
  void set_arguments(uint32_t route_id, nb::handle args);
  /// The route's handler is sync and may block: it runs in `executor` (a concurrent.futures.Executor).
  void set_blocking(uint32_t route_id);
  void set_answer(uint32_t route_id, nb::object validate, nb::object encode, int status, nb::object exact);
  /// The thread pool that pulls the sync generators of streamed answers (and runs blocking=True handlers).
  void set_executor(nb::object executor, nb::object wrap_future_fn);
  void set_stream_body(uint32_t route_id, uint64_t limit);
  /// Serves TLS with these certificates ((cert file, key file, key password); the first is the default, the others
  /// are chosen by SNI). Called again, it reloads: new connections get the new certificates.
  void set_tls(const std::vector<std::tuple<std::string, std::string, std::string>>& certificates,
               std::string ca_file, int verify_client, std::string ciphers, bool http2);
  void set_hooks(uint32_t route_id, const std::vector<std::tuple<nb::object, bool, int>>& before,
                 const std::vector<std::tuple<nb::object, bool, int>>& after);
  /// Trust proxy headers from these proxies ("127.0.0.1,10.0.0.0/8", "*").
  void set_proxy_headers(std::string_view trusted);
  /// CORS for every route: `origins` empty means any origin ("*"), `headers` empty with any_header means any.
  void set_cors(const std::vector<std::string>& origins, const std::vector<std::string>& headers, bool any_header,
                bool credentials, uint32_t max_age, const std::vector<std::string>& expose);
  /// Response compression for every route (off until this is called).
  void set_compression(size_t min_size, std::vector<std::string> types, const std::vector<std::string>& codings,
                       int level);
  /// Signed cookie sessions (request.session) for every route.
  void set_sessions(nb::bytes key, std::string cookie_name, long long max_age, std::string path, nb::object domain,
                    bool secure, bool http_only, nb::object same_site);
  /// WebSocket settings: the exception for a closed connection, the largest message accepted (1009 above).
  void set_websocket(nb::object disconnect, uint64_t max_message, double ping_interval, double ping_timeout,
                     double idle_timeout);
  /// A websocket route: GET `path` upgrades and runs `handler` (async) with optional hooks, each called with the
  /// arguments of its plan (as set_arguments' tuples), or with the WebSocket alone when its plan is None.
  uint32_t add_websocket_route(std::string_view path, nb::object handler, nb::object on_connect, nb::object on_close,
                               nb::object handler_args, nb::object on_connect_args, nb::object on_close_args);
  /// auth_required: `authenticate(request)` runs before the route's hooks; None answers `unauthorized`, anything
  /// else becomes request.identity. Call after set_hooks.
  void set_authentication(uint32_t route_id, nb::object authenticate, bool is_async, nb::object unauthorized);
  /// Header lines for the answers connections make themselves (404, 405, refusals): the global response headers.
  void set_default_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
    config.extra_header_lines = header_lines(headers);
  }
  /// The app's global request headers, as (name, value, replace), for every route (checked by the app).
  void set_request_headers(const std::vector<std::tuple<std::string, std::string, bool>>& headers);
  /// Global response headers for one route (checked by the app): added to each of its responses that does not
  /// set the same name.
  void set_response_headers(uint32_t route_id, const std::vector<std::pair<std::string, std::string>>& headers);
  /// "Name: value\r\n" for each header; ValueError for one that could split a response.
  static std::string header_lines(const std::vector<std::pair<std::string, std::string>>& headers);
  void set_error_handling(nb::list handlers, nb::object http_exception_type, nb::object format_exception_fn,
                          bool dev_mode, nb::object param_error_type);
  void set_const_response(uint32_t route_id, nb::handle result);

  // ---- dispatch and task resumption (dispatch.cpp) ----------------------------------------------------------------
  /// Submits a blocking handler's call to the pool: an asyncio Future (new reference) or null with the error set.
  /// It runs in a copy of `context` (or of the current one): a Context cannot be entered by two threads at once.
  PyObject* submit_blocking(const Callee& h, nb::handle request, nb::handle context);
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override;
  /// The handler called for `request`: with the request alone, or with the arguments of its plan. A new reference,
  /// or null with the Python error set.
  PyObject* call_handler(const Callee& h, nb::handle request);
  /// asyncio.Task(coro, loop=..., [eager_start=True,] [context=...]); null with the Python error set on failure.
  PyObject* make_task(nb::handle coro, nb::handle context);
  std::unique_ptr<Pending> fresh_pending(Responder& conn, uint64_t seq, const ResponseContext& ctx,
                                         uint32_t route_id, nb::handle request);
  void run_coroutine(Responder& conn, uint64_t seq, const ResponseContext& ctx, uint32_t route_id,
                     nb::object coro, const Route& rt, nb::handle request);
  /// Parks `p` until `task` finishes (TaskDone then calls on_task_done).
  void suspend(std::unique_ptr<Pending> owned, nb::object task);
  /// task.result(): a new reference, or null with the task's exception set.
  static PyObject* task_result(nb::handle task) {
    return PyObject_CallMethodNoArgs(task.ptr(), globals().s_result.ptr());
  }
  static bool task_done(nb::handle task);
  void on_task_done(Pending* p);
  void cancel(void* token) noexcept override;
  void on_writable(void* token) noexcept override;

  // ---- stages and error handlers (stages.cpp) ---------------------------------------------------------------------
  /// Runs p's stages from p->stage on, in p's context, until one suspends or the answer is written.
  void run_stages(std::unique_ptr<Pending> p);
  /// Applies what stage p->stage returned and moves p to its next stage. False when the answer was written.
  /// `is_answer`: the result is an exception handler's, the answer whatever the stage (a None included).
  bool take_stage_result(Pending& p, const Route& rt, nb::handle result, bool is_answer = false);
  static std::string stage_name(const Route& rt, size_t stage);
  /// The current Python exception ended p's stage: an exception handler (the most specific for its type), an
  /// HTTPException's own response, or a 500. A handled error counts as what the stage returned, so the
  /// after-request hooks still run.
  void fail(std::unique_ptr<Pending> p, const Route& rt, const std::string& what);
  /// Goes on with p's stages as if its current stage had returned `result` (`is_answer`: an exception handler's).
  void resume_with(std::unique_ptr<Pending> p, const Route& rt, nb::handle result, bool is_answer);
  /// The handler for `exc`: the first of its MRO's classes with one. A client error the framework raised
  /// (ClientError) is the app's only where it asked for HTTPException or a subclass: a catch-all handler
  /// (Exception) does not see it, and it keeps its 4xx.
  const Callee* find_error_handler(nb::handle exc);
  /// (detail, status_code, headers) of an HTTPException; null with a Python error when it has no valid status.
  static nb::object http_exception_result(nb::handle exc);
  /// Logs `exc` and answers 500: "Internal Server Error", or in development mode the traceback.
  void unhandled(Pending& p, const Route& rt, const std::string& what, nb::handle exc);

  // ---- results into answers (answers.cpp) -------------------------------------------------------------------------
  /// The handler's `result` shaped by the route's response model (FastAPI's): false with a Python error set.
  static bool shape(const Route& rt, nb::object& result) { return !rt.answer || shape_answer(*rt.answer, result); }
  /// The request's BackgroundTasks (null when the handler took none), taken from it.
  static nb::object take_tasks(nb::handle request) {
    return request ? std::exchange(nb::inst_ptr<Request>(request)->py_background, nb::object()) : nb::object();
  }
  static void discard_tasks(nb::handle request) {
    if (nb::object tasks = take_tasks(request)) discard_background_tasks(tasks);
  }
  /// `tasks` (a BackgroundTasks, or null) of a request to `rt` start on the loop's next turn, after its answer.
  void queue_tasks(nb::handle tasks, const Route& rt) noexcept;
  void write_result(Responder& conn, uint64_t seq, const ResponseContext& ctx, nb::handle result,
                    const Route& rt, nb::handle request);
  void write_error(Responder& conn, uint64_t seq, const ResponseContext& ctx, const Route& rt);
  /// Adds to an answer's own header `fields` what the engine adds to every answer on `rt`: the content coding's
  /// fields, the route's global headers, the CORS ones, the session cookie.
  void finish_fields(std::string& fields, const Route& rt, const ResponseContext& ctx, nb::handle request,
                     std::string_view encoding_lines = {}) const;
  /// The header lines of the engine's own error answers on `rt`: its global headers and the CORS ones.
  std::string error_lines(const Route& rt, const ResponseContext& ctx) const;

  // ---- response pumps (pumps.cpp) ---------------------------------------------------------------------------------
  void send_file_answer(Responder& conn, uint64_t seq, const ResponseContext& ctx, const Route& rt,
                        FileAnswer& a, nb::object* tasks = nullptr);
  /// The next chunk of a file stream; false when it failed (the stream is over).
  bool pump_file(ResponsePump* st);
  /// Sends a StreamingResponse: its head now, then its items as the connection takes them.
  void start_stream(Responder& conn, uint64_t seq, const ResponseContext& ctx, nb::handle result,
                    const Route& rt, nb::handle request, nb::object* tasks = nullptr);
  /// Pulls items while the connection takes them, then sends what they made in one write.
  void pump(ResponsePump* st);
  /// One batch of pump(): yields the loop after 64 items so one stream cannot hog it. The bytes stay in the
  /// connection's output until the batch ends. True when it stopped only because the output is full.
  bool pump_batch(ResponsePump* st);
  /// Sends what the pool's worker made while the connection takes it; then, the inbox empty, ends the stream or
  /// submits the next job. True when it stopped only because the output is full.
  bool send_pulled(ResponsePump* st);
  bool submit_pull(ResponsePump* st);
  /// The worker woke the loop: it made items, or its job ended.
  void on_pulled(ResponsePump* st);
  /// A pull is under way: its completion comes back to the stream.
  static bool busy(const ResponsePump* st) { return st->task || (st->puller && st->puller->running); }
  /// The result of an __anext__ task: an item (written; true) or the end / an error (the stream is over; false).
  bool take_anext(ResponsePump* st, nb::handle task);
  bool write_item(ResponsePump* st, nb::handle item);
  void finish_stream(ResponsePump* st);
  /// The iterator failed mid-body: the status is long sent, so the connection closes without the final chunk
  /// (the client sees an incomplete body, not a complete wrong one).
  void fail_stream(ResponsePump* st, const std::string& what);
  void cancel_stream(ResponsePump* st) noexcept;
  /// Graceful shutdown: every server-sent-event stream ends now, whole (its last chunk sent), and its generator is
  /// stopped. An event stream never ends by itself, so it would hold the drain for the whole grace period; an
  /// EventSource reconnects by itself (to a worker still serving). Other streams are left to finish.
  void end_event_streams();
  /// Stops the generator: GeneratorExit in a sync one, aclose() (as a task) for an async one.
  void close_iterator(ResponsePump* st);
  void drop_stream(ResponsePump* st);
  /// Runs `what` for `st` after `delay` seconds (0: on the loop's next turn).
  void schedule(ResponsePump* st, PumpEvent::What what, double delay);
  void on_stream_event(ResponsePump* st, PumpEvent::What what);

  // ---- mounted ASGI applications (asgi.cpp) -----------------------------------------------------------------------
  /// Requests under `prefix` (the prefix itself and every path below it, every method) go to `app`, an ASGI 3
  /// application; `disconnected` is the OSError subclass its send() raises once the client left; `state` the dict
  /// its lifespan startup filled (a shallow copy in each request's scope), or None.
  void add_asgi_mount(std::string_view prefix, nb::object app, nb::object disconnected,
                      const std::vector<std::pair<std::string, std::string>>& response_headers, nb::object state);
  void dispatch_asgi(Responder& conn, uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx,
                     const Route& rt);
  /// The request's HTTP scope: a new dict.
  nb::object asgi_scope(Responder& conn, const RoutedRequest& req, const Route& rt) const;
  /// The app's receive(): an awaitable of the next event.
  nb::object asgi_receive(AsgiCall& call);
  /// The app's send(message): an awaitable, done once the connection takes more; raises for a message out of order
  /// or malformed, and (the client_disconnected OSError) once the client left.
  nb::object asgi_send(AsgiCall& call, nb::handle message);
  /// The app's task is over: what it left unanswered is answered (500) or cut short.
  void on_asgi_done(AsgiCall* call);
  void asgi_disconnected(AsgiCall* call) noexcept;
  /// The connection takes more: the send() that waited returns.
  void asgi_writable(AsgiCall* call) noexcept;
  /// A Future already done with `value`.
  nb::object done_future(nb::handle value) const;

  // ---- built-in routes (builtin_routes.cpp) -----------------------------------------------------------------------
  /// Metrics counted into block `own` of `nblocks` blocks in `memory` (a writable buffer, shared between workers
  /// by a supervisor), and served at GET `path` from all of them.
  void set_metrics(nb::object memory, size_t nblocks, size_t own, size_t max_routes, std::string_view path);
  /// The Prometheus metrics of every worker, in the text format.
  void write_metrics(Responder& conn, uint64_t seq, const ResponseContext& ctx);
  /// OPTIONS on `path`, answered natively: CORS preflights (set_cors first) and plain OPTIONS with `Allow`.
  uint32_t add_preflight_route(std::string_view path, std::string allow_methods);
  /// An OPTIONS request to a path the app has no OPTIONS route for, when CORS is on: a preflight's answer, or
  /// for a plain OPTIONS 204 with `Allow`.
  void write_preflight(Responder& conn, uint64_t seq, const http1::RequestHead& head, const ResponseContext& ctx,
                       const Route& rt);
  /// GET `prefix` and `prefix/*path` answered from the files under `root` (serve_directory), with the app's
  /// global response headers.
  void add_static_route(std::string_view prefix, const std::string& root, std::string index, bool listing,
                        const std::vector<std::pair<std::string, std::string>>& response_headers);
  void serve_static(Responder& conn, uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx,
                    const Route& rt);
};

}  // namespace tiercel::py
