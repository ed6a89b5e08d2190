// The native loop embedded in the host's event loop (asyncio): libuv's backend fd, non-blocking runs, the next
// deadline, and the state every connection of the loop shares (its read buffers).
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <span>

namespace tiercel {

/// The loop's scratch buffers. Every connection of the loop reads into them, and a connection copies out only what it
/// must keep: an idle connection holds no read buffer. They belong to the loop, not the process (DESIGN §2: one loop
/// per thread stays possible).
struct LoopBuffers {
  /// Socket reads: TLS ciphertext (handed to OpenSSL at once), cleartext HTTP/2 (handed to nghttp2 at once) and
  /// HTTP/1.1, which the connection parses in place (see Http1Connection::on_read_borrowed).
  char wire[64 * 1024];
  /// TLS plaintext, decrypted for a protocol that takes its input from the loop's buffer.
  char plain[64 * 1024];
  /// Input of a closing connection, thrown away.
  char discard[16 * 1024];
};

/// A libuv loop embedded in another event loop: the host waits on backend_fd() and calls run_nowait().
class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* raw() noexcept { return &loop_; }
  /// The epoll/kqueue fd; readable when the native loop has I/O to process.
  int backend_fd() const noexcept { return uv_backend_fd(&loop_); }
  /// Runs ready callbacks without blocking, repeating while libuv has work it can do at once (new
  /// watchers are only armed inside a run, and deferred write/close callbacks need another pass).
  /// Returns the ms until the next timer (0: call again soon, -1: none).
  /// Does nothing when called from inside a run (a callback of this loop): libuv's runs do not nest, and the
  /// outer run goes on while the loop is dirty.
  int run_nowait();
  bool running() const noexcept { return running_; }
  uint64_t now_ms() const noexcept { return uv_now(&loop_); }
  /// Closes every handle and runs the loop until they are gone.
  void close_all_handles();
  /// A watcher was started outside libuv's poll phase: the next run must arm it before waiting.
  void mark_dirty() noexcept { dirty_ = true; }
  bool dirty() const noexcept { return dirty_; }
  /// The read buffers the loop's connections share.
  LoopBuffers& buffers() noexcept { return *buffers_; }

 private:
  uv_loop_t loop_;
  bool dirty_ = false;
  bool running_ = false;
  // Not value-initialised: pages nothing has read into yet cost no memory.
  std::unique_ptr<LoopBuffers> buffers_{new LoopBuffers};
};

}  // namespace tiercel
