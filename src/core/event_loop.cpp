// The embedded libuv loop: see event_loop.h.
#include "core/event_loop.h"

namespace tiercel {

EventLoop::EventLoop() { uv_loop_init(&loop_); }

EventLoop::~EventLoop() {
  close_all_handles();
  uv_loop_close(&loop_);
}

int EventLoop::run_nowait() {
  if (running_) return -2;
  struct Running {
    bool& flag;
    explicit Running(bool& f) : flag(f) { flag = true; }
    ~Running() { flag = false; }
  } running(running_);
  for (int i = 0; i < 8; ++i) {
    dirty_ = false;
    uv_run(&loop_, UV_RUN_NOWAIT);
    if (!uv_loop_alive(&loop_)) return -1;
    int t = uv_backend_timeout(&loop_);
    if (t != 0 && !dirty_) return t;
  }
  return 0;
}

void EventLoop::close_all_handles() {
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

}  // namespace tiercel
