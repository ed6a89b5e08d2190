// libuv TCP transport for Http1Session: accept, read into the session's buffer, write with
// uv_try_write first, sendfile for file bodies, lingering close, and a timeout sweep that runs only while
// connections exist.
#include "core/tcp_server.h"

#include "core/http2.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

namespace tiercel {

// ---------------------------------------------------------------------------------------------
// TcpConnection

namespace {
constexpr uint64_t kLingerMs = 2000;  // how long a closing socket drains input so the peer reads our answer
constexpr std::string_view kPlainHttpOnTlsPort =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 56\r\n"
    "Connection: close\r\n\r\nThis port speaks HTTPS: send the request with https://.\n";
}

class TcpConnection final : public SessionTransport {
 public:
  TcpConnection(TcpServer& server, EventLoop& loop) : server_(server), loop_(loop) {
    uv_tcp_init(loop.raw(), &handle_);
    handle_.data = this;
    write_req_.data = this;
    shutdown_req_.data = this;
  }

  uv_tcp_t* handle() noexcept { return &handle_; }
  Http1Session* session() noexcept { return session_; }

  void start(std::string peer_ip) {
    peer_ip_ = peer_ip;
    session_ = new Http1Session(server_.env(), *this, std::move(peer_ip));
    uv_tcp_nodelay(&handle_, 1);
    if (const auto& tls = server_.tls()) {
      tls_ = std::make_unique<TlsConnection>(tls);
      handshake_deadline_ = loop_.now_ms() + server_.env().config.header_timeout_ms;
    }
    resume_reading();
  }

  std::shared_ptr<const TlsInfo> tls() const override {
    return tls_ && tls_->handshake_done() ? tls_->info() : nullptr;
  }

  /// Switches the connection to HTTP/2 (ALPN h2, or the h2c preface), with `first` the bytes already read.
  void start_h2(std::string_view first) {
    std::string bytes(first);  // they may live in the HTTP/1.1 session's buffer, which goes now
    Http1Session* h1 = std::exchange(session_, nullptr);
    h2_ = std::make_unique<Http2Connection>(server_.env(), *this, peer_ip_);
    h1->on_transport_closed();
    h1->release();
    h2_->flush();  // our SETTINGS
    if (!bytes.empty()) h2_->on_read(bytes);
  }

  /// Graceful shutdown of this connection (see Http1Session::drain, Http2Connection::drain).
  void drain() {
    if (h2_) return h2_->drain();
    if (session_) session_->drain();
  }

  /// Closes the connection now if nothing is in progress (see TcpServer::close_idle_connections).
  void close_idle() {
    if (h2_) {
      if (h2_->open_streams() == 0) h2_->drain();
    } else if (session_ && session_->deadline() != 0) {
      session_->on_timeout();
    }
  }

  /// The loop's next turn, as asked by later(): an HTTP/2 connection's deferred work, then TLS input OpenSSL holds.
  void on_later() {
    if (h2_ && !hard_closing_) h2_->on_later();
    drain_tls();
  }

  void wake_later() override { server_.later(this); }

  /// TLS: plaintext OpenSSL already holds (decrypted, or whole records) goes to the session (HTTP/1.1: into its
  /// own buffer) or to the HTTP/2 connection.
  void drain_tls() {
    auto& plain = loop_.buffers().plain;
    while (tls_ && reading_ && !hard_closing_ && !shut_down_ && !close_requested_) {
      // HTTP/1.1 reads into the session's buffer only after part of a request, as on_alloc() does.
      bool shared = h2_ || !session_->holds_input();
      auto [p, n] = shared ? std::pair<char*, size_t>(plain, sizeof plain) : session_->read_space();
      long got = tls_->read_plain(p, n);
      if (got > 0) {
        server_.refresh_clock();
        if (h2_) {
          h2_->on_read(std::string_view(p, static_cast<size_t>(got)));
          continue;
        }
        if (shared) {
          session_->on_read_borrowed(p, static_cast<size_t>(got));
        } else {
          session_->on_read(static_cast<size_t>(got));
        }
        if (!tls_ || !tls_->has_buffered_input()) break;  // nothing more to decrypt: spare the call that says so
        continue;
      }
      if (got < 0) {  // close_notify (the peer's EOF) or a bad record
        flush_tls_output();
        if (tls_->failed()) {
          hard_close();
        } else if (!close_requested_) {
          if (!h2_) peer_eof_ = true;  // HTTP/1.1's close after its answers need not linger for more input
          peer_finished();
        }
        return;
      }
      break;  // more ciphertext needed
    }
    flush_tls_output();
  }

  /// The peer sent all it will (EOF, or TLS close_notify) and no close was asked: HTTP/2 closes, HTTP/1.1 answers
  /// what it has read.
  void peer_finished() {
    if (h2_) return close();
    session_->on_eof();
  }

  /// Deadline of this connection (the session's, or the linger deadline once shut down).
  uint64_t deadline() const noexcept {
    uint64_t d = shut_down_ ? linger_deadline_ : h2_ ? h2_->deadline() : session_->deadline();
    if (handshake_deadline_ && (d == 0 || handshake_deadline_ < d)) d = handshake_deadline_;
    if (write_in_flight_) {
      uint64_t w = write_progress_ms_ + server_.env().config.write_timeout_ms;
      if (d == 0 || w < d) d = w;
    }
    return d;
  }

  void on_deadline(uint64_t now) {
    if (handshake_deadline_ && now >= handshake_deadline_) {
      hard_close();  // no TLS handshake within header_timeout
      return;
    }
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
    if (h2_) {
      uint64_t d = h2_->deadline();
      if (d != 0 && d <= now) h2_->on_timeout();
      return;
    }
    uint64_t d = session_->deadline();
    if (d == 0 || d > now) return;
    // Draining between requests: a request that reached the socket within the grace (the loop may have been too
    // busy to read it yet; timers run before reads) is read and answered, not closed on.
    if (session_->drain_waiting() && input_waiting()) return;
    session_->on_timeout();
  }

  /// Frees output buffers a large answer grew, where nothing waits in them (see Http1Session::shed_output).
  void shed_output() noexcept {
    if (session_) session_->shed_output();
    if (writing_.empty()) clear_sent(writing_);
    if (pending_.empty()) clear_sent(pending_);
    if (tls_ && tls_->output().empty()) clear_sent(tls_->output());
  }

  /// Bytes the socket (or OpenSSL) holds that the loop has not read yet.
  bool input_waiting() {
    if (tls_ && tls_->has_buffered_input()) return true;
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&handle_), &fd) != 0 || ::ioctl(fd, FIONREAD, &n) != 0) return false;
    return n > 0;
  }

  void send(std::string& out) override { send(out, {}); }

  void send(std::string& out, std::string_view tail) override {
    if (!tls_) return send_wire(out, tail);
    if (hard_closing_) {
      out.clear();
      return;
    }
    bool ok = tls_->write_plain(out) && tls_->write_plain(tail);
    out.clear();
    if (!ok) return hard_close();
    send_wire(tls_->output(), {});
  }

  /// Bytes as they go on the wire: one write (a writev with a tail); only what the socket did not take is copied.
  void send_wire(std::string& out, std::string_view tail) {
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

  void close() override {
    if (close_requested_) {
      // Second request (a timeout while lingering): stop waiting.
      if (shut_down_) hard_close();
      return;
    }
    close_requested_ = true;
    if (tls_ && tls_->handshake_done() && !tls_->failed()) {
      tls_->close_notify();
      send_wire(tls_->output(), {});
    }
    if (!write_in_flight_) shutdown();
  }

  void pause_reading() override {
    if (reading_) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
      reading_ = false;
    }
  }

  void resume_reading() override {
    if (!reading_ && !hard_closing_) {
      uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), on_alloc, on_read);
      reading_ = true;
      loop_.mark_dirty();
      // Records already received will not make the socket readable again: they are handed on soon (not from
      // here, inside the session).
      if (tls_ && tls_->handshake_done() && tls_->has_buffered_input()) server_.later(this);
    }
  }

  size_t unsent_bytes() const override { return writing_.size() + pending_.size(); }

  ssize_t send_file(int fd, uint64_t offset, size_t count) override {
    if (tls_) return -1;  // the bytes must be encrypted here
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

  void hard_close() {
    if (hard_closing_) return;
    hard_closing_ = true;
    reading_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
    loop_.mark_dirty();
  }

 private:
  void start_write() {
    write_in_flight_ = true;
    write_progress_ms_ = loop_.now_ms();
    last_queue_size_ = writing_.size();
    uv_buf_t b = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
    uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&handle_), &b, 1, on_write);
    loop_.mark_dirty();
  }

  void shutdown() {
    if (hard_closing_ || shut_down_) return;
    shut_down_ = true;
    linger_deadline_ = loop_.now_ms() + kLingerMs;
    // Keep reading (and discarding) until the peer closes, so unread input does not turn our close into
    // a reset that destroys the response before the peer reads it. Not needed once the peer's EOF came.
    if (!peer_eof_) resume_reading();
    if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&handle_), on_shutdown) != 0) hard_close();
    loop_.mark_dirty();
  }

  static void on_shutdown(uv_shutdown_t* req, int status) {
    auto* self = static_cast<TcpConnection*>(req->data);
    // After the peer's EOF nothing more can arrive: close now rather than linger until kLingerMs.
    if (status != 0 || self->peer_eof_) self->hard_close();
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<TcpConnection*>(h->data);
    if (self->shut_down_ || self->refused_) {
      auto& discard = self->loop_.buffers().discard;  // lingering input is thrown away
      *buf = uv_buf_init(discard, sizeof discard);
      return;
    }
    if (self->tls_ || self->h2_ || !self->session_->holds_input()) {
      auto& wire = self->loop_.buffers().wire;
      *buf = uv_buf_init(wire, sizeof wire);
      return;
    }
    // Part of a request is held: the rest is read in after it.
    auto [p, n] = self->session_->read_space();
    *buf = uv_buf_init(p, static_cast<unsigned>(n));
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<TcpConnection*>(s->data);
    if (nread > 0) {
      if (self->shut_down_ || self->refused_) return;
      self->server_.refresh_clock();
      char* wire_buffer = self->loop_.buffers().wire;
      if (self->tls_) return self->on_wire(std::string_view(wire_buffer, static_cast<size_t>(nread)));
      if (self->h2_) return self->h2_->on_read(std::string_view(wire_buffer, static_cast<size_t>(nread)));
      if (!self->sniffed_ && self->sniff_first(std::string_view(buf->base, static_cast<size_t>(nread)))) return;
      if (buf->base == wire_buffer) {
        self->session_->on_read_borrowed(wire_buffer, static_cast<size_t>(nread));
      } else {
        self->session_->on_read(static_cast<size_t>(nread));
      }
    } else if (nread < 0) {
      if (nread == UV_EOF && !self->shut_down_) {
        // libuv stops reading at EOF, so no second EOF would end a linger: note it, let the answers
        // already queued go out, and close as soon as the shutdown is done (on_shutdown), so that a
        // suspended handler of a departed client is cancelled at once rather than after kLingerMs.
        self->peer_eof_ = true;
        self->reading_ = false;
        if (!self->close_requested_) self->peer_finished();
      } else {
        self->hard_close();
      }
    }
  }

  /// The first bytes of a cleartext connection: the HTTP/2 preface (prior knowledge, h2c) or HTTP/1.1. Returns true
  /// when it took the bytes (HTTP/2, or too few to tell yet: "P" could be POST or PRI); false when they are the
  /// session's to read as usual.
  bool sniff_first(std::string_view fresh) {
    if (!server_.http2()) {
      sniffed_ = true;
      return false;
    }
    std::string data = sniff_ + std::string(fresh);
    if (looks_like_h2_preface(data)) {
      if (data.size() < 3) {  // too few to tell: held in sniff_ until the next read
        sniff_ = std::move(data);
        return true;
      }
      sniffed_ = true;
      start_h2(data);
      return true;
    }
    sniffed_ = true;
    if (sniff_.empty()) return false;
    sniff_.clear();
    session_->feed(data);  // HTTP/1.1 after all: the bytes held back go first
    return true;
  }

  /// TLS: ciphertext arrived.
  void on_wire(std::string_view data) {
    if (!tls_sniffed_) {
      tls_sniffed_ = true;
      if (!looks_like_tls(data)) {
        // Plain HTTP to a TLS port: say so in plain HTTP, then close (what else comes is discarded).
        tls_.reset();
        refused_ = true;
        handshake_deadline_ = 0;
        std::string answer(kPlainHttpOnTlsPort);
        send_wire(answer, {});
        close();
        return;
      }
    }
    if (tls_->failed()) return;  // closing after a failed handshake: the rest is not read
    tls_->put_wire(data);
    if (!tls_->handshake_done()) {
      bool done = tls_->handshake();
      flush_tls_output();
      if (!done) {
        if (tls_->failed()) {
          server_.on_tls_failure(tls_->error());
          close();  // the alert goes out, then the connection closes
        }
        return;
      }
      handshake_deadline_ = 0;
      if (tls_->info()->alpn == "h2") start_h2({});
    }
    drain_tls();
  }

  void flush_tls_output() {
    if (tls_ && !tls_->output().empty()) send_wire(tls_->output(), {});
  }

  static void on_write(uv_write_t* req, int status) {
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
    if (self->h2_) return self->h2_->on_drained();
    self->session_->on_drained();
  }

  static void on_close(uv_handle_t* h) {
    auto* self = static_cast<TcpConnection*>(h->data);
    if (self->h2_) {
      self->h2_->on_transport_closed();
      self->h2_.reset();
    } else {
      self->session_->on_transport_closed();
      self->session_->release();
    }
    self->server_.on_connection_closed(self);
    delete self;
  }

  TcpServer& server_;
  EventLoop& loop_;
  uv_tcp_t handle_;
  uv_write_t write_req_;
  uv_shutdown_t shutdown_req_;
  Http1Session* session_ = nullptr;
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
  std::unique_ptr<TlsConnection> tls_;  // null for plain TCP (and after plain HTTP came to a TLS port)
  uint64_t handshake_deadline_ = 0;     // the TLS handshake must be done by then (0: done, or no TLS)
  bool tls_sniffed_ = false;            // the first bytes were looked at
  bool refused_ = false;                // plain HTTP came to the TLS port: answered, input discarded
  bool sniffed_ = false;                // cleartext: the first bytes were looked at (h2c preface or not)
  std::string sniff_;                   // first bytes too few to tell HTTP/2 from HTTP/1.1 yet
  std::unique_ptr<Http2Connection> h2_; // the connection speaks HTTP/2 (session_ is then null)
  std::string peer_ip_;
};

// ---------------------------------------------------------------------------------------------
// TcpServer

TcpServer::TcpServer(EventLoop& loop, const ServerConfig& config, const RouteTable& routes, Dispatcher& dispatcher)
    : loop_(loop), env_{config, routes, dispatcher, {}, 0, 0, 0, nullptr}, memory_return_(loop.raw()) {
  uv_timer_init(loop_.raw(), &sweep_);
  sweep_.data = this;
  uv_timer_init(loop_.raw(), &later_timer_);
  later_timer_.data = this;
  refresh_clock();
}

TcpServer::~TcpServer() {
  stop_listening();  // first: it may take in a last connection
  for (auto* c : connections_) c->hard_close();
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&later_timer_), nullptr);
  memory_return_.close();
  // Run the loop so every close callback (which touches this server) happens before it is gone.
  uv_run(loop_.raw(), UV_RUN_NOWAIT);
  uv_run(loop_.raw(), UV_RUN_NOWAIT);
}

void TcpServer::refresh_clock() {
  env_.now_ms = loop_.now_ms();
  env_.now_s = std::time(nullptr);
}

int TcpServer::listen(const std::string& host, int port, int backlog, bool reuse_port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    error = "cannot resolve host '" + host + "': " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  std::string last_error = "no address to bind";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
#endif
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    last_error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    error = "cannot bind " + host + ":" + std::to_string(port) + ": " + last_error;
    return -1;
  }
  if (listen_fd(fd, backlog, error) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

int TcpServer::listen_fd(int fd, int backlog, std::string& error) {
  uv_tcp_init(loop_.raw(), &listener_);
  listener_.data = this;
  int rc = uv_tcp_open(&listener_, fd);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), backlog, on_new_connection);
  if (rc != 0) {
    error = std::string("cannot listen: ") + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    return -1;
  }
  listening_ = true;
  loop_.mark_dirty();
  return 0;
}

void TcpServer::stop_listening() {
  if (!listening_) return;
  listening_ = false;
  if (limited_) {  // closing the listener would reset the connection libuv kept for uv_accept
    leave_limit();
    accept_pending();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  loop_.mark_dirty();
}

void TcpServer::close_idle_connections() {
  for (auto* c : connections_) {
    c->close_idle();
  }
}

void TcpServer::drain_connections() {
  refresh_clock();
  // drain() may close a connection, which only schedules its removal: iterating a copy is not needed.
  for (auto* c : connections_) c->drain();
  // Connections between requests close after a grace of a tenth of a second (Http1Session::drain): the sweep
  // looks at deadlines that often from now on rather than once a second.
  if (sweep_running_) uv_timer_stop(&sweep_);
  sweep_every_ms_ = kDrainSweepMs;
  sweep_running_ = false;
  if (!connections_.empty()) ensure_sweep();
}

void TcpServer::on_new_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<TcpServer*>(listener->data);
  if (status != 0) return;
  if (self->connections_.size() >= self->env_.config.max_connections) {
    // Not accepting it makes libuv stop polling the listener (no busy wakeups while full) and keep this one
    // connection for uv_accept: it is served first once a connection closes. The others stay in the backlog,
    // or go to the workers sharing the socket.
    self->enter_limit();
    return;
  }
  self->accept_pending();
}

void TcpServer::accept_pending() {
  auto* conn = new TcpConnection(*this, loop_);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_), reinterpret_cast<uv_stream_t*>(conn->handle())) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(conn->handle()),
             [](uv_handle_t* h) { delete static_cast<TcpConnection*>(h->data); });
    return;
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  char ip[64] = "";
  if (uv_tcp_getpeername(conn->handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&ss), ip, sizeof ip);
    } else {
      uv_ip4_name(reinterpret_cast<sockaddr_in*>(&ss), ip, sizeof ip);
    }
  }
  refresh_clock();
  connections_.insert(conn);
  memory_return_.on_connections(connections_.size());
  if (env_.observer) env_.observer->on_connection(1);
  conn->start(ip);
  ensure_sweep();
}

void TcpServer::enter_limit() {
  if (limited_) return;
  limited_ = true;
  refresh_clock();
  limited_counted_ms_ = env_.now_ms;
  if (env_.observer) env_.observer->on_connection_limit(true, 0);
  ++limit_unwarned_;
  if (warn_ && (limit_warned_ms_ == 0 || env_.now_ms - limit_warned_ms_ >= kLimitWarnEveryMs)) {
    std::string line = "max_connections (" + std::to_string(env_.config.max_connections) +
                       ") reached: this worker accepts no new connection until one closes";
    if (limit_unwarned_ > 1) {
      line += " (" + std::to_string(limit_unwarned_) + " times since the last message)";
    }
    limit_warned_ms_ = env_.now_ms ? env_.now_ms : 1;
    limit_unwarned_ = 0;
    warn_(line);
  }
}

void TcpServer::count_limited_time() {
  if (!limited_) return;
  refresh_clock();
  uint64_t now = env_.now_ms;
  if (now > limited_counted_ms_ && env_.observer) env_.observer->on_connection_limit(false, now - limited_counted_ms_);
  limited_counted_ms_ = std::max(now, limited_counted_ms_);
}

void TcpServer::leave_limit() {
  count_limited_time();
  limited_ = false;
}

void TcpServer::on_connection_closed(TcpConnection* c) {
  if (connections_.erase(c) && env_.observer) env_.observer->on_connection(-1);
  memory_return_.on_connections(connections_.size());
  laters_.erase(c);
  if (connections_.empty() && sweep_running_) {
    uv_timer_stop(&sweep_);
    sweep_running_ = false;
  }
  if (limited_ && listening_ && connections_.size() < env_.config.max_connections) {
    leave_limit();
    accept_pending();  // the connection libuv kept; uv_accept polls the listener again
    loop_.mark_dirty();
  }
}

void TcpServer::later(TcpConnection* c) {
  laters_.insert(c);
  if (!later_running_) {
    later_running_ = true;
    uv_timer_start(&later_timer_, on_later, 0, 0);
    loop_.mark_dirty();
  }
}

void TcpServer::on_later(uv_timer_t* t) {
  auto* self = static_cast<TcpServer*>(t->data);
  self->later_running_ = false;
  self->refresh_clock();
  for (TcpConnection* c : std::exchange(self->laters_, {})) c->on_later();
}

void TcpServer::on_tls_failure(const std::string& error) {
  ++tls_failures_;
  last_tls_error_ = error;
}

void TcpServer::ensure_sweep() {
  if (sweep_running_) return;
  sweep_running_ = true;
  uv_timer_start(&sweep_, on_sweep, sweep_every_ms_, sweep_every_ms_);
  loop_.mark_dirty();
}

void TcpServer::on_sweep(uv_timer_t* t) {
  auto* self = static_cast<TcpServer*>(t->data);
  self->count_limited_time();  // the metric follows a long stay at the limit second by second
  self->refresh_clock();
  uint64_t now = self->env_.now_ms;
  // Collect first: a timeout may close a connection, which edits the set in its close callback later,
  // but collecting keeps this loop independent of that.
  std::vector<TcpConnection*> due;
  for (auto* c : self->connections_) {
    uint64_t d = c->deadline();
    if (d != 0 && d <= now) due.push_back(c);
  }
  for (auto* c : due) c->on_deadline(now);
  for (auto* c : self->connections_) c->shed_output();
}

}  // namespace tiercel
