// MemoryReturn (src/core/memory_return.h) on a real libuv loop: a fall of the connection count to half its peak
// starts a series of returns (one kSettleMs later, then kFollowUps kEveryMs apart); a count that stays up, or rises
// again, starts none.
#include <gtest/gtest.h>
#include <uv.h>

#include "core/memory_return.h"

namespace tiercel {
namespace {

struct Loop {
  Loop() { uv_loop_init(&raw); }
  uv_loop_t raw;
};

class MemoryReturnTest : public ::testing::Test {
 protected:
  ~MemoryReturnTest() override {
    memory_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  /// Runs the loop for about `ms` milliseconds of its own time.
  void run_for(uint64_t ms) {
    uv_update_time(&loop_);
    uint64_t until = uv_now(&loop_) + ms;
    uv_timer_t stop;
    uv_timer_init(&loop_, &stop);
    uv_timer_start(&stop, [](uv_timer_t*) {}, ms, 0);
    while (uv_now(&loop_) < until) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&stop), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  Loop holder_;  // initialised before memory_, which starts a timer on it
  uv_loop_t& loop_ = holder_.raw;
  MemoryReturn memory_{&holder_.raw};
};

TEST_F(MemoryReturnTest, NoFallNoReturn) {
  for (size_t n = 1; n <= 100; ++n) memory_.on_connections(n);
  memory_.on_connections(60);  // above half the peak
  run_for(MemoryReturn::kSettleMs + 100);
  EXPECT_EQ(memory_.returns(), 0u);
}

TEST_F(MemoryReturnTest, AFallToHalfReturnsAfterTheSettleThenFollowsUp) {
  for (size_t n = 1; n <= 100; ++n) memory_.on_connections(n);
  for (size_t n = 100; n-- > 10;) memory_.on_connections(n);  // the burst ends: 50 starts the series
  run_for(MemoryReturn::kSettleMs / 2);
  EXPECT_EQ(memory_.returns(), 0u);  // not while the rest of the burst may still be closing
  run_for(MemoryReturn::kSettleMs);
  EXPECT_EQ(memory_.returns(), 1u);
  run_for(MemoryReturn::kFollowUps * MemoryReturn::kEveryMs + 200);
  EXPECT_EQ(memory_.returns(), 1u + MemoryReturn::kFollowUps);
  run_for(MemoryReturn::kEveryMs + 100);
  EXPECT_EQ(memory_.returns(), 1u + MemoryReturn::kFollowUps);  // the series is over
}

TEST_F(MemoryReturnTest, ANewBurstEndsTheFollowUps) {
  for (size_t n = 1; n <= 100; ++n) memory_.on_connections(n);
  memory_.on_connections(0);
  run_for(MemoryReturn::kSettleMs + 100);
  EXPECT_EQ(memory_.returns(), 1u);
  memory_.on_connections(50);  // busy again: the next return waits for this burst's own fall
  run_for(2 * MemoryReturn::kEveryMs + 100);
  EXPECT_EQ(memory_.returns(), 2u);  // the follow-up already due, then no more
  memory_.on_connections(20);        // fell to under half of 50
  run_for(MemoryReturn::kSettleMs + 100);
  EXPECT_EQ(memory_.returns(), 3u);
}

}  // namespace
}  // namespace tiercel
