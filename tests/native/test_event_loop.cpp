// GoogleTest suite for EventLoop (core/event_loop.h), the libuv loop embedded in the host's loop: the host waits on
// backend_fd() for at most what run_nowait() returned, as asyncio does. Timers fire in order, the returned timeout,
// runs that do not nest, the dirty flag's extra pass, closing every handle, and the loop's own read buffers.
#include "core/event_loop.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <vector>

namespace tiercel {
namespace {

/// What the host does: waits on the backend fd for at most `timeout_ms` (-1: none is due), then runs the loop.
int host_turn(EventLoop& loop, int timeout_ms) {
  pollfd p{loop.backend_fd(), POLLIN, 0};
  poll(&p, 1, timeout_ms < 0 ? 1000 : timeout_ms);
  return loop.run_nowait();
}

struct Timer {
  uv_timer_t handle;
  int id;
  std::vector<int>* fired;
};

TEST(EventLoop, TimersFireInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> fired;
  Timer timers[3] = {{{}, 30, &fired}, {{}, 10, &fired}, {{}, 20, &fired}};
  for (Timer& t : timers) {
    uv_timer_init(loop.raw(), &t.handle);
    t.handle.data = &t;
    uv_timer_start(
        &t.handle, [](uv_timer_t* h) {
          auto* self = static_cast<Timer*>(h->data);
          self->fired->push_back(self->id);
        },
        static_cast<uint64_t>(t.id), 0);
  }
  int timeout = loop.run_nowait();
  EXPECT_GT(timeout, 0) << "nothing is due yet";
  EXPECT_LE(timeout, 10) << "the host is woken for the earliest timer";
  EXPECT_TRUE(fired.empty());
  auto start = std::chrono::steady_clock::now();
  while (fired.size() < 3 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    timeout = host_turn(loop, timeout);
  }
  EXPECT_EQ(fired, (std::vector<int>{10, 20, 30}));
  EXPECT_EQ(timeout, -1) << "no timer left, and no other handle is active";
}

TEST(EventLoop, EmptyLoopReportsNoTimeout) {
  EventLoop loop;
  EXPECT_EQ(loop.run_nowait(), -1);
  EXPECT_FALSE(loop.running());
  EXPECT_GE(loop.backend_fd(), 0);
}

TEST(EventLoop, RunsDoNotNest) {
  struct State {
    EventLoop* loop;
    int inner = 0;
    bool running_inside = false;
  } state;
  EventLoop loop;
  state.loop = &loop;
  uv_timer_t timer;
  uv_timer_init(loop.raw(), &timer);
  timer.data = &state;
  uv_timer_start(
      &timer, [](uv_timer_t* h) {
        auto* s = static_cast<State*>(h->data);
        s->running_inside = s->loop->running();
        s->inner = s->loop->run_nowait();  // from inside a run: does nothing
      },
      0, 0);
  loop.run_nowait();
  EXPECT_TRUE(state.running_inside);
  EXPECT_EQ(state.inner, -2);
  EXPECT_FALSE(loop.running());
}

/// Counts the loop's passes (a prepare handle runs once per pass) and marks the loop dirty on the passes asked.
struct PassCounter {
  uv_prepare_t handle;
  EventLoop* loop;
  int passes = 0;
  int dirty_until = 0;  // passes on which the callback marks the loop dirty
};

void count_passes(EventLoop& loop, PassCounter& c) {
  c.loop = &loop;
  uv_prepare_init(loop.raw(), &c.handle);
  c.handle.data = &c;
  uv_prepare_start(&c.handle, [](uv_prepare_t* h) {
    auto* self = static_cast<PassCounter*>(h->data);
    if (++self->passes <= self->dirty_until) self->loop->mark_dirty();
  });
}

TEST(EventLoop, DirtyFlagAsksForAnotherPass) {
  EventLoop loop;
  PassCounter c;
  count_passes(loop, c);
  loop.run_nowait();
  EXPECT_EQ(c.passes, 1) << "a clean run makes one pass";
  c.passes = 0;
  c.dirty_until = 1;  // a watcher started during the first pass
  loop.run_nowait();
  EXPECT_EQ(c.passes, 2) << "a dirty loop is run again before the host waits";
  EXPECT_FALSE(loop.dirty());
}

TEST(EventLoop, AlwaysDirtyIsBoundedAndAsksToBeCalledSoon) {
  EventLoop loop;
  PassCounter c;
  c.dirty_until = 1'000'000;
  count_passes(loop, c);
  EXPECT_EQ(loop.run_nowait(), 0) << "still dirty: call again soon";
  EXPECT_EQ(c.passes, 8);
}

TEST(EventLoop, BackendFdWakesTheHostForIo) {
  EventLoop loop;
  struct State {
    uv_async_t async;
    int calls = 0;
  } state;
  uv_async_init(loop.raw(), &state.async, [](uv_async_t* h) { ++static_cast<State*>(h->data)->calls; });
  state.async.data = &state;
  loop.run_nowait();  // arms the watcher
  pollfd p{loop.backend_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "nothing to do: the fd is quiet";
  uv_async_send(&state.async);
  EXPECT_EQ(poll(&p, 1, 1000), 1) << "I/O for the loop makes the backend fd readable";
  loop.run_nowait();
  EXPECT_EQ(state.calls, 1);
}

TEST(EventLoop, CloseAllHandlesLeavesNothingAlive) {
  EventLoop loop;
  uv_timer_t a, b;
  uv_timer_init(loop.raw(), &a);
  uv_timer_init(loop.raw(), &b);
  uv_timer_start(&a, [](uv_timer_t*) {}, 60'000, 0);
  uv_timer_start(&b, [](uv_timer_t*) {}, 60'000, 1000);
  EXPECT_GT(loop.run_nowait(), 0);
  loop.close_all_handles();
  EXPECT_FALSE(uv_loop_alive(loop.raw()));
  EXPECT_EQ(loop.run_nowait(), -1);
}

TEST(EventLoop, BuffersBelongToTheLoop) {
  EventLoop one, two;
  LoopBuffers& a = one.buffers();
  EXPECT_EQ(&a, &one.buffers()) << "the same buffers for every connection of a loop";
  EXPECT_NE(&a, &two.buffers()) << "not shared between loops";
  EXPECT_EQ(sizeof a.wire, 64u * 1024);
  EXPECT_EQ(sizeof a.plain, 64u * 1024);
  a.wire[sizeof a.wire - 1] = 'w';  // whole and writable (the sanitizer checks the bounds)
  a.plain[sizeof a.plain - 1] = 'p';
  a.discard[sizeof a.discard - 1] = 'd';
  EXPECT_EQ(a.wire[sizeof a.wire - 1], 'w');
}

}  // namespace
}  // namespace tiercel
