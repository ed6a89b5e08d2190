// The libuv TCP listener: accepts connections (TcpConnection) up to max_connections, sweeps their deadlines, and
// shuts them down gracefully.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include "core/event_loop.h"
#include "core/http1_connection.h"
#include "core/memory_return.h"
#include "core/tls.h"

namespace tiercel {

class TcpConnection;

/// Listens on one socket and owns its connections; timeouts are checked by a sweep timer that runs only
/// while connections exist (an idle server has no timer and uses no CPU).
class TcpServer {
 public:
  TcpServer(EventLoop& loop, const ServerConfig& config, const RouteTable& routes, Dispatcher& dispatcher);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  /// Binds and listens; returns the bound port, or -1 with `error` filled.
  int listen(const std::string& host, int port, int backlog, bool reuse_port, std::string& error);
  /// Listens on an already bound socket (from a supervisor); returns 0 or -1 with `error`.
  int listen_fd(int fd, int backlog, std::string& error);
  /// Stops accepting new connections (the listening socket is closed). A connection held back at max_connections
  /// is taken in (one over the limit) to be answered or drained like the others rather than reset.
  void stop_listening();
  /// Closes connections that have no request in progress; others close after their current response.
  void close_idle_connections();
  /// Graceful shutdown: every connection drains (Http1Connection::drain).
  void drain_connections();
  size_t connection_count() const noexcept { return connections_.size(); }
  ConnectionEnv& env() noexcept { return env_; }
  /// Serve TLS (new connections; those open keep theirs), or plain TCP with null.
  void set_tls(std::shared_ptr<const TlsContext> tls) { tls_ = std::move(tls); }
  const std::shared_ptr<const TlsContext>& tls() const noexcept { return tls_; }
  /// Accept HTTP/2: the h2c preface on cleartext connections (ALPN h2 is the TLS context's offer).
  void set_http2(bool on) noexcept { http2_ = on; }
  bool http2() const noexcept { return http2_; }
  /// TLS handshakes that failed (a client speaking another protocol, no common cipher, a refused client
  /// certificate...), and the last reason.
  uint64_t tls_failures() const noexcept { return tls_failures_; }
  /// Times the memory of a burst of connections was given back to the system (see MemoryReturn).
  uint64_t memory_returns() const noexcept { return memory_return_.returns(); }
  const std::string& last_tls_error() const noexcept { return last_tls_error_; }
  /// At max_connections the server stops accepting (new connections wait in the kernel's backlog, or go to a
  /// sibling worker on a shared socket) and resumes once one closes. `warn` gets one line about it at most every
  /// kLimitWarnEveryMs.
  static constexpr uint64_t kLimitWarnEveryMs = 10'000;
  void set_warn(std::function<void(const std::string&)> warn) { warn_ = std::move(warn); }

  // Internal, for TcpConnection.
  void on_connection_closed(TcpConnection* c);
  void refresh_clock();
  /// Calls `c->on_later()` from the loop's next turn: TLS input buffered that its connection can take again, or an
  /// HTTP/2 connection's streams to free outside the calls in progress.
  void later(TcpConnection* c);
  void on_tls_failure(const std::string& error);

 private:
  static void on_new_connection(uv_stream_t* server, int status);
  static void on_sweep(uv_timer_t* t);
  static void on_later(uv_timer_t* t);
  void ensure_sweep();
  /// Takes the connection libuv accepted for the listener into the server (uv_accept also re-arms the listener).
  void accept_pending();
  void enter_limit();
  void leave_limit();
  void count_limited_time();

  EventLoop& loop_;
  ConnectionEnv env_;
  uv_tcp_t listener_;
  bool listening_ = false;
  uv_timer_t sweep_;
  bool sweep_running_ = false;
  static constexpr uint64_t kDrainSweepMs = 25;  // the sweep's period while draining (1 s otherwise)
  uint64_t sweep_every_ms_ = 1000;
  std::unordered_set<TcpConnection*> connections_;
  std::shared_ptr<const TlsContext> tls_;
  bool http2_ = true;
  uv_timer_t later_timer_;
  bool later_running_ = false;
  std::unordered_set<TcpConnection*> laters_;  // connections waiting for on_later()
  uint64_t tls_failures_ = 0;
  MemoryReturn memory_return_;
  // At max_connections: a connection is left unaccepted in the listener, which libuv then stops polling.
  bool limited_ = false;
  uint64_t limited_counted_ms_ = 0;  // the time at the limit is reported up to here
  uint64_t limit_warned_ms_ = 0;     // when the last line was logged (0: never)
  uint64_t limit_unwarned_ = 0;      // times at the limit since that line
  std::function<void(const std::string&)> warn_;
  std::string last_tls_error_;
};

}  // namespace tiercel
