// A hooked route's stages (authentication, before hooks, handler, after hooks) and what an exception in one of
// them becomes: the app's exception handler, an HTTPException's own answer, or a 500.
#include "bindings/engine/engine.h"

namespace tiercel::py {

void Engine::run_stages(std::unique_ptr<Pending> p) {
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
  write_result(*p->conn, p->seq, p->ctx, p->response, rt, p->request);
}

bool Engine::take_stage_result(Pending& p, const Route& rt, nb::handle result, bool is_answer) {
  const size_t before = rt.before.size(), stage = p.stage;
  if (p.stage < before) {
    if (is_answer) {
      // an exception handler answered for this before stage
    } else if (stage == 0 && rt.authenticated()) {
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
    write_error(*p.conn, p.seq, p.ctx, rt);
    queue_tasks(take_tasks(p.request), rt);
    return false;
  }
  p.response = std::move(response);
  return true;
}

std::string Engine::stage_name(const Route& rt, size_t stage) {
  const size_t before = rt.before.size();
  if (stage == 0 && rt.authenticated()) return "authentication handler";
  if (stage < before) return "before-request hook";
  if (stage == before) return "handler";
  return "after-request hook";
}

void Engine::fail(std::unique_ptr<Pending> p, const Route& rt, const std::string& what) {
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

void Engine::resume_with(std::unique_ptr<Pending> p, const Route& rt, nb::handle result, bool is_answer) {
  bool go_on;
  {
    ContextScope scope(p->context.ptr());
    go_on = take_stage_result(*p, rt, result, is_answer);
  }
  if (go_on) run_stages(std::move(p));
}

const Engine::Callee* Engine::find_error_handler(nb::handle exc) {
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

nb::object Engine::http_exception_result(nb::handle exc) {
  try {
    nb::object status = exc.attr("status_code");
    return nb::make_tuple(exc.attr("detail"), status, exc.attr("headers"));
  } catch (nb::python_error& e) {
    e.restore();
    return {};
  }
}

void Engine::unhandled(Pending& p, const Route& rt, const std::string& what, nb::handle exc) {
  log_exception(what, rt.method, rt.path, exc);
  queue_tasks(take_tasks(p.request), rt);  // a later stage failed, not the handler: its tasks still run
  if (dev && exc && format_exception) {
    try {
      nb::object lines = format_exception(exc);
      std::string text = nb::cast<std::string>(nb::str("").attr("join")(lines));
      p.conn->respond_text(p.seq, 500, text, p.ctx, error_lines(rt, p.ctx));
      return;
    } catch (nb::python_error&) {
      PyErr_Clear();
    }
  }
  write_error(*p.conn, p.seq, p.ctx, rt);
}

}  // namespace tiercel::py
