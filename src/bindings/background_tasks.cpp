// Background tasks: queued by handlers, run by the engine once the answer is out, counted, abandoned by name.
#include "bindings/background_tasks.h"

#include <stdexcept>

#include "bindings/telemetry.h"

namespace tiercel::py {

/// One answered request's tasks, run in order. Held by the runner while it runs, and by each callback the loop
/// holds for it, so a callback that comes after the runner let it go (shutdown) finds it still there.
struct BackgroundRun {
  BackgroundRunner* runner = nullptr;  // null once abandoned
  std::vector<BackgroundTasks::Task> tasks;
  size_t next = 0;     // the next task to start; tasks[next - 1] is running while `current` is set
  nb::object current;  // its asyncio Future or Task
  std::string where;   // "POST /items": the request whose answer they follow
};

namespace {

/// The loop's callback for a run: its start (call_soon), then each task's done-callback.
struct BackgroundStep {
  std::shared_ptr<BackgroundRun> run;
};

nb::object& is_coroutine_function() {
  static nb::object* f = new nb::object();  // leaked: interpreter teardown order is not ours
  return *f;
}

/// Starlette's rule: an async function, a partial of one, or an object whose __call__ is one.
bool is_async_callable(nb::handle fn) {
  nb::object& check = is_coroutine_function();
  if (nb::cast<bool>(check(fn))) return true;
  if (PyFunction_Check(fn.ptr()) || PyMethod_Check(fn.ptr())) return false;
  nb::object call = nb::getattr(fn, "__call__", nb::none());
  return !call.is_none() && nb::cast<bool>(check(call));
}

/// "module.qualname" of a task's function (what the logs name it by), or its repr.
std::string task_name(nb::handle fn) {
  try {
    nb::object qualname = nb::getattr(fn, "__qualname__", nb::none());
    nb::object module = nb::getattr(fn, "__module__", nb::none());
    if (nb::isinstance<nb::str>(qualname)) {
      std::string name = nb::cast<std::string>(qualname);
      return nb::isinstance<nb::str>(module) ? nb::cast<std::string>(module) + "." + name : name;
    }
    return nb::cast<std::string>(nb::repr(fn));
  } catch (nb::python_error&) {
    PyErr_Clear();
    return "<a task whose name cannot be read>";
  }
}

void log(const char* level, const std::string& msg, nb::handle exc = nb::handle()) {
  try {
    if (exc)
      globals().logger.attr(level)(nb::str(msg.c_str(), msg.size()), nb::arg("exc_info") = exc);
    else
      globals().logger.attr(level)(nb::str(msg.c_str(), msg.size()));
  } catch (...) {
    PyErr_Clear();
  }
}


/// Starts task `t`: its asyncio Future (a Task, or the thread's wrapped future), or null with the error set.
nb::object start_task(BackgroundRunner& r, const BackgroundTasks::Task& t) {
  PyObject* kwargs = t.kwargs ? t.kwargs.ptr() : nullptr;
  try {
    if (t.is_async) {
      PyObject* coro = PyObject_Call(t.fn.ptr(), t.args.ptr(), kwargs);
      if (!coro) return {};
      return globals().task_type(nb::steal(coro), nb::arg("loop") = r.loop);
    }
    // executor.submit(fn, *args, **kwargs), wrapped for the loop.
    Py_ssize_t n = PyTuple_GET_SIZE(t.args.ptr());
    nb::object call = nb::steal(PyTuple_New(n + 1));
    PyTuple_SET_ITEM(call.ptr(), 0, t.fn.inc_ref().ptr());
    for (Py_ssize_t i = 0; i < n; ++i)
      PyTuple_SET_ITEM(call.ptr(), i + 1, nb::borrow(PyTuple_GET_ITEM(t.args.ptr(), i)).release().ptr());
    PyObject* cf = PyObject_Call(r.submit.ptr(), call.ptr(), kwargs);
    if (!cf) return {};
    return r.wrap_future(nb::steal(cf), nb::arg("loop") = r.loop);
  } catch (nb::python_error& e) {
    e.restore();
    return {};
  }
}

}  // namespace

BackgroundRunner::~BackgroundRunner() {
  if (!runs_.empty()) abandon("the engine was destroyed");
}

void BackgroundRunner::count(int which, uint64_t n) noexcept {
  if (telemetry) telemetry->on_background(which, n);
}

void BackgroundRunner::queue(nb::handle tasks, std::string_view method, std::string_view path) {
  auto& bt = nb::cast<BackgroundTasks&>(tasks);
  if (bt.tasks.empty()) {
    bt.taken = true;
    return;
  }
  auto run = std::make_shared<BackgroundRun>();
  run->runner = this;
  run->tasks = std::move(bt.tasks);
  bt.tasks.clear();
  bt.taken = true;
  run->where.append(method).append(" ").append(path);
  unfinished_ += run->tasks.size();
  count(Telemetry::kTaskQueued, run->tasks.size());
  runs_.insert(run);
  // On the loop's next turn: the answer (written in this native run) is on its way first.
  PyObject* r = call_soon ? PyObject_CallOneArg(call_soon.ptr(), nb::cast(BackgroundStep{run}).ptr()) : nullptr;
  if (!r) {  // no running loop: the run waits for abandon() (shutdown), which names its tasks
    PyErr_Clear();
    return;
  }
  Py_DECREF(r);
}

void BackgroundRunner::step(const std::shared_ptr<BackgroundRun>& run, nb::handle future) {
  if (future) finish(*run, future);
  while (run->next < run->tasks.size()) {
    BackgroundTasks::Task& t = run->tasks[run->next++];
    nb::object started = submit || t.is_async ? start_task(*this, t) : nb::object();
    if (!started && !submit && !t.is_async && !PyErr_Occurred()) {
      // No thread pool (an engine built without one): the function runs here, on the loop.
      PyObject* res = PyObject_Call(t.fn.ptr(), t.args.ptr(), t.kwargs ? t.kwargs.ptr() : nullptr);
      if (res) {
        Py_DECREF(res);
        --unfinished_;
        count(Telemetry::kTaskDone);
        t = {};
        continue;
      }
    }
    if (started) {
      PyObject* r = PyObject_CallMethodOneArg(started.ptr(), globals().s_add_done_callback.ptr(),
                                              nb::cast(BackgroundStep{run}).ptr());
      if (r) {
        Py_DECREF(r);
        run->current = std::move(started);
        return;
      }
      // Cannot watch it: it runs on unwatched; counted as failed below, with the reason.
    }
    nb::object exc = fetch_exception();
    --unfinished_;
    count(Telemetry::kTaskFailed);
    log("error", "Background task " + task_name(t.fn) + " (after " + run->where + ") could not start", exc);
    t = {};
  }
  runs_.erase(run);
  if (unfinished_ == 0) wake_idle();
}

void BackgroundRunner::finish(BackgroundRun& run, nb::handle future) {
  BackgroundTasks::Task& t = run.tasks[run.next - 1];
  run.current.reset();
  --unfinished_;
  nb::object exc;
  bool cancelled = false;
  try {
    cancelled = nb::cast<bool>(future.attr("cancelled")());
    if (!cancelled) exc = future.attr("exception")();
  } catch (nb::python_error& e) {
    exc = nb::borrow(e.value());
  }
  if (cancelled) {
    count(Telemetry::kTaskFailed);
    log("error", "Background task " + task_name(t.fn) + " (after " + run.where + ") was cancelled");
  } else if (exc && !exc.is_none()) {
    count(Telemetry::kTaskFailed);
    log("error", "Background task " + task_name(t.fn) + " (after " + run.where + ") failed", exc);
  } else {
    count(Telemetry::kTaskDone);
  }
  t = {};  // its function and arguments go now, not when the request's last task ends
}

nb::object BackgroundRunner::idle() {
  if (!loop) throw std::runtime_error("the engine is not attached to an event loop");
  nb::object f = loop.attr("create_future")();
  if (unfinished_ == 0)
    f.attr("set_result")(nb::none());
  else
    idle_waiters_.push_back(f);
  return f;
}

void BackgroundRunner::wake_idle() {
  std::vector<nb::object> waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& f : waiters) {
    try {
      if (!nb::cast<bool>(f.attr("done")())) f.attr("set_result")(nb::none());
    } catch (nb::python_error&) {
      PyErr_Clear();  // its loop is closed: nobody waits on it any more
    }
  }
}

size_t BackgroundRunner::abandon(const std::string& why) {
  size_t n = 0;
  auto runs = std::move(runs_);
  runs_.clear();
  for (const auto& run : runs) {
    run->runner = nullptr;
    size_t first = run->current ? run->next - 1 : run->next;
    for (size_t i = first; i < run->tasks.size(); ++i, ++n)
      log("warning", "Background task " + task_name(run->tasks[i].fn) + " (after " + run->where + ") abandoned: " +
                         why);
    if (run->current) {
      PyObject* r = PyObject_CallMethodNoArgs(run->current.ptr(), globals().s_cancel.ptr());
      Py_XDECREF(r);
      PyErr_Clear();
    }
    run->tasks.clear();
  }
  unfinished_ = 0;
  count(Telemetry::kTaskAbandoned, n);
  wake_idle();
  return n;
}

void discard_background_tasks(nb::handle tasks) {
  // Not `taken`: a blocking handler cancelled because its client left goes on in its thread, and its add_task
  // must not raise into code that still has work to do (the request's tasks are dropped all the same).
  nb::cast<BackgroundTasks&>(tasks).tasks.clear();
}

nb::object background_tasks_argument(nb::object& slot) {
  if (!slot) slot = nb::cast(BackgroundTasks());
  return slot;
}

void bind_background_tasks(nb::module_& m) {
  is_coroutine_function() = nb::module_::import_("inspect").attr("iscoroutinefunction");

  nb::class_<BackgroundStep>(m, "_BackgroundStep")
      .def(
          "__call__",
          [](BackgroundStep& s, nb::handle future) {
            std::shared_ptr<BackgroundRun> run = s.run;
            if (!run) return;
            if (run->runner) return run->runner->step(run, future.is_none() ? nb::handle() : future);
            // Abandoned (shutdown): its outcome is consumed, so asyncio does not warn it was never retrieved.
            if (!future.is_none()) {
              try {
                if (!nb::cast<bool>(future.attr("cancelled")())) future.attr("exception")();
              } catch (nb::python_error&) {
                PyErr_Clear();
              }
            }
          },
          nb::arg("future").none() = nb::none());

  nb::class_<BackgroundTasks>(
      m, "BackgroundTasks",
      "Work to do once the answer is written: declare a handler parameter `tasks: BackgroundTasks`, then\n"
      "`tasks.add_task(fn, *args, **kwargs)`. Sync functions run in the thread pool, async ones on the loop; one\n"
      "request's tasks run one after another, in order. A failing task is logged and changes nothing else.")
      .def(nb::init<>())
      .def(
          "add_task",
          [](BackgroundTasks& self, nb::object fn, nb::args args, nb::kwargs kwargs) {
            if (self.taken)
              throw std::runtime_error("add_task after the answer was written: the request's tasks are already "
                                       "running");
            if (!PyCallable_Check(fn.ptr())) throw nb::type_error("add_task needs a function (a callable)");
            bool is_async = is_async_callable(fn);
            self.tasks.push_back(
                BackgroundTasks::Task{std::move(fn), std::move(args), kwargs.size() ? nb::object(kwargs) : nb::object(),
                                      is_async});
          },
          nb::sig("def add_task(self, func: typing.Callable[..., object], /, *args: object, **kwargs: object) -> None"),
          "Runs func(*args, **kwargs) after the answer is written (awaited when func is async).")
      .def("__len__", [](const BackgroundTasks& self) { return self.tasks.size(); }, "The tasks queued so far.");
}

}  // namespace tiercel::py
