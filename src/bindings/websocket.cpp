// WebSocket connections: frames parsed and written in C++, messages handed to awaiting Python futures.
#include "bindings/websocket.h"

#include <nanobind/stl/shared_ptr.h>

#include "core/cors.h"
#include "core/response_writer.h"

namespace tiercel::py {

namespace {

constexpr size_t kMaxUnread = 1024;  // messages the handler has not read yet before the connection is refused

nb::object message_value(ws::Opcode op, const std::string& data, int want) {
  if (want == 2) return nb::bytes(data.data(), data.size());
  if (want == 3) return globals().json_loads(nb::bytes(data.data(), data.size()));  // ValueError when not JSON
  if (op == ws::kText || want == 1) {
    PyObject* s = PyUnicode_DecodeUTF8(data.data(), static_cast<Py_ssize_t>(data.size()), "strict");
    if (!s) {
      PyErr_Clear();
      throw nb::type_error("expected a text message, got binary data that is not UTF-8");
    }
    return nb::steal(s);
  }
  return nb::bytes(data.data(), data.size());
}

}  // namespace

WsConn::WsConn(std::shared_ptr<WsHost> h, Http1Session& session, std::shared_ptr<WsRoute> r, nb::object req,
               std::string conn_id)
    : host(std::move(h)),
      route(std::move(r)),
      request(std::move(req)),
      id(std::move(conn_id)),
      session_(&session),
      parser_(host->max_message) {
  session_->retain();
  route->connections.insert(this);
  last_frame_ = last_message_ = monotonic_seconds();
}

WsConn::~WsConn() {
  route->connections.erase(this);
  session_->release();
}

void WsHost::maybe_release(WsConn* c, bool later) {
  if (!c->transport_gone || !c->handler_done) return;
  if (!later) {
    conns.erase(c);
    return;
  }
  std::weak_ptr<WsHost> weak = shared_from_this();
  loop.attr("call_soon")(nb::cpp_function([weak, c]() {
    if (auto h = weak.lock()) h->conns.erase(c);
  }));
}

void WsHost::flush_later(const std::shared_ptr<WsConn>& c) {
  if (unflushed.empty()) {
    std::weak_ptr<WsHost> weak = shared_from_this();
    loop.attr("call_soon")(nb::cpp_function([weak]() {
      if (auto h = weak.lock()) h->flush_all();
    }));
  }
  unflushed.push_back(c);
}

void WsHost::flush_all() {
  for (auto& weak : std::exchange(unflushed, {})) {
    if (auto c = weak.lock()) c->flush();
  }
  if (after_callback) after_callback();
}

void WsConn::flush() {
  if (!unflushed_) return;
  unflushed_ = false;
  if (transport_gone) return;
  session_->flush_output();
  // The socket may have taken everything at once, in which case no on_drained() will come for the senders
  // waiting for room.
  if (!drain_waiters_.empty() && !session_->output_full()) on_drained();
}

nb::object WsConn::disconnected() const {
  return host->disconnect(close_code, nb::str(close_reason.data(), close_reason.size()));
}

nb::object WsConn::done_future(nb::handle exc) {
  nb::object f = host->loop.attr("create_future")();
  if (exc)
    f.attr("set_exception")(exc);
  else
    f.attr("set_result")(nb::none());
  return f;
}

void WsConn::arm_keepalive(double delay) {
  std::weak_ptr<WsConn> weak = shared_from_this();
  keepalive_timer_ = host->loop.attr("call_later")(delay, nb::cpp_function([weak]() {
    if (auto c = weak.lock()) c->keepalive_tick();
  }));
}

void WsConn::keepalive_tick() {
  keepalive_timer_.reset();
  if (state_ != State::kOpen) return;
  double now = monotonic_seconds();
  double next = 1e18;
  if (host->idle_timeout > 0) {
    if (now - last_message_ >= host->idle_timeout) {
      close(ws::kGoingAway, "idle timeout");
      if (host->after_callback) host->after_callback();
      return;
    }
    next = last_message_ + host->idle_timeout;
  }
  if (host->ping_interval > 0) {
    if (ping_sent_ > 0 && now - ping_sent_ >= host->ping_timeout) {
      fail(ws::kInternalError, "keepalive ping timeout");
      if (host->after_callback) host->after_callback();
      return;
    }
    if (ping_sent_ == 0 && now - last_frame_ >= host->ping_interval) {
      std::string frame;
      ws::append_frame(frame, ws::kPing, "tiercel");
      session_->send_raw(frame);
      ping_sent_ = now;
      if (host->after_callback) host->after_callback();
    }
    next = std::min(next, ping_sent_ > 0 ? ping_sent_ + host->ping_timeout : last_frame_ + host->ping_interval);
  }
  if (next < 1e18) arm_keepalive(std::max(next - now, 0.01));
}

void WsConn::on_bytes(std::string_view data) {
  last_frame_ = monotonic_seconds();
  std::string reason;
  uint16_t failure = parser_.feed(data, *this, reason);
  if (failure) fail(failure, reason);
  if (host->after_callback) host->after_callback();
}

void WsConn::on_message(ws::Opcode opcode, std::string_view data) {
  if (state_ != State::kOpen) return;
  last_message_ = last_frame_;
  if (inbox_.size() >= kMaxUnread) return fail(ws::kPolicy, "too many unread messages");
  inbox_.emplace_back(opcode, std::string(data));
  deliver();
}

void WsConn::deliver() {
  while (!receivers_.empty() && !inbox_.empty()) {
    auto [fut, want] = std::move(receivers_.front());
    receivers_.pop_front();
    if (nb::cast<bool>(fut.attr("done")())) continue;  // cancelled by its awaiter
    auto [op, data] = std::move(inbox_.front());
    inbox_.pop_front();
    try {
      fut.attr("set_result")(message_value(op, data, want));
    } catch (nb::python_error& e) {
      fut.attr("set_exception")(e.value());
    } catch (const std::exception& e) {
      fut.attr("set_exception")(nb::handle(PyExc_TypeError)(e.what()));
    }
  }
}

void WsConn::on_ping(std::string_view payload) {
  if (state_ == State::kClosed) return;
  std::string frame;
  ws::append_frame(frame, ws::kPong, payload);
  session_->send_raw(frame);
}

void WsConn::on_pong(std::string_view) { ping_sent_ = 0; }

void WsConn::on_close(uint16_t code, std::string_view reason) {
  if (state_ == State::kOpen) {  // the client closes: echo its code (RFC 6455 §5.5.1)
    std::string frame;
    if (code == ws::kNoStatus)
      ws::append_frame(frame, ws::kClose, {});
    else
      ws::append_close(frame, code, {});
    session_->send_raw(frame);
  }
  session_->close_upgraded();
  finish(code, reason);
}

void WsConn::fail(uint16_t code, const std::string& reason) {
  if (state_ == State::kClosed) return;
  std::string frame;
  ws::append_close(frame, code, reason);
  session_->send_raw(frame);
  session_->close_upgraded();
  finish(code, reason);
}

void WsConn::on_drained() noexcept {
  for (auto& f : std::exchange(drain_waiters_, {})) {
    try {
      if (!nb::cast<bool>(f.attr("done")())) f.attr("set_result")(nb::none());
    } catch (nb::python_error&) {
      PyErr_Clear();
    }
  }
  if (host->after_callback) host->after_callback();
}

void WsConn::on_shutdown() noexcept {
  try {
    close(ws::kGoingAway, "server shutting down");
  } catch (nb::python_error&) {
    PyErr_Clear();
  }
}

void WsConn::on_closed() noexcept {
  transport_gone = true;
  try {
    finish(ws::kAbnormal, "");
    host->maybe_release(this, true);
  } catch (nb::python_error&) {
    PyErr_Clear();
  }
}

void WsConn::start(nb::handle on_connect_result) {
  try {
    if (on_connect_result && PyCoro_CheckExact(on_connect_result.ptr())) {
      // An async on_connect: the handler starts when it is done.
      nb::object task = host->loop.attr("create_task")(on_connect_result);
      std::weak_ptr<WsConn> weak = shared_from_this();
      task.attr("add_done_callback")(nb::cpp_function([weak](nb::handle t) {
        auto c = weak.lock();
        if (!c) return;
        if (!nb::cast<bool>(t.attr("cancelled")()) && t.attr("exception")().is_none())
          return c->start(nb::handle());
        c->handler_finished(t);
      }));
      return;
    }
    if (state_ != State::kOpen) {  // closed before the handler could start
      handler_done = true;
      return host->maybe_release(this, true);
    }
    nb::object ws = nb::cast(WebSocketHandle{shared_from_this()});
    nb::object coro = route->handler(ws);
    nb::object task = host->loop.attr("create_task")(coro);
    std::weak_ptr<WsConn> weak = shared_from_this();
    task.attr("add_done_callback")(nb::cpp_function([weak](nb::handle t) {
      if (auto c = weak.lock()) c->handler_finished(t);
    }));
    double first = 0;
    for (double t : {host->ping_interval, host->idle_timeout}) {
      if (t > 0 && (first == 0 || t < first)) first = t;
    }
    if (first > 0) arm_keepalive(first);
  } catch (nb::python_error& e) {
    host->logger.attr("error")("WebSocket handler could not start for %s", nb::str(id.c_str()),
                               nb::arg("exc_info") = e.value());
    fail(ws::kInternalError, "handler failed");
    handler_done = true;
    host->maybe_release(this, true);
  }
}

void WsConn::handler_finished(nb::handle task) {
  handler_done = true;
  try {
    if (!nb::cast<bool>(task.attr("cancelled")())) {
      nb::object exc = task.attr("exception")();
      if (!exc.is_none() && !nb::isinstance(exc, host->disconnect)) {
        host->logger.attr("error")("Unhandled exception in WebSocket handler %s", nb::str(id.c_str()),
                                   nb::arg("exc_info") = exc);
        fail(ws::kInternalError, "internal error");
      }
    }
    if (state_ == State::kOpen) close(ws::kNormal, "");
  } catch (nb::python_error&) {
    PyErr_Clear();
  }
  host->maybe_release(this, false);
  if (host->after_callback) host->after_callback();
}

void WsConn::finish(uint16_t code, std::string_view reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  if (close_code == ws::kNoStatus || code != ws::kAbnormal) {
    close_code = code;
    close_reason = std::string(reason);
  }
  for (nb::object* timer : {&close_timer_, &keepalive_timer_}) {
    if (*timer) {
      timer->attr("cancel")();
      timer->reset();
    }
  }
  route->connections.erase(this);
  nb::object exc = disconnected();
  for (auto& [fut, want] : std::exchange(receivers_, {})) {
    if (!nb::cast<bool>(fut.attr("done")())) fut.attr("set_exception")(exc);
  }
  for (auto& f : std::exchange(drain_waiters_, {})) {
    if (!nb::cast<bool>(f.attr("done")())) f.attr("set_exception")(exc);
  }
  if (route->on_close) {
    try {
      nb::object ws = nb::cast(WebSocketHandle{shared_from_this()});
      nb::object r = route->on_close(ws);
      if (PyCoro_CheckExact(r.ptr())) host->loop.attr("create_task")(r);
    } catch (nb::python_error& e) {
      e.restore();
      PyErr_WriteUnraisable(route->on_close.ptr());
    }
  }
}

nb::object WsConn::receive(int want) {
  nb::object fut = host->loop.attr("create_future")();
  if (!inbox_.empty() && receivers_.empty()) {
    auto [op, data] = std::move(inbox_.front());
    inbox_.pop_front();
    fut.attr("set_result")(message_value(op, data, want));
  } else if (state_ != State::kOpen && inbox_.empty()) {
    fut.attr("set_exception")(disconnected());
  } else {
    receivers_.emplace_back(fut, want);
  }
  return fut;
}

nb::object WsConn::send(ws::Opcode opcode, std::string_view data) {
  if (state_ != State::kOpen) {
    nb::object exc = disconnected();
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw nb::python_error();
  }
  std::string frame;
  ws::append_frame(frame, opcode, data);
  // Frames are written on the loop's next turn, together with the others the handler sends until then.
  session_->send_raw(frame, true);
  if (!unflushed_) {
    unflushed_ = true;
    host->flush_later(shared_from_this());
  }
  if (host->idle_timeout > 0) last_message_ = monotonic_seconds();
  if (!session_->output_full()) return done_future();
  nb::object fut = host->loop.attr("create_future")();
  drain_waiters_.push_back(fut);  // backpressure: the sender waits until the client has read it
  return fut;
}

nb::object WsConn::close(uint16_t code, std::string_view reason) {
  if (state_ == State::kOpen) {
    if (!ws::valid_close_code(code) && code != ws::kNormal)
      throw nb::value_error("a close code is 1000-1003, 1007-1011 or 3000-4999");
    std::string frame;
    ws::append_close(frame, code, reason);
    session_->send_raw(frame);
    state_ = State::kClosing;
    close_code = code;
    close_reason = std::string(reason);
    // The client should answer with its own close frame; it gets a moment to, then the connection is closed.
    std::weak_ptr<WsConn> weak = shared_from_this();
    nb::object force = nb::cpp_function([weak]() {
      if (auto c = weak.lock()) {
        c->session_->close_upgraded();
        c->finish(c->close_code, c->close_reason);
      }
    });
    close_timer_ = host->loop.attr("call_later")(host->close_timeout, force);
  }
  return done_future();
}

void start_websocket(const std::shared_ptr<WsHost>& host, const std::shared_ptr<WsRoute>& route, Http1Session& session,
                     uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx, nb::object request,
                     std::string_view server_header) {
  const auto& h = req.head.headers;
  auto has_token = [&](std::string_view name, std::string_view token) {
    const std::string_view* v = find_header(h, name);
    return v && !each_list_item(*v, [&](std::string_view t) { return !ascii_iequal(t, token); });
  };
  const std::string_view* key = find_header(h, "sec-websocket-key");
  const std::string_view* version = find_header(h, "sec-websocket-version");
  std::string problem;
  if (req.method != Method::kGet) problem = "a WebSocket upgrade is a GET";
  else if (!has_token("upgrade", "websocket")) problem = "missing Upgrade: websocket";
  else if (!has_token("connection", "upgrade")) problem = "missing Connection: upgrade";
  else if (!version || *version != "13") problem = "Sec-WebSocket-Version must be 13";
  else if (!key || !ws::valid_client_key(*key)) problem = "missing or malformed Sec-WebSocket-Key";
  else if (!req.body.empty()) problem = "an upgrade request has no body";
  else if (!session.can_upgrade(seq)) problem = "a WebSocket upgrade cannot follow pipelined requests";
  if (!problem.empty()) {
    ResponseContext c = ctx;
    c.keep_alive = false;
    std::string extra = version && *version != "13" ? "Sec-WebSocket-Version: 13\r\n" : "";
    ResponseWriter(session.response_buffer(seq), session.env().date_line(), server_header)
        .text(400, "Bad WebSocket upgrade: " + problem + "\n", c, extra);
    session.response_done(seq, true);
    return;
  }
  std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + ws::accept_key(*key) + "\r\n\r\n";
  auto conn = std::make_shared<WsConn>(host, session, route, std::move(request), std::to_string(++host->next_id));
  host->conns[conn.get()] = conn;
  session.upgrade(seq, response, conn.get());
  nb::object hook_result;
  if (route->on_connect) {
    try {
      hook_result = route->on_connect(nb::cast(WebSocketHandle{conn}));
    } catch (nb::python_error& e) {
      host->logger.attr("error")("WebSocket on_connect failed", nb::arg("exc_info") = e.value());
      conn->close(ws::kPolicy, "refused");
      conn->handler_done = true;
      return;
    }
  }
  conn->start(hook_result);
}

void bind_websocket(nb::module_& m) {
  nb::class_<WebSocketHandle>(m, "WebSocket", "A WebSocket connection, as its handler sees it.")
      .def(
          "receive_text", [](WebSocketHandle& w) { return w.conn->receive(1); },
          nb::sig("def receive_text(self) -> collections.abc.Awaitable[str]"),
          "The next message as str (WebSocketDisconnect once the connection is closed).")
      .def(
          "receive_bytes", [](WebSocketHandle& w) { return w.conn->receive(2); },
          nb::sig("def receive_bytes(self) -> collections.abc.Awaitable[bytes]"), "The next message as bytes.")
      .def(
          "receive", [](WebSocketHandle& w) { return w.conn->receive(0); },
          nb::sig("def receive(self) -> collections.abc.Awaitable[str | bytes]"),
          "The next message: str for a text message, bytes for a binary one.")
      .def(
          "send_text",
          [](WebSocketHandle& w, nb::str text) {
            Py_ssize_t n = 0;
            const char* p = PyUnicode_AsUTF8AndSize(text.ptr(), &n);
            if (!p) throw nb::python_error();
            return w.conn->send(ws::kText, std::string_view(p, static_cast<size_t>(n)));
          },
          nb::arg("data"), nb::sig("def send_text(self, data: str) -> collections.abc.Awaitable[None]"),
          "Sends a text message; awaiting it waits while the client is slow to read (backpressure).")
      .def(
          "receive_json", [](WebSocketHandle& w) { return w.conn->receive(3); },
          nb::sig("def receive_json(self) -> collections.abc.Awaitable[typing.Any]"),
          "The next message parsed as JSON (ValueError when it is not JSON).")
      .def(
          "send_json",
          [](WebSocketHandle& w, nb::handle obj) {
            nb::object dumped = globals().json_dumps(obj);
            return w.conn->send(ws::kText, std::string_view(PyBytes_AS_STRING(dumped.ptr()),
                                                            static_cast<size_t>(PyBytes_GET_SIZE(dumped.ptr()))));
          },
          nb::arg("data"), nb::sig("def send_json(self, data: typing.Any) -> collections.abc.Awaitable[None]"),
          "Sends `data` as a JSON text message.")
      .def(
          "send_bytes",
          [](WebSocketHandle& w, nb::bytes data) {
            return w.conn->send(ws::kBinary, std::string_view(data.c_str(), data.size()));
          },
          nb::arg("data"), nb::sig("def send_bytes(self, data: bytes) -> collections.abc.Awaitable[None]"),
          "Sends a binary message.")
      .def(
          "close",
          [](WebSocketHandle& w, uint16_t code, std::string reason) { return w.conn->close(code, reason); },
          nb::arg("code") = 1000, nb::arg("reason") = "",
          nb::sig("def close(self, code: int = 1000, reason: str = '') -> collections.abc.Awaitable[None]"),
          "Starts the closing handshake with `code` and `reason`.")
      .def(
          "broadcast",
          [](WebSocketHandle& w, nb::handle data) {
            ws::Opcode op = PyUnicode_Check(data.ptr()) ? ws::kText : ws::kBinary;
            std::string payload;
            if (op == ws::kText) {
              payload = nb::cast<std::string>(data);
            } else if (PyBytes_Check(data.ptr())) {
              payload.assign(PyBytes_AS_STRING(data.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(data.ptr())));
            } else {
              throw nb::type_error("broadcast sends str or bytes");
            }
            size_t sent = 0;
            auto& all = w.conn->route->connections;
            for (WsConn* c : std::vector<WsConn*>(all.begin(), all.end())) {
              if (c->closed()) continue;
              c->send(op, payload);
              ++sent;
            }
            return sent;
          },
          nb::arg("data"), "Sends `data` to every open connection of this route in this process; returns how many.")
      .def_prop_ro("id", [](WebSocketHandle& w) { return w.conn->id; })
      .def_prop_ro("request", [](WebSocketHandle& w) { return w.conn->request; }, nb::sig("def request(self) -> Request"))
      .def_prop_ro("path_params", [](WebSocketHandle& w) { return w.conn->request.attr("path_params"); },
                   nb::sig("def path_params(self) -> dict[str, str]"))
      .def_prop_ro("query_params", [](WebSocketHandle& w) { return w.conn->request.attr("query_params"); },
                   nb::sig("def query_params(self) -> QueryParams"))
      .def_prop_ro("headers", [](WebSocketHandle& w) { return w.conn->request.attr("headers"); },
                   nb::sig("def headers(self) -> Headers"))
      .def_prop_ro("close_code", [](WebSocketHandle& w) { return w.conn->close_code; })
      .def_prop_ro("closed", [](WebSocketHandle& w) { return w.conn->closed(); })
      .def("__repr__", [](WebSocketHandle& w) { return "<WebSocket " + w.conn->id + ">"; });
}

}  // namespace tiercel::py
