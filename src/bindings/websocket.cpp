// WebSocket connections: frames parsed and written in C++, messages handed to awaiting Python futures.
#include "bindings/websocket.h"

#include <nanobind/stl/shared_ptr.h>

namespace tiercel::py {

namespace {

constexpr size_t kMaxUnread = 1024;  // messages the handler has not read yet before the connection is refused

nb::object message_value(ws::Opcode op, const std::string& data, WsConn::Want want) {
  if (want == WsConn::Want::kBytes) return nb::bytes(data.data(), data.size());
  if (want == WsConn::Want::kJson)  // ValueError when not JSON
    return globals().json_loads(nb::bytes(data.data(), data.size()));
  if (op == ws::kText || want == WsConn::Want::kText) {
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

bool message_payload(nb::handle data, ws::Opcode& op, std::string_view& payload) {
  PyObject* o = data.ptr();
  if (PyUnicode_Check(o)) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(o, &n);
    if (!p) throw nb::python_error();
    op = ws::kText;
    payload = std::string_view(p, static_cast<size_t>(n));
  } else if (PyBytes_Check(o)) {
    op = ws::kBinary;
    payload = std::string_view(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
  } else if (PyByteArray_Check(o)) {
    op = ws::kBinary;
    payload = std::string_view(PyByteArray_AS_STRING(o), static_cast<size_t>(PyByteArray_GET_SIZE(o)));
  } else {
    return false;
  }
  return true;
}

WsConn::WsConn(std::shared_ptr<WsHost> h, Http1Connection& conn, std::shared_ptr<WsRoute> r, nb::object req,
               std::string conn_id)
    : host(std::move(h)),
      route(std::move(r)),
      request(std::move(req)),
      id(std::move(conn_id)),
      conn_(&conn),
      parser_(host->max_message) {
  conn_->retain();
  route->connections.insert(this);
  last_frame_ = last_message_ = monotonic_seconds();
}

WsConn::~WsConn() {
  route->connections.erase(this);
  conn_->release();
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
  conn_->flush_output();
  // The socket may have taken everything at once, in which case no on_drained() will come for the senders
  // waiting for room.
  if (!drain_waiters_.empty() && !conn_->output_full()) on_drained();
}

nb::object WsConn::disconnected() const {
  // Made without calling the class's __init__ (Python in the tiercel package, which must not run per connection):
  // BaseException's tp_new sets `args`; `code` and `reason` are set here as __init__ would.
  nb::object code = nb::int_(close_code);
  nb::object reason = nb::str(close_reason.data(), close_reason.size());
  auto* type = reinterpret_cast<PyTypeObject*>(host->disconnect.ptr());
  nb::object args = nb::make_tuple(code, reason);
  PyObject* exc = type->tp_new(type, args.ptr(), nullptr);
  if (!exc) throw nb::python_error();
  nb::object e = nb::steal(exc);
  e.attr("code") = code;
  e.attr("reason") = reason;
  return e;
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
      conn_->send_raw(frame);
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
  conn_->send_raw(frame);
}

void WsConn::on_pong(std::string_view) { ping_sent_ = 0; }

void WsConn::on_close(uint16_t code, std::string_view reason) {
  if (state_ == State::kOpen) {  // the client closes: echo its code (RFC 6455 §5.5.1)
    std::string frame;
    if (code == ws::kNoStatus)
      ws::append_frame(frame, ws::kClose, {});
    else
      ws::append_close(frame, code, {});
    conn_->send_raw(frame);
  }
  conn_->close_upgraded();
  finish(code, reason);
}

void WsConn::fail(uint16_t code, const std::string& reason) {
  if (state_ == State::kClosed) return;
  std::string frame;
  ws::append_close(frame, code, reason);
  conn_->send_raw(frame);
  conn_->close_upgraded();
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

PyObject* WsConn::call(const WsCallee& callee, std::vector<nb::object>& args) {
  nb::object ws = nb::cast(WebSocketHandle{shared_from_this()});
  if (!callee.plan) return PyObject_CallOneArg(callee.fn.ptr(), ws.ptr());
  const auto& specs = callee.plan->args;
  for (size_t i = 0; i < specs.size() && i < args.size(); ++i) {
    if (specs[i].source == ArgSource::kWebSocket) args[i] = ws;
  }
  PyObject* result = call_planned(callee.fn, *callee.plan, args);
  args.clear();  // used once; holding the WebSocket here would keep this connection alive through itself
  return result;
}

void WsConn::start() {
  if (!route->on_connect) return connected(nb::none());
  nb::object task;
  try {
    nb::object result = nb::steal(call(route->on_connect, connect_args));
    if (!result) throw nb::python_error();
    if (!PyCoro_CheckExact(result.ptr())) return connected(result);
    task = host->loop.attr("create_task")(result);  // an async on_connect: the handler starts when it is done
  } catch (nb::python_error& e) {
    return refuse(e.value());
  }
  std::weak_ptr<WsConn> weak = shared_from_this();
  task.attr("add_done_callback")(nb::cpp_function([weak](nb::handle t) {
    auto c = weak.lock();
    if (!c) return;
    try {
      if (nb::cast<bool>(t.attr("cancelled")())) {
        c->refuse(nb::handle());
      } else if (nb::object exc = t.attr("exception")(); !exc.is_none()) {
        c->refuse(exc);
      } else {
        c->connected(t.attr("result")());
      }
    } catch (nb::python_error& e) {
      c->refuse(e.value());
    }
    if (c->host->after_callback) c->host->after_callback();
  }));
}

void WsConn::refuse(nb::handle exc) {
  if (exc) {
    host->logger.attr("error")("WebSocket on_connect of %s failed", nb::str(route->path.c_str()),
                               nb::arg("exc_info") = exc);
  }
  close(ws::kPolicy, "refused");
  handler_done = true;
  host->maybe_release(this, true);
}

bool WsConn::send_first(nb::handle result) {
  if (result.is_none() || state_ != State::kOpen) return true;
  ws::Opcode op;
  std::string_view payload;
  if (message_payload(result, op, payload)) {
    send(op, payload);
  } else if (PyDict_Check(result.ptr()) || PyList_Check(result.ptr())) {
    nb::object dumped = globals().json_dumps(result);
    PyObject* b = dumped.ptr();
    send(ws::kText, std::string_view(PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b))));
  } else {
    host->logger.attr("error")(
        "WebSocket on_connect of %s returned %s: return str or bytes (sent as the first message), a dict or list "
        "(sent as JSON), or None (nothing sent)",
        nb::str(route->path.c_str()), nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(result.ptr()))).attr("__name__"));
    fail(ws::kInternalError, "internal error");
    handler_done = true;
    host->maybe_release(this, true);
    return false;
  }
  return true;
}

void WsConn::connected(nb::handle result) {
  try {
    if (!send_first(result)) return;
  } catch (nb::python_error& e) {
    return refuse(e.value());
  }
  run_handler();
}

void WsConn::run_handler() {
  try {
    if (state_ != State::kOpen) {  // closed before the handler could start
      handler_done = true;
      return host->maybe_release(this, true);
    }
    PyObject* coro = call(route->handler, handler_args);
    if (!coro) throw nb::python_error();
    nb::object task = host->loop.attr("create_task")(nb::steal(coro));
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
    host->logger.attr("error")("WebSocket handler of %s could not start for %s", nb::str(route->path.c_str()),
                               nb::str(id.c_str()), nb::arg("exc_info") = e.value());
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
  // on_close's result is not sent: the connection is closed by now (Robyn does not deliver it either).
  if (route->on_close) {
    try {
      nb::object r = nb::steal(call(route->on_close, close_args));
      if (!r) throw nb::python_error();
      if (PyCoro_CheckExact(r.ptr())) host->loop.attr("create_task")(r);
    } catch (nb::python_error& e) {
      host->logger.attr("error")("WebSocket on_close of %s failed", nb::str(route->path.c_str()),
                                 nb::arg("exc_info") = e.value());
    }
  }
}

nb::object WsConn::receive(Want want) {
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
  conn_->send_raw(frame, true);
  if (!unflushed_) {
    unflushed_ = true;
    host->flush_later(shared_from_this());
  }
  if (host->idle_timeout > 0) last_message_ = monotonic_seconds();
  if (!conn_->output_full()) return done_future();
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
    conn_->send_raw(frame);
    state_ = State::kClosing;
    close_code = code;
    close_reason = std::string(reason);
    // The client should answer with its own close frame; it gets a moment to, then the connection is closed.
    std::weak_ptr<WsConn> weak = shared_from_this();
    nb::object force = nb::cpp_function([weak]() {
      if (auto c = weak.lock()) {
        c->conn_->close_upgraded();
        c->finish(c->close_code, c->close_reason);
      }
    });
    close_timer_ = host->loop.attr("call_later")(host->close_timeout, force);
  }
  return done_future();
}

}  // namespace tiercel::py
