// GoogleTest suite for TcpConnection (src/core/tcp_connection.cpp), the TCP transport, over a loopback socket
// accepted by a TcpServer: what the socket does not take at once is queued and arrives whole and in order, a
// connection whose output is over the write watermark reads no further request until the client reads, and a client
// that stops reading is closed after write_timeout. The server's loop is run without blocking, as asyncio runs it.
#include "core/tcp_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/http1_connection.h"

namespace tiercel {
namespace {

/// Body bytes that differ from one offset to the next (a lost, doubled or reordered piece shows).
std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

/// Answers GET /b?n=N with N pattern bytes, sent from its own memory (respond() with a body: the socket takes
/// what it can, the rest is copied into the connection's queue).
class BulkDispatcher final : public Dispatcher {
 public:
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override {
    targets.emplace_back(req.head.target);
    std::string_view t = req.head.target;
    size_t n = std::stoul(std::string(t.substr(t.find("n=") + 2)));
    std::string body = pattern(n);
    conn.respond(seq, ResponseHead{200, {}}, body, req.ctx);
  }
  void cancel(void*) noexcept override {}
  std::vector<std::string> targets;
};

/// One response cut from the front of `stream` (Content-Length framing); false while it is incomplete.
bool take_response(std::string& stream, std::string& body) {
  size_t end = stream.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t at = stream.find("Content-Length: ");
  if (at == std::string::npos || at > end) return false;
  size_t length = std::stoul(stream.substr(at + 16, stream.find("\r\n", at) - at - 16));
  if (stream.size() < end + 4 + length) return false;
  body = stream.substr(end + 4, length);
  stream.erase(0, end + 4 + length);
  return true;
}

class TcpBuffering : public ::testing::Test {
 protected:
  TcpBuffering() {
    std::string error;
    EXPECT_TRUE(routes_.router.add(Method::kGet, "/b", 0, error)) << error;
    routes_.entries.resize(1);
  }
  ~TcpBuffering() override {
    if (client_ >= 0) ::close(client_);
    server_.reset();
  }

  void start() {
    server_ = std::make_unique<TcpServer>(loop_, config_, routes_, dispatcher_);
    std::string error;
    port_ = server_->listen("127.0.0.1", 0, 16, false, error);
    ASSERT_GT(port_, 0) << error;
  }

  /// A client socket with a small receive buffer (so that a large answer cannot fit in the kernel's buffers),
  /// connected and non-blocking.
  void connect_client() {
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(client_, 0);
    int small = 4096;
    ::setsockopt(client_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << errno;
    ::fcntl(client_, F_SETFL, ::fcntl(client_, F_GETFL) | O_NONBLOCK);
  }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << errno;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  /// Whatever the client socket holds now; false once the server closed it.
  bool read_available() {
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::recv(client_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  /// Runs the server's loop (and, when `reading`, the client's reads) until `done` or `budget_ms` passed.
  bool run_until(const std::function<bool()>& done, bool reading, int budget_ms = 10'000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      int wait = loop_.run_nowait();
      if (reading) read_available();
      pollfd p[2] = {{loop_.backend_fd(), POLLIN, 0}, {client_, POLLIN, 0}};
      ::poll(p, reading ? 2 : 1, wait < 0 || wait > 10 ? 10 : wait);
    }
    return true;
  }

  EventLoop loop_;
  ServerConfig config_;
  RouteTable routes_;
  BulkDispatcher dispatcher_;
  std::unique_ptr<TcpServer> server_;
  int port_ = 0;
  int client_ = -1;
  std::string received_;
};

TEST_F(TcpBuffering, SmallAnswerArrivesAtOnce) {
  start();
  connect_client();
  send_all("GET /b?n=5 HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string body;
  ASSERT_TRUE(run_until([&] { return take_response(received_, body); }, true));
  EXPECT_EQ(body, pattern(5));
  EXPECT_EQ(received_, "");
}

TEST_F(TcpBuffering, QueuedAnswerArrivesWholeAndHoldsBackTheNextRequestUntilRead) {
  constexpr size_t kBig = 12u << 20;  // over the kernel's send buffer (4 MiB at most) and the 1 MiB watermark
  start();
  connect_client();
  send_all("GET /b?n=" + std::to_string(kBig) + " HTTP/1.1\r\nHost: t\r\n\r\nGET /b?n=7 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return !dispatcher_.targets.empty(); }, false));
  // The client reads nothing: for as long as it does not, the second request stays unread.
  run_until([] { return false; }, false, 300);
  EXPECT_EQ(dispatcher_.targets.size(), 1u);
  EXPECT_EQ(server_->connection_count(), 1u);
  std::string first, second;
  ASSERT_TRUE(run_until([&] { return take_response(received_, first); }, true));
  ASSERT_EQ(first.size(), kBig);
  EXPECT_TRUE(first == pattern(kBig));  // not EXPECT_EQ: a mismatch would print 12 MiB
  ASSERT_TRUE(run_until([&] { return take_response(received_, second); }, true));
  EXPECT_EQ(second, pattern(7));
  EXPECT_EQ(dispatcher_.targets, (std::vector<std::string>{"/b?n=" + std::to_string(kBig), "/b?n=7"}));
}

TEST_F(TcpBuffering, ClientThatStopsReadingIsClosedAfterWriteTimeout) {
  config_.write_timeout_ms = 50;
  start();
  connect_client();
  send_all("GET /b?n=" + std::to_string(12u << 20) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return server_->connection_count() == 1 && !dispatcher_.targets.empty(); }, false));
  auto began = std::chrono::steady_clock::now();
  // The sweep looks at deadlines once a second: the write stalls, and the connection is closed.
  ASSERT_TRUE(run_until([&] { return server_->connection_count() == 0; }, false, 5000));
  EXPECT_GE(std::chrono::steady_clock::now() - began, std::chrono::milliseconds(50));
  // What the client gets is cut short: far less than the answer.
  run_until([&] { return !read_available(); }, false, 2000);
  EXPECT_LT(received_.size(), 12u << 20);
}

}  // namespace
}  // namespace tiercel
