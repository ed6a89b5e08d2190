// Gives the memory a burst used back to the system once the burst is over.
//
// glibc's malloc keeps what a burst's connections freed (their buffers, the answers they were writing, HTTP/2
// streams) for reuse: without help RSS stays at the burst's peak until the process exits. When a server's
// connection count has fallen to half its peak since the last return (or to none), malloc_trim() hands the free
// pages back (the top of the heap, and whole free pages inside every arena): kSettleMs later, so that the rest of
// the burst closes first, then again kFollowUps times kEveryMs apart while the count stays down, since what the
// connections' work held is freed a little after they close (cancelled handlers and generators, the thread pool's
// jobs). A trim costs tens of microseconds on a quiet heap.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace tiercel {

class MemoryReturn {
 public:
  static constexpr uint64_t kSettleMs = 250;  // after the fall, so that the rest of a burst closes first
  static constexpr uint64_t kEveryMs = 1000;
  static constexpr int kFollowUps = 3;

  explicit MemoryReturn(uv_loop_t* loop);
  MemoryReturn(const MemoryReturn&) = delete;
  MemoryReturn& operator=(const MemoryReturn&) = delete;
  /// Closes the timer: call it before the loop's last runs (the handle lives in this object).
  void close();
  /// The server's connection count is now `count`.
  void on_connections(size_t count);
  /// Times memory was given back.
  uint64_t returns() const noexcept { return returns_; }

 private:
  static void on_timer(uv_timer_t* t);

  uv_timer_t timer_;
  size_t count_ = 0;
  size_t peak_ = 0;  // the highest count since the last return
  size_t fallen_to_ = 0;  // the count that started the current series of returns
  int left_ = 0;          // returns still to come in it (0: none scheduled)
  uint64_t returns_ = 0;
};

}  // namespace tiercel
