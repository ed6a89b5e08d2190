// A StreamingResponse's sync iterator pulled in the blocking thread pool, its items handed to the loop as they come.
#pragma once

#include <deque>
#include <functional>
#include <string>

#include "bindings/py_types.h"

namespace tiercel::py {

/// Pulls a sync iterator (a generator that may call time.sleep) in a worker thread, so it never stalls the loop.
/// The worker turns each item into its bytes and wakes the loop at once (call_soon_threadsafe), so each item
/// reaches the socket when it is yielded; a fast generator fills the inbox while the loop sends, so its items still
/// leave many to a write. One job (`__call__`, submitted to the pool) pulls until the inbox holds inbox_limit
/// (kInboxBytes, or the stream's share of what its connection's write watermark leaves, so that the streams of an
/// HTTP/2 connection do not each fill an inbox), the iterator ends or fails, `stop` is set, or it has run kSliceSeconds: then it ends, so endless streams
/// share the pool's threads. The iterator runs in `context` (a copy of the request's contextvars.Context, as on the
/// loop), one job at a time. Every member is used with the GIL held: the GIL is the lock.
class SyncPull {
 public:
  static constexpr size_t kInboxBytes = 64 * 1024;
  static constexpr double kSliceSeconds = 0.005;

  SyncPull(nb::object iter, bool sse, nb::object context, nb::object call_soon_threadsafe)
      : iter(std::move(iter)),
        sse(sse),
        context(std::move(context)),
        call_soon_threadsafe_(std::move(call_soon_threadsafe)) {}

  /// One job, in the worker thread. Once `stop` is set, it closes the iterator there (its `finally` may block).
  void run();
  /// On the loop: the wake-up the worker asked for; runs on_wake.
  void woken();
  /// The stream is gone: no more wake-ups reach it, and a running job stops at its next item.
  void detach() {
    stop = true;
    on_wake = nullptr;
  }
  /// Restores the exception next() raised (for logging); false when the failure was a refused item.
  bool restore_error();

  nb::object iter;
  bool sse;
  nb::object context;  // the request's contextvars.Context (a copy), entered around each job
  std::function<void()> on_wake;  // the stream's: send what the inbox holds, submit the next job
  std::deque<std::string> inbox;  // bytes ready to send, one entry per item
  size_t inbox_bytes = 0;
  size_t inbox_limit = kInboxBytes;  // this job's: the stream's share of its connection's write budget
  bool running = false;   // a job is submitted or running
  bool ended = false;     // the iterator is exhausted
  bool failed = false;    // next() raised (`error`) or an item was refused (`message`)
  bool stop = false;      // the client left: the job ends before its next item
  nb::object error;
  std::string message;

 private:
  void notify();
  nb::object call_soon_threadsafe_;
  bool wake_pending_ = false;
};

}  // namespace tiercel::py
