// One HTTP/1.1 connection over memory instead of a socket (DESIGN §3: one pipeline, two transports). The
// TestClient drives the server's own sessions, routing and dispatch through it, byte for byte.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/http1_session.h"

namespace tiercel {

class MemoryConnection final : public SessionTransport {
 public:
  /// `env` must outlive the connection and its session (whose deferred answers may finish after it closed).
  MemoryConnection(SessionEnv& env, std::string peer_ip);
  /// Closes the connection if the peer has not (pending answers are cancelled).
  ~MemoryConnection() override;
  MemoryConnection(const MemoryConnection&) = delete;
  MemoryConnection& operator=(const MemoryConnection&) = delete;

  /// Bytes from the peer: handed to the session while it reads, queued while it has paused reading.
  void feed(std::string_view bytes);
  /// Takes what the server has sent so far.
  std::string take_output();
  /// The server asked to close (after what it sent), or the peer closed.
  bool closed() const noexcept { return close_requested_ || peer_closed_; }
  /// The peer closes the connection: the session stops, pending answers are cancelled. Idempotent.
  void disconnect();
  /// Called whenever the server sends bytes or asks to close (the client's wake-up).
  void set_on_output(std::function<void()> fn) { on_output_ = std::move(fn); }

  // SessionTransport: the peer reads everything at once, so nothing is ever left unsent.
  void send(std::string& out) override;
  void close() override;
  void pause_reading() override { reading_ = false; }
  void resume_reading() override;
  size_t unsent_bytes() const override { return 0; }

 private:
  void pump();
  void refresh_clock();
  void notify();

  SessionEnv& env_;
  Http1Session* session_;
  std::string output_;
  std::string backlog_;
  std::function<void()> on_output_;
  bool reading_ = true;
  bool pumping_ = false;
  bool close_requested_ = false;
  bool peer_closed_ = false;
};

}  // namespace tiercel
