// One HTTP/1.1 connection over memory instead of a socket (DESIGN §3: one pipeline, two transports): an
// Http1Connection over a MemoryTransport, its input delivered the way TcpConnection delivers a socket's (reads of a
// bounded size, from a buffer of the connection's while the connection holds no input, none while reading is paused,
// none once the server closed). The TestClient drives the server's own connections, routing and dispatch through it,
// byte for byte; the native tests and the fuzzers drive the same class, playing the event loop themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/http1_connection.h"
#include "core/memory_transport.h"

namespace tiercel {

/// Who plays the event loop's part for a memory connection.
enum class MemoryLoop : uint8_t {
  /// Nobody (the TestClient): input that waited is read as soon as reading resumes, and the clock is the system's,
  /// read before each batch of input.
  kImmediate,
  /// The caller (native tests, fuzzers): input that waited is read at pump(), as a loop's next turn would, and the
  /// clock is the ConnectionEnv's, moved by advance_to().
  kStepped,
};

class MemoryConnection {
 public:
  static constexpr size_t kReadSize = 16 * 1024;     ///< what one read delivers at most, unless set_read_size()
  static constexpr size_t kLoopBuffer = 64 * 1024;   ///< TcpConnection's wire buffer: a borrowed read's ceiling

  /// `env` must outlive the connection and its connection (whose deferred answers may finish after it closed).
  MemoryConnection(ConnectionEnv& env, std::string peer_ip, MemoryLoop loop = MemoryLoop::kImmediate);
  /// Closes the connection if the peer has not (pending answers are cancelled).
  ~MemoryConnection();
  MemoryConnection(const MemoryConnection&) = delete;
  MemoryConnection& operator=(const MemoryConnection&) = delete;

  // --- the peer ---
  /// Bytes from the peer: handed to the connection while it reads, queued while it has paused reading. Ignored once
  /// the peer has closed or finished sending.
  void feed(std::string_view bytes);
  /// Takes what the server has sent so far.
  std::string take_output() { return transport_.take_sent(); }
  /// The server asked to close (after what it sent), or the peer closed.
  bool closed() const noexcept { return transport_.close_requested() || peer_closed_; }
  /// The peer closes the connection: the connection stops, pending answers are cancelled, the connection's last
  /// reference from the transport goes (on_transport_closed() then release(), as TcpConnection's on_close).
  /// Idempotent.
  void disconnect();
  /// The peer finished sending (half-close): the connection asks to close, after what it has sent (unless the server
  /// asked to close first).
  void eof();
  /// The peer read `n` of the bytes a slow peer left unsent (see MemoryTransport::set_slow); once all are read the
  /// connection is told on_drained(), unless the server asked to close.
  void drain(size_t n = SIZE_MAX);
  /// Called whenever the server sends bytes or asks to close (the client's wake-up).
  void set_on_output(std::function<void()> fn) { transport_.set_on_output(std::move(fn)); }

  // --- the loop ---
  /// Delivers queued input while the connection reads (MemoryLoop::kStepped: after a resume, as the loop's next
  /// turn would).
  void pump();
  /// Sets the loop time to `now_ms` and runs on_timeout() when the connection's deadline has passed; true if it ran.
  bool advance_to(uint64_t now_ms);

  // --- how reads are made (each as TcpConnection can make them) ---
  /// Bytes one read delivers at most (at least 1).
  void set_read_size(size_t n) noexcept { read_size_ = n == 0 ? 1 : n; }
  /// The size read_space() is asked for when the connection reads into its own buffer (TcpConnection: 16 KiB).
  void set_min_free(size_t n) noexcept { min_free_ = n; }
  /// Whether a connection that holds no input reads from a buffer of the connection's (on_read_borrowed, as
  /// TcpConnection does: the default) or always into read_space().
  void set_borrowing(bool on) noexcept { borrowing_ = on; }

  // --- what a test looks at ---
  /// The live connection; null once the transport closed (the connection may already be freed).
  Http1Connection* http1() noexcept { return http1_; }
  MemoryTransport& transport() noexcept { return transport_; }
  const MemoryTransport& transport() const noexcept { return transport_; }
  ConnectionEnv& env() noexcept { return env_; }
  /// Input fed and not delivered yet (it waits, as in the kernel, while reading is paused).
  std::string_view backlog() const noexcept { return std::string_view(backlog_).substr(backlog_pos_); }
  /// Bytes delivered to the connection so far.
  uint64_t delivered_bytes() const noexcept { return delivered_; }
  bool eof_sent() const noexcept { return eof_; }

 private:
  bool can_read() const noexcept;
  void refresh_clock();

  ConnectionEnv& env_;
  MemoryTransport transport_;
  Http1Connection* http1_ = nullptr;
  std::string backlog_;      // input fed; [backlog_pos_, end) waits to be delivered
  size_t backlog_pos_ = 0;
  uint64_t delivered_ = 0;
  size_t read_size_ = kReadSize;
  size_t min_free_ = 16 * 1024;
  MemoryLoop loop_;
  bool borrowing_ = true;
  bool pumping_ = false;
  bool eof_ = false;
  bool peer_closed_ = false;
};

}  // namespace tiercel
