// The Engine's dispatch: a routed request to its handler (by vectorcall, in a context of its own), async
// handlers run as eager Tasks, blocking ones in the pool, and a suspended request resumed when its Task is done.
#include "bindings/engine/engine.h"

namespace tiercel::py {

/// Calls `.cancel()` on a Task, Future or TimerHandle (when set), ignoring whatever it raises.
void cancel_handle(const nb::object& h) noexcept {
  if (!h) return;
  PyObject* r = PyObject_CallMethodNoArgs(h.ptr(), globals().s_cancel.ptr());
  Py_XDECREF(r);
  PyErr_Clear();
}

PyObject* Engine::submit_blocking(const Callee& h, nb::handle request, nb::handle context) {
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

void Engine::dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) {
  const Route& rt = route_info[req.route_id];
  ResponseContext ctx = req.ctx;
  if (cors) {
    const std::string_view* origin = find_header(req.head.headers, "origin");
    ctx.cors_origin = static_cast<int16_t>(origin ? cors->match(*origin) : CorsPolicy::kNoOrigin);
  }
  switch (rt.kind) {
    case RouteKind::kHandler:
      break;
    case RouteKind::kPreflight:
      return write_preflight(conn, seq, req.head, ctx, rt);
    case RouteKind::kStatic:
      return serve_static(conn, seq, req, ctx, rt);
    case RouteKind::kMetrics:
      return write_metrics(conn, seq, ctx);
    case RouteKind::kAsgi:
      return dispatch_asgi(conn, seq, req, ctx, rt);
    case RouteKind::kWebSocket: {
      if (!ws_host->disconnect) throw std::logic_error("websocket route without set_websocket");
      nb::object request = make_request(req);
      nb::inst_ptr<Request>(request)->detach();  // the connection's buffer is the frames' from now on
      if (sessions) nb::inst_ptr<Request>(request)->sessions = sessions;  // read at the upgrade, never saved
      return start_websocket(ws_host, rt.ws, conn, seq, req, ctx, std::move(request));
    }
  }
  nb::object request = make_request(req);
  if (req.body_streamed) attach_body_stream(request, conn);
  if (request_headers) nb::inst_ptr<Request>(request)->extra_headers = request_headers;
  if (sessions) nb::inst_ptr<Request>(request)->sessions = sessions;
  if (rt.hooked()) {
    auto p = std::make_unique<Pending>(this, &conn, seq, ctx, req.route_id);
    p->request = request;
    p->context = nb::steal(PyContext_CopyCurrent());
    run_stages(std::move(p));
  } else if (rt.const_result) {
    write_result(conn, seq, ctx, rt.const_result, rt, request);
  } else {
    // Each request runs in a context of its own: a ContextVar a handler sets must not reach the next request
    // (the asyncio reader callback that runs us keeps one context for every call). A Task copies it anyway.
    nb::object context = rt.handler.is_async ? nb::object() : nb::steal(PyContext_CopyCurrent());
    ContextScope scope(context.ptr());
    PyObject* res = rt.handler.blocking ? submit_blocking(rt.handler, request, nb::handle())
                                        : call_handler(rt.handler, request);
    if (!res) {
      fail(fresh_pending(conn, seq, ctx, req.route_id, request), rt, "Unhandled exception in handler");
    } else if (rt.handler.blocking) {
      suspend(fresh_pending(conn, seq, ctx, req.route_id, request), nb::steal(res));
    } else if (!rt.handler.is_async) {
      nb::object result = nb::steal(res);
      if (!shape(rt, result))
        fail(fresh_pending(conn, seq, ctx, req.route_id, request), rt, "Response model refused the handler's value");
      else
        write_result(conn, seq, ctx, result, rt, request);
    } else {
      run_coroutine(conn, seq, ctx, req.route_id, nb::steal(res), rt, request);
    }
  }
  // The handler (or a suspended coroutine) kept the request: it must stop pointing into the buffer.
  if (Py_REFCNT(request.ptr()) > 1) nb::inst_ptr<Request>(request)->detach();
}

PyObject* Engine::call_handler(const Callee& h, nb::handle request) {
  if (h.plan) return call_with_plan(h.fn, *h.plan, request, param_error);
  PyObject* args[2] = {nullptr, request.ptr()};
  return PyObject_Vectorcall(h.fn.ptr(), args + 1, static_cast<size_t>(h.nargs) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                             nullptr);
}

PyObject* Engine::make_task(nb::handle coro, nb::handle context) {
  auto& g = globals();
#if PY_VERSION_HEX >= 0x030C0000
  PyObject* args[5] = {nullptr, coro.ptr(), aio_loop.ptr(), Py_True, context.ptr()};
#else
  PyObject* args[4] = {nullptr, coro.ptr(), aio_loop.ptr(), context.ptr()};
#endif
  nb::handle kw = context ? g.kw_loop_context : g.kw_loop;
  return PyObject_Vectorcall(g.task_type.ptr(), args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, kw.ptr());
}

std::unique_ptr<Pending> Engine::fresh_pending(Responder& conn, uint64_t seq, const ResponseContext& ctx,
                                               uint32_t route_id, nb::handle request) {
  auto p = std::make_unique<Pending>(this, &conn, seq, ctx, route_id);
  p->request = nb::borrow(request);
  return p;
}

void Engine::run_coroutine(Responder& conn, uint64_t seq, const ResponseContext& ctx, uint32_t route_id,
                           nb::object coro, const Route& rt, nb::handle request) {
  PyObject* t = make_task(coro, nb::handle());
  if (!t) {
    fail(fresh_pending(conn, seq, ctx, route_id, request), rt,
         "Cannot start the handler's task (did the handler return a coroutine?)");
    return;
  }
  nb::object task = nb::steal(t);
  coro.reset();
  if (task_done(task)) {
    PyObject* r = task_result(task);
    if (!r) {
      fail(fresh_pending(conn, seq, ctx, route_id, request), rt, "Unhandled exception in handler");
      return;
    }
    nb::object result = nb::steal(r);
    if (!shape(rt, result))
      return fail(fresh_pending(conn, seq, ctx, route_id, request), rt,
                  "Response model refused the handler's value");
    write_result(conn, seq, ctx, result, rt, request);
    return;
  }
  suspend(fresh_pending(conn, seq, ctx, route_id, request), std::move(task));
}

void Engine::suspend(std::unique_ptr<Pending> owned, nb::object task) {
  Pending* p = owned.release();
  p->task = std::move(task);
  pending.insert(p);
  p->conn->retain();
  p->conn->defer(p->seq, p);
  nb::object cb = nb::cast(TaskDone{p});
  PyObject* r = PyObject_CallMethodOneArg(p->task.ptr(), globals().s_add_done_callback.ptr(), cb.ptr());
  if (!r) {
    const Route& rt = route_info[p->route_id];
    log_current_exception("Cannot watch the handler's task", rt.method, rt.path);
    return;
  }
  Py_DECREF(r);
}

bool Engine::task_done(nb::handle task) {
  PyObject* r = PyObject_CallMethodNoArgs(task.ptr(), globals().s_done.ptr());
  if (!r) {
    PyErr_Clear();
    return false;
  }
  bool done = r == Py_True;
  Py_DECREF(r);
  return done;
}

void Engine::on_task_done(Pending* p) {
  std::unique_ptr<Pending> owned(p);
  pending.erase(p);
  Responder* s = p->conn;
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

void Engine::cancel(void* token) noexcept {
  switch (static_cast<Token*>(token)->kind) {
    case Token::Kind::kPump:
      return cancel_stream(static_cast<ResponsePump*>(token));
    case Token::Kind::kAsgi:
      return asgi_disconnected(static_cast<AsgiCall*>(token));
    case Token::Kind::kPending:
      return cancel_handle(static_cast<Pending*>(token)->task);
  }
}

void Engine::on_writable(void* token) noexcept {
  if (static_cast<Token*>(token)->kind == Token::Kind::kAsgi) return asgi_writable(static_cast<AsgiCall*>(token));
  if (static_cast<Token*>(token)->kind != Token::Kind::kPump) return;
  auto* st = static_cast<ResponsePump*>(token);
  if (!busy(st) && !st->cancelled) pump(st);
}

}  // namespace tiercel::py
