// One accepted TCP connection (libuv): reads into the loop's buffer (or after the part of a request its protocol
// keeps), writes with uv_try_write first and queues only what the socket did not take, sends files with sendfile,
// closes with a lingering shutdown, and bounds a write that makes no progress. What it carries is one Protocol: HTTP
// (HttpSwitch), under a TlsLayer on a TLS port.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "core/protocol.h"
#include "core/tls_layer.h"

namespace tiercel {

class EventLoop;
class TcpServer;

class TcpConnection final : public TlsLayer::Wire {
 public:
  TcpConnection(TcpServer& server, EventLoop& loop);
  ~TcpConnection() override = default;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  uv_tcp_t* handle() noexcept { return &handle_; }
  /// Starts serving the accepted socket: TLS when the server has a context, HTTP/1.1 or HTTP/2.
  void start(std::string peer_ip);
  /// Graceful shutdown of this connection (see Protocol::drain).
  void drain() { protocol_->drain(); }
  /// Closes the connection now if nothing is in progress (see TcpServer::close_idle_connections).
  void close_idle() { protocol_->close_idle(); }
  /// The loop's next turn, as asked by wake_later().
  void on_later() {
    if (!hard_closing_) protocol_->on_later();
  }
  /// Deadline of this connection: its protocol's, the linger's once shut down, and a write's that stalls.
  uint64_t deadline() const noexcept;
  void on_deadline(uint64_t now);
  /// Frees output buffers a large answer grew, where nothing waits in them.
  void shed_output() noexcept;
  /// Closes at once (the socket is closed; the connection is freed in the close callback).
  void hard_close();

  // --- Transport (the protocol's, or the TLS layer's) ---
  void send(std::string& out) override { send(out, {}); }
  /// Bytes as they go on the wire: one write (a writev with a tail); only what the socket did not take is copied.
  void send(std::string& out, std::string_view tail) override;
  void close() override;
  void pause_reading() override;
  void resume_reading() override;
  size_t unsent_bytes() const override { return writing_.size() + pending_.size(); }
  ssize_t send_file(int fd, uint64_t offset, size_t count) override;
  void wake_later() override;

  // --- TlsLayer::Wire ---
  bool taking_input() const noexcept override {
    return reading_ && !hard_closing_ && !shut_down_ && !close_requested_;
  }
  void abort() override { hard_close(); }
  void input_ended() override { peer_eof_ = true; }
  void refresh_clock() override;
  void on_tls_failure(const std::string& why) override;

 private:
  /// Bytes the socket (or a layer of the protocol) holds that the loop has not read yet.
  bool input_waiting();
  void start_write();
  void shutdown();
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);

  TcpServer& server_;
  EventLoop& loop_;
  uv_tcp_t handle_;
  uv_write_t write_req_;
  uv_shutdown_t shutdown_req_;
  Protocol* protocol_ = nullptr;  // what the socket carries (freed with release())
  std::string writing_;  // bytes owned by the in-flight uv_write
  std::string pending_;  // bytes queued behind it
  uint64_t linger_deadline_ = 0;
  uint64_t write_progress_ms_ = 0;  // loop time of the last observed write progress
  size_t last_queue_size_ = 0;
  bool write_in_flight_ = false;
  bool reading_ = false;
  bool close_requested_ = false;
  bool shut_down_ = false;
  bool peer_eof_ = false;
  bool hard_closing_ = false;
};

}  // namespace tiercel
