// The libuv TCP listener: binding, accepting up to max_connections, graceful shutdown of its connections, and a
// timeout sweep that runs only while connections exist.
#include "core/tcp_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/tcp_connection.h"

namespace tiercel {

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
  // Connections between requests close after a grace of a tenth of a second (Http1Connection::drain): the sweep
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
