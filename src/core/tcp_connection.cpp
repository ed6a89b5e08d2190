// One TCP connection: see tcp_connection.h.
#include "core/tcp_connection.h"

#include <sys/ioctl.h>
#include <sys/sendfile.h>

#include <cerrno>
#include <utility>

#include "core/event_loop.h"
#include "core/http_switch.h"
#include "core/tcp_server.h"

namespace tiercel {

namespace {
constexpr uint64_t kLingerMs = 2000;  // how long a closing socket drains input so the peer reads our answer
}  // namespace

TcpConnection::TcpConnection(TcpServer& server, EventLoop& loop) : server_(server), loop_(loop) {
  uv_tcp_init(loop.raw(), &handle_);
  handle_.data = this;
  write_req_.data = this;
  shutdown_req_.data = this;
}

void TcpConnection::start(std::string peer_ip) {
  uv_tcp_nodelay(&handle_, 1);
  ConnectionEnv& env = server_.env();
  if (const auto& context = server_.tls()) {
    auto* tls = new TlsLayer(context, *this, env, loop_.buffers().plain);
    // HTTP/2 over TLS is chosen by ALPN only, never by the first bytes.
    tls->carry(new HttpSwitch(env, *tls, std::move(peer_ip), false));
    protocol_ = tls;
  } else {
    protocol_ = new HttpSwitch(env, *this, std::move(peer_ip), server_.http2());
  }
  resume_reading();
}

void TcpConnection::refresh_clock() { server_.refresh_clock(); }

void TcpConnection::on_tls_failure(const std::string& why) { server_.on_tls_failure(why); }

void TcpConnection::wake_later() { server_.later(this); }

uint64_t TcpConnection::deadline() const noexcept {
  uint64_t d = shut_down_ ? linger_deadline_ : protocol_->deadline();
  if (write_in_flight_) {
    uint64_t w = write_progress_ms_ + server_.env().config.write_timeout_ms;
    if (d == 0 || w < d) d = w;
  }
  return d;
}

void TcpConnection::on_deadline(uint64_t now) {
  if (write_in_flight_) {
    // Progress is measured on libuv's write queue: a client that reads slowly keeps its connection,
    // one that stopped reading loses it after write_timeout_ms.
    size_t queued = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&handle_));
    if (queued < last_queue_size_) {
      last_queue_size_ = queued;
      write_progress_ms_ = now;
    } else if (now >= write_progress_ms_ + server_.env().config.write_timeout_ms) {
      hard_close();
      return;
    }
  }
  if (shut_down_) {
    if (now >= linger_deadline_) hard_close();
    return;
  }
  uint64_t d = protocol_->deadline();
  if (d == 0 || d > now) return;
  // Draining between requests: a request that reached the socket within the grace (the loop may have been too
  // busy to read it yet; timers run before reads) is read and answered, not closed on.
  if (protocol_->drain_waiting() && input_waiting()) return;
  protocol_->on_timeout();
}

void TcpConnection::shed_output() noexcept {
  protocol_->shed_output();
  if (writing_.empty()) clear_sent(writing_);
  if (pending_.empty()) clear_sent(pending_);
}

bool TcpConnection::input_waiting() {
  if (protocol_->holds_unread_input()) return true;
  uv_os_fd_t fd;
  int n = 0;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&handle_), &fd) != 0 || ::ioctl(fd, FIONREAD, &n) != 0) return false;
  return n > 0;
}

void TcpConnection::send(std::string& out, std::string_view tail) {
  if (hard_closing_) {
    out.clear();
    return;
  }
  if (write_in_flight_) {
    pending_.append(out).append(tail);
    out.clear();
    return;
  }
  // One write (a writev with a tail); only what the socket did not take is copied, into the write queue.
  uv_buf_t b[2] = {uv_buf_init(out.data(), static_cast<unsigned>(out.size())),
                   uv_buf_init(const_cast<char*>(tail.data()), static_cast<unsigned>(tail.size()))};
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&handle_), b, tail.empty() ? 1 : 2);
  if (n < 0 && n != UV_EAGAIN) {
    out.clear();
    hard_close();
    return;
  }
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  if (done == out.size() + tail.size()) {
    out.clear();
    return;
  }
  if (done < out.size()) {
    writing_.assign(out, done);
    writing_.append(tail);
  } else {
    writing_.assign(tail.substr(done - out.size()));
  }
  out.clear();
  start_write();
}

void TcpConnection::close() {
  if (close_requested_) {
    // Second request (a timeout while lingering): stop waiting.
    if (shut_down_) hard_close();
    return;
  }
  close_requested_ = true;
  if (!write_in_flight_) shutdown();
}

void TcpConnection::pause_reading() {
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    reading_ = false;
  }
}

void TcpConnection::resume_reading() {
  if (!reading_ && !hard_closing_) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), on_alloc, on_read);
    reading_ = true;
    loop_.mark_dirty();
    // Input already received (TLS records) will not make the socket readable again: it is handed on soon (not from
    // here, inside the protocol).
    if (protocol_->holds_unread_input()) server_.later(this);
  }
}

ssize_t TcpConnection::send_file(int fd, uint64_t offset, size_t count) {
  if (hard_closing_ || close_requested_ || write_in_flight_ || !pending_.empty()) return 0;
  uv_os_fd_t sock;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&handle_), &sock) != 0) return -1;
  off_t off = static_cast<off_t>(offset);
  ssize_t n = ::sendfile(sock, fd, &off, count);
  if (n > 0) return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (n < 0 && errno != EINVAL && errno != ENOSYS) {
    hard_close();  // the peer is gone (EPIPE, ECONNRESET)
    return 0;
  }
  return -1;  // end of file (it shrank) or a file sendfile cannot read: the caller reads it and finds out
}

void TcpConnection::hard_close() {
  if (hard_closing_) return;
  hard_closing_ = true;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
  loop_.mark_dirty();
}

void TcpConnection::start_write() {
  write_in_flight_ = true;
  write_progress_ms_ = loop_.now_ms();
  last_queue_size_ = writing_.size();
  uv_buf_t b = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
  uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&handle_), &b, 1, on_write);
  loop_.mark_dirty();
}

void TcpConnection::shutdown() {
  if (hard_closing_ || shut_down_) return;
  shut_down_ = true;
  linger_deadline_ = loop_.now_ms() + kLingerMs;
  // Keep reading (and discarding) until the peer closes, so unread input does not turn our close into
  // a reset that destroys the response before the peer reads it. Not needed once the peer's EOF came.
  if (!peer_eof_) resume_reading();
  if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&handle_), on_shutdown) != 0) hard_close();
  loop_.mark_dirty();
}

void TcpConnection::on_shutdown(uv_shutdown_t* req, int status) {
  auto* self = static_cast<TcpConnection*>(req->data);
  // After the peer's EOF nothing more can arrive: close now rather than linger until kLingerMs.
  if (status != 0 || self->peer_eof_) self->hard_close();
}

void TcpConnection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(h->data);
  LoopBuffers& buffers = self->loop_.buffers();
  if (self->shut_down_) {
    *buf = uv_buf_init(buffers.discard, sizeof buffers.discard);  // lingering input is thrown away
    return;
  }
  // Into the loop's buffer, unless the protocol holds part of a request: then the rest is read in after it.
  auto [p, n] = self->protocol_->own_input_space();
  if (p == nullptr) {
    *buf = uv_buf_init(buffers.wire, sizeof buffers.wire);
    return;
  }
  *buf = uv_buf_init(p, static_cast<unsigned>(n));
}

void TcpConnection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(s->data);
  if (nread > 0) {
    if (self->shut_down_) return;
    self->server_.refresh_clock();
    if (buf->base == self->loop_.buffers().wire) {
      self->protocol_->on_input(buf->base, static_cast<size_t>(nread));
    } else {
      self->protocol_->on_own_input(static_cast<size_t>(nread));
    }
  } else if (nread < 0) {
    if (nread == UV_EOF && !self->shut_down_) {
      // libuv stops reading at EOF, so no second EOF would end a linger: note it, let the answers
      // already queued go out, and close as soon as the shutdown is done (on_shutdown), so that a
      // suspended handler of a departed client is cancelled at once rather than after kLingerMs.
      self->peer_eof_ = true;
      self->reading_ = false;
      if (!self->close_requested_) self->protocol_->on_eof();
    } else {
      self->hard_close();
    }
  }
}

void TcpConnection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<TcpConnection*>(req->data);
  self->write_in_flight_ = false;
  clear_sent(self->writing_);
  if (status != 0) {
    self->pending_.clear();
    self->hard_close();
    return;
  }
  if (!self->pending_.empty()) {
    std::swap(self->writing_, self->pending_);
    self->start_write();
    return;
  }
  clear_sent(self->pending_);  // the writes are done: the large answer they held is not kept
  if (self->close_requested_) {
    self->shutdown();
    return;
  }
  self->server_.refresh_clock();  // on_drained() may parse and set deadlines
  self->protocol_->on_drained();
}

void TcpConnection::on_close(uv_handle_t* h) {
  auto* self = static_cast<TcpConnection*>(h->data);
  self->protocol_->on_transport_closed();
  self->protocol_->release();
  self->server_.on_connection_closed(self);
  delete self;
}

}  // namespace tiercel
