// Background tasks: work a handler queues with `tasks.add_task(fn, *args, **kwargs)` to run once its answer is
// written, as in Starlette/FastAPI. Sync functions run in the engine's thread pool, async ones as Tasks on the loop;
// one request's tasks run one after another, in the order they were added. All native: no framework Python runs.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "bindings/py_types.h"

namespace tiercel::py {

class Telemetry;

/// Python `BackgroundTasks`: the tasks one request queued, in order (a handler parameter annotated
/// `BackgroundTasks`, made per request on first use).
class BackgroundTasks {
 public:
  struct Task {
    nb::object fn;
    nb::object args;    // a tuple
    nb::object kwargs;  // a dict, or null
    bool is_async = false;
  };
  std::vector<Task> tasks;
  bool taken = false;  // the engine took the tasks to run them: add_task now would queue into nothing
};

struct BackgroundRun;

/// Runs the tasks of answered requests and keeps count of them: queued, done, failed, abandoned (the metrics).
/// A failing task is logged with its traceback and changes nothing else. What is unfinished at shutdown is logged
/// as abandoned, one warning per task naming its function.
class BackgroundRunner {
 public:
  BackgroundRunner() = default;
  BackgroundRunner(const BackgroundRunner&) = delete;
  BackgroundRunner& operator=(const BackgroundRunner&) = delete;
  ~BackgroundRunner();

  /// The asyncio loop (attach) and the thread pool's submit and asyncio.wrap_future (set_executor).
  nb::object loop, call_soon, submit, wrap_future;
  /// Where the counters go (when metrics are on).
  Telemetry* telemetry = nullptr;

  /// Takes the tasks of `tasks` (a BackgroundTasks; nothing when it has none): they start on the loop's next turn,
  /// after the answer to `method` `path` (named in their logs) went out.
  void queue(nb::handle tasks, std::string_view method, std::string_view path);
  /// Tasks queued and not finished yet.
  size_t unfinished() const noexcept { return unfinished_; }
  /// An asyncio Future done once no task is unfinished (done already when none is).
  nb::object idle();
  /// Logs (one warning per task, naming its function, saying `why`) and counts every unfinished task as abandoned;
  /// cancels the running ones that can be (a function running in a thread finishes on its own). The number.
  size_t abandon(const std::string& why);

  /// A step of `run`: `future` (the previous task's, or null for the first) is over; the next task starts.
  void step(const std::shared_ptr<BackgroundRun>& run, nb::handle future);

 private:
  /// The outcome of `future` (the task `run` is running): counted, and logged when it failed.
  void finish(BackgroundRun& run, nb::handle future);
  void count(int which, uint64_t n = 1) noexcept;
  void wake_idle();

  std::unordered_set<std::shared_ptr<BackgroundRun>> runs_;
  size_t unfinished_ = 0;
  std::vector<nb::object> idle_waiters_;
};

/// Drops the tasks of `tasks` (a BackgroundTasks) unrun: its handler raised or was cancelled (as in FastAPI).
void discard_background_tasks(nb::handle tasks);

/// The BackgroundTasks of a request as a handler argument: `slot` (the request's), made on first use.
nb::object background_tasks_argument(nb::object& slot);

void bind_background_tasks(nb::module_& m);

}  // namespace tiercel::py
