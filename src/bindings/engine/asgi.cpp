// The Engine's mounted ASGI applications (ASGI 3.0, HTTP 2.3): the scope built from the routed request, the app's
// coroutine run as an eager Task, and its receive()/send() answered natively from the connection.
#include <Python.h>

#include "bindings/engine/engine.h"
#include "core/response_writer.h"

namespace tiercel::py {

namespace {

/// Calls `future.<how>(value)` (set_result, set_exception) unless it is done already (cancelled by the app, say).
void resolve(const nb::object& future, const char* how, nb::handle value) noexcept {
  if (!future) return;
  try {
    if (!nb::cast<bool>(future.attr("done")())) future.attr(how)(value);
  } catch (nb::python_error& e) {
    e.restore();
    PyErr_Clear();
  }
}

void settle(const nb::object& future, nb::handle value) noexcept { resolve(future, "set_result", value); }
void fail_future(const nb::object& future, nb::handle exc) noexcept { resolve(future, "set_exception", exc); }

nb::object event(const char* type) {
  nb::dict d;
  d["type"] = type;
  return d;
}

nb::bytes as_bytes(std::string_view s) { return nb::bytes(s.data(), s.size()); }

/// The bytes of a bytes-like object (bytes, bytearray, memoryview); TypeError naming `what` otherwise.
std::string bytes_of(nb::handle o, const char* what) {
  Py_buffer view;
  if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    throw nb::type_error((std::string(what) + " must be bytes, got " +
                          nb::cast<std::string>(nb::str(nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(o.ptr())))))).c_str());
  }
  std::string out(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));
  PyBuffer_Release(&view);
  return out;
}

}  // namespace

nb::object Engine::done_future(nb::handle value) const {
  nb::object f = aio_loop.attr("create_future")();
  f.attr("set_result")(value);
  return f;
}

void Engine::add_asgi_mount(std::string_view prefix, nb::object app, nb::object disconnected,
                            const std::vector<std::pair<std::string, std::string>>& response_headers,
                            nb::object state) {
  if (!state.is_none() && !PyDict_Check(state.ptr())) throw nb::type_error("an ASGI app's state is a dict or None");
  std::string global_lines = header_lines(response_headers);
  std::string base(prefix);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  nb::object root = nb::str(base == "/" ? "" : base.c_str());
  client_disconnected = std::move(disconnected);
  cancelled_error = nb::module_::import_("asyncio").attr("CancelledError");
  // Every method the router knows but CONNECT (HEAD goes to the GET route, with its own method in the scope).
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"}) {
    for (std::string pattern : {base, (base == "/" ? std::string() : base) + "/*path"}) {
      Route& rt = add_native_route(RouteKind::kAsgi, method, pattern);
      rt.asgi_app = app;
      rt.root_path = root;
      rt.asgi_state = state;
      rt.global_lines = global_lines;
    }
  }
}

nb::object Engine::asgi_scope(Responder& conn, const RoutedRequest& req, const Route& rt) const {
  const http1::RequestHead& h = req.head;
  nb::dict scope;
  scope["type"] = "http";
  nb::dict asgi;
  asgi["version"] = "3.0";
  asgi["spec_version"] = "2.3";
  scope["asgi"] = asgi;
  scope["http_version"] = conn.http1() ? (h.version_minor ? "1.1" : "1.0") : "2";
  scope["method"] = nb::str(h.method.data(), h.method.size());
  scope["scheme"] = nb::str(req.scheme.data(), req.scheme.size());
  std::string path = percent_decode(h.path, false);
  scope["path"] = nb::steal(PyUnicode_DecodeUTF8(path.data(), static_cast<Py_ssize_t>(path.size()), "replace"));
  scope["raw_path"] = as_bytes(h.path);
  scope["query_string"] = as_bytes(h.query);
  scope["root_path"] = rt.root_path;
  nb::list headers;
  for (const http1::Header& f : h.headers) headers.append(nb::make_tuple(as_bytes(ascii_lower(f.name)), as_bytes(f.value)));
  scope["headers"] = headers;
  scope["client"] = nb::make_tuple(nb::str(req.peer_ip.data(), req.peer_ip.size()), 0);
  scope["server"] = nb::none();
  scope["extensions"] = nb::dict();
  if (rt.asgi_state && !rt.asgi_state.is_none())  // the lifespan's state, shallow-copied (ASGI 2.x "state")
    scope["state"] = nb::steal(PyDict_Copy(rt.asgi_state.ptr()));
  return scope;
}

void Engine::dispatch_asgi(Responder& conn, uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx,
                           const Route& rt) {
  nb::object scope = asgi_scope(conn, req, rt);
  auto* call = new AsgiCall();
  nb::object self = nb::cast(call, nb::rv_policy::take_ownership);
  call->engine = this;
  call->conn = &conn;
  call->seq = seq;
  call->ctx = ctx;
  call->route_id = req.route_id;
  call->body.assign(req.body);
  call->length = Responder::kUnknownLength;
  nb::object receive = self.attr("receive"), send = self.attr("send");
  PyObject* args[4] = {nullptr, scope.ptr(), receive.ptr(), send.ptr()};
  PyObject* coro = PyObject_Vectorcall(rt.asgi_app.ptr(), args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
  PyObject* task = coro ? make_task(nb::handle(coro), nb::handle()) : nullptr;
  Py_XDECREF(coro);
  if (!task) {
    log_current_exception("Cannot start the ASGI application", rt.method, rt.path);
    return write_error(conn, seq, ctx, rt);
  }
  call->task = nb::steal(task);
  conn.retain();
  asgi_calls.emplace(call, self);
  if (task_done(call->task)) return on_asgi_done(call);  // answered within its first step (eager start)
  conn.defer(seq, call);
  nb::object done = self.attr("_done");
  PyObject* r = PyObject_CallMethodOneArg(call->task.ptr(), globals().s_add_done_callback.ptr(), done.ptr());
  if (!r) {
    log_current_exception("Cannot watch the ASGI application's task", rt.method, rt.path);
    return;
  }
  Py_DECREF(r);
}

nb::object Engine::asgi_receive(AsgiCall& c) {
  // As uvicorn does: once the response is complete or the client has left, the body no longer matters.
  if (c.disconnected || c.state == AsgiCall::State::kDone) return done_future(event("http.disconnect"));
  if (!c.body_given) {
    c.body_given = true;
    nb::dict d;
    d["type"] = "http.request";
    d["body"] = as_bytes(c.body);
    d["more_body"] = false;
    std::string().swap(c.body);
    return done_future(d);
  }
  if (!c.receiver) c.receiver = aio_loop.attr("create_future")();
  return c.receiver;  // http.disconnect once the response is complete or the client leaves
}

nb::object Engine::asgi_send(AsgiCall& c, nb::handle message) {
  using State = AsgiCall::State;
  if (!PyDict_Check(message.ptr())) throw nb::type_error("an ASGI message is a dict with a 'type'");
  PyObject* type_obj = PyDict_GetItemString(message.ptr(), "type");
  if (!type_obj || !PyUnicode_Check(type_obj)) throw nb::type_error("an ASGI message is a dict with a 'type'");
  std::string type = nb::cast<std::string>(nb::handle(type_obj));
  if (c.disconnected || !c.conn || c.conn->closed()) {
    PyErr_SetString(client_disconnected.ptr(), "the client disconnected");
    throw nb::python_error();
  }
  if (type == "http.response.start") {
    if (c.state != State::kStart) throw std::runtime_error("http.response.start was sent already");
    PyObject* status = PyDict_GetItemString(message.ptr(), "status");
    if (!status || !PyLong_Check(status)) throw nb::type_error("http.response.start needs an int 'status'");
    long code = PyLong_AsLong(status);
    if (code < 100 || code > 999) throw nb::value_error("the status must be from 100 to 999");
    c.status = static_cast<int>(code);
    if (PyObject* headers = PyDict_GetItemString(message.ptr(), "headers"); headers && headers != Py_None) {
      for (nb::handle pair : nb::iter(nb::handle(headers))) {
        if (nb::len(pair) != 2) throw nb::value_error("each header is a (name, value) pair of bytes");
        std::string name = bytes_of(pair[0], "a header name"), value = bytes_of(pair[1], "a header value");
        if (!is_header_name(name) || !is_header_value(value))
          throw nb::value_error(("invalid header " + name + ": it could split the response").c_str());
        if (ascii_iequal(name, "transfer-encoding")) continue;  // the server frames the body (ASGI: ignored)
        if (ascii_iequal(name, "content-length")) {
          c.length = std::strtoull(value.c_str(), nullptr, 10);
          continue;  // the connection writes its own, from the length given to it
        }
        c.fields.append(name).append(": ").append(value).append("\r\n");
      }
    }
    c.state = State::kHead;
    return done_future(nb::none());
  }
  if (type != "http.response.body") throw nb::value_error(("unknown ASGI message type '" + type + "' on HTTP").c_str());
  if (c.state == State::kStart) throw std::runtime_error("http.response.start must come before http.response.body");
  if (c.state == State::kDone) throw std::runtime_error("the response is complete: nothing may be sent after it");
  std::string body;
  if (PyObject* b = PyDict_GetItemString(message.ptr(), "body"); b && b != Py_None) body = bytes_of(b, "the body");
  PyObject* more_obj = PyDict_GetItemString(message.ptr(), "more_body");
  bool more = more_obj && PyObject_IsTrue(more_obj) == 1;
  const Route& rt = route_info[c.route_id];
  if (c.state == State::kHead) {
    ResponseHead head{c.status, std::move(c.fields)};
    finish_fields(head.fields, rt, c.ctx, nb::handle());
    if (!more) {
      uint64_t length = c.length == Responder::kUnknownLength ? Responder::kBodySize : c.length;
      c.conn->respond(c.seq, head, body, c.ctx, c.ctx.head_request ? length : Responder::kBodySize);
      c.state = State::kDone;
      settle(c.receiver, event("http.disconnect"));
      c.receiver.reset();
      return done_future(nb::none());
    }
    c.state = c.conn->stream_begin(c.seq, head, c.ctx, c.length, &c) ? State::kStreaming : State::kBodiless;
  }
  if (c.state == State::kBodiless) {
    if (!more) c.state = State::kDone;
    return done_future(nb::none());
  }
  c.sent += body.size();
  if (c.length != Responder::kUnknownLength && c.sent > c.length) {
    c.conn->stream_end(c.seq, /*abort=*/true);  // the bytes framed by the app's Content-Length are all out
    c.state = State::kDone;
    throw std::runtime_error("the response body is longer than its Content-Length");
  }
  c.conn->stream_write(c.seq, body);
  if (!more) {
    c.conn->stream_end(c.seq, c.length != Responder::kUnknownLength && c.sent < c.length);  // short: cut
    c.state = State::kDone;
    settle(c.receiver, event("http.disconnect"));
    c.receiver.reset();
    return done_future(nb::none());
  }
  c.conn->flush_output();
  if (c.conn->stream_writable(c.seq)) return done_future(nb::none());
  c.sender = aio_loop.attr("create_future")();  // resolved by on_writable(), once the client has read
  return c.sender;
}

void Engine::asgi_writable(AsgiCall* call) noexcept {
  nb::object sender = std::move(call->sender);
  settle(sender, nb::none());
}

void Engine::asgi_disconnected(AsgiCall* call) noexcept {
  call->disconnected = true;
  try {
    settle(call->receiver, event("http.disconnect"));
    call->receiver.reset();
    if (call->sender) {
      nb::object exc = client_disconnected("the client disconnected");
      fail_future(call->sender, exc);
      call->sender.reset();
    }
  } catch (nb::python_error& e) {
    e.restore();
    PyErr_Clear();
  }
}

void Engine::on_asgi_done(AsgiCall* call) {
  using State = AsgiCall::State;
  auto it = asgi_calls.find(call);
  if (it == asgi_calls.end()) return;
  nb::object keep = std::move(it->second);
  asgi_calls.erase(it);
  const Route& rt = route_info[call->route_id];
  Responder* conn = call->conn;
  PyObject* r = task_result(call->task);
  if (!r) {
    // The send() that raised because the client left, or a cancellation at shutdown, is no error of the app's.
    bool gone = call->disconnected && client_disconnected && PyErr_ExceptionMatches(client_disconnected.ptr());
    if (gone || PyErr_ExceptionMatches(cancelled_error.ptr()))
      PyErr_Clear();
    else
      log_current_exception("Exception in ASGI application", rt.method, rt.path);
  } else {
    Py_DECREF(r);
  }
  if (!call->disconnected && !conn->closed()) {
    if (call->state == State::kStart || call->state == State::kHead) {
      if (r) log_message("The ASGI application for " + rt.method + " " + rt.path + " returned without a response");
      write_error(*conn, call->seq, call->ctx, rt);
    } else if (call->state == State::kStreaming || call->state == State::kBodiless) {
      if (r) log_message("The ASGI application for " + rt.method + " " + rt.path + " returned mid-response");
      if (call->state == State::kStreaming) conn->stream_end(call->seq, /*abort=*/true);
    }
  }
  call->state = State::kDone;
  asgi_disconnected(call);  // a receive() or send() still waiting ends now
  call->disconnected = false;
  call->engine = nullptr;
  call->conn = nullptr;
  call->task.reset();
  conn->release();
  if (loop && loop->dirty()) poll();
}

}  // namespace tiercel::py
