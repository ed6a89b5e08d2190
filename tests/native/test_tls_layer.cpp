// GoogleTest suite for TlsLayer (core/tls_layer.h) under a real OpenSSL client (tls_peer.h): the layer sits on a
// wire that records what a socket would be asked, and carries the HttpSwitch the server puts above it, as a TLS
// connection of TcpServer does. Covered: the handshake then HTTP/1.1, ALPN h2 reaching the protocol (answered over
// HTTP/2 by a real nghttp2 client, inside TLS), plain HTTP sent to the TLS port refused, close_notify both ways, a
// broken handshake, and the handshake's deadline.
#include "core/tls_layer.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/http_switch.h"
#include "core/tls.h"
#include "h2_client.h"
#include "response_splitter.h"
#include "scripted_dispatcher.h"
#include "tls_peer.h"

namespace tiercel {
namespace {

using testing::H2Client;
using testing::ParsedResponse;
using testing::ScriptedDispatcher;
using testing::TestCertificates;
using testing::TlsClient;

/// The socket under the layer, as the layer sees it: what it was asked to send and do.
class RecordingWire final : public TlsLayer::Wire {
 public:
  using Transport::send;
  void send(std::string& out) override {
    if (closed) bytes_after_close += out.size();
    sent.append(out);
    out.clear();
  }
  void close() override { closed = true; }
  void pause_reading() override { reading = false; }
  void resume_reading() override { reading = true; }
  size_t unsent_bytes() const override { return 0; }
  void wake_later() override { wake = true; }
  bool taking_input() const noexcept override { return reading && !closed && !aborted; }
  void abort() override { aborted = true; }
  void input_ended() override { ended = true; }
  void refresh_clock() override {}
  void on_tls_failure(const std::string& why) override { failures.push_back(why); }

  std::string take_sent() { return std::exchange(sent, {}); }

  std::string sent;
  std::vector<std::string> failures;
  size_t bytes_after_close = 0;
  bool reading = true, closed = false, aborted = false, ended = false, wake = false;
};

RouteTable make_routes() {
  RouteTable t;
  std::string error;
  EXPECT_EQ(t.add(Method::kGet, "/", error), 0u) << error;
  return t;
}

class TlsLayerTest : public ::testing::Test {
 protected:
  TlsLayerTest() : routes_(make_routes()) { dispatcher_.answer_all_sync(); }
  ~TlsLayerTest() override {
    if (layer_) {
      layer_->on_transport_closed();
      layer_->release();
    }
    dispatcher_.complete_all();
  }

  /// The server's side, offering `alpn`, with the protocol a TLS connection carries (HttpSwitch, no h2c sniffing).
  void start(std::vector<std::string> alpn = {"h2", "http/1.1"}) {
    auto ctx = TlsContext::create(TlsSettings{{{certs_.a, "", ""}}, "", 0, "", std::move(alpn)});
    layer_ = new TlsLayer(ctx, wire_, env_, std::span<char>(plain_, sizeof plain_));
    layer_->carry(new HttpSwitch(env_, *layer_, "192.0.2.9", false));
  }

  /// Ciphertext from the client, as one socket read into the loop's buffer; then the loop's next turn if asked.
  void read(const std::string& bytes) {
    if (bytes.empty()) return;
    std::string copy = bytes;
    layer_->on_input(copy.data(), copy.size());
    while (std::exchange(wire_.wake, false)) layer_->on_later();
  }

  /// Runs the handshake to its end; true when both sides are done.
  bool handshake(TlsClient& client) {
    for (int round = 0; round < 10; ++round) {
      bool done = client.handshake();
      read(client.take_output());
      client.put(wire_.take_sent());
      if (done && layer_->tls()) return true;
    }
    return false;
  }

  /// Carries an HTTP/2 client's bytes through TLS both ways until neither side has anything more.
  void exchange_h2(TlsClient& tls, H2Client& h2) {
    for (int round = 0; round < 50; ++round) {
      std::string up = h2.take_output();
      if (!up.empty()) tls.write(up);
      read(tls.take_output());
      std::string down_tls = wire_.take_sent();
      tls.put(down_tls);
      std::string down = tls.read();
      h2.receive(down);
      if (up.empty() && down_tls.empty()) return;
    }
    ADD_FAILURE() << "the exchange did not settle";
  }

  TestCertificates certs_;
  ServerConfig config_;
  RouteTable routes_;
  ScriptedDispatcher dispatcher_;
  ConnectionEnv env_{config_, routes_, dispatcher_, {}, 1000, 1'700'000'000, 0, nullptr};
  RecordingWire wire_;
  TlsLayer* layer_ = nullptr;
  char plain_[64 * 1024];
};

TEST_F(TlsLayerTest, HandshakeThenHttp11) {
  start();
  TlsClient client("a.test", {"http/1.1"});
  ASSERT_TRUE(handshake(client));
  ASSERT_NE(layer_->tls(), nullptr);
  EXPECT_EQ(layer_->tls()->alpn, "http/1.1");
  EXPECT_EQ(layer_->tls()->server_name, "a.test");
  EXPECT_EQ(client.alpn(), "http/1.1");
  client.write("GET /?tls=1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
  read(client.take_output());
  client.put(wire_.take_sent());
  std::string plain = client.read();
  std::vector<ParsedResponse> rs;
  std::string error;
  ASSERT_TRUE(testing::split_responses(plain, [](size_t, int) { return false; }, rs, error)) << error << plain;
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 200);
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(dispatcher_.seen()[0].target, "/?tls=1");
  EXPECT_EQ(rs[0].body, ScriptedDispatcher::answer_body(dispatcher_.seen()[0]));
  EXPECT_TRUE(wire_.failures.empty());
  EXPECT_FALSE(wire_.closed);
}

TEST_F(TlsLayerTest, AlpnH2ReachesTheProtocolAndHttp2IsSpokenInsideTls) {
  start();
  TlsClient tls("a.test", {"h2", "http/1.1"});
  ASSERT_TRUE(handshake(tls));
  EXPECT_EQ(tls.alpn(), "h2");
  EXPECT_EQ(layer_->tls()->alpn, "h2");
  H2Client h2;
  int32_t sid = h2.request("GET", "/?h2=1");
  exchange_h2(tls, h2);
  EXPECT_EQ(h2.recv_error(), 0);
  ASSERT_FALSE(h2.frames().empty());
  EXPECT_EQ(h2.frames()[0].type, NGHTTP2_SETTINGS) << "the server speaks HTTP/2 first: h2 was agreed";
  EXPECT_EQ(h2.response(sid).status, 200);
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(h2.response(sid).body, ScriptedDispatcher::answer_body(dispatcher_.seen()[0]));
}

TEST_F(TlsLayerTest, PlainHttpToTheTlsPortIsRefusedInPlainHttp) {
  start();
  read("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
  EXPECT_EQ(wire_.sent.rfind("HTTP/1.1 400 ", 0), 0u) << wire_.sent;
  EXPECT_NE(wire_.sent.find("https://"), std::string::npos);
  EXPECT_TRUE(wire_.closed);
  EXPECT_TRUE(dispatcher_.seen().empty());
  EXPECT_EQ(layer_->tls(), nullptr);
  size_t before = wire_.sent.size();
  read("GET /again HTTP/1.1\r\nHost: a.test\r\n\r\n");  // what follows is discarded
  EXPECT_EQ(wire_.sent.size(), before);
  EXPECT_TRUE(dispatcher_.seen().empty());
}

TEST_F(TlsLayerTest, ClientCloseNotifyEndsInputAndIsAnswered) {
  start();
  TlsClient client("a.test", {"http/1.1"});
  ASSERT_TRUE(handshake(client));
  SSL_shutdown(client.ssl_);  // the client's close_notify
  read(client.take_output());
  EXPECT_TRUE(wire_.ended) << "the wire is told the peer ended TLS";
  EXPECT_FALSE(wire_.aborted);
  EXPECT_TRUE(wire_.closed) << "the idle HTTP/1.1 connection closes at the peer's end";
  client.put(wire_.take_sent());
  client.read();
  EXPECT_TRUE(SSL_get_shutdown(client.ssl_) & SSL_RECEIVED_SHUTDOWN) << "the server's close_notify went out";
  EXPECT_EQ(wire_.bytes_after_close, 0u);
}

TEST_F(TlsLayerTest, ServerCloseSendsCloseNotify) {
  start();
  TlsClient client("a.test", {"http/1.1"});
  ASSERT_TRUE(handshake(client));
  client.write("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  read(client.take_output());
  EXPECT_TRUE(wire_.closed);
  client.put(wire_.take_sent());
  std::string plain = client.read();
  EXPECT_EQ(plain.rfind("HTTP/1.1 200 ", 0), 0u) << plain;
  EXPECT_TRUE(SSL_get_shutdown(client.ssl_) & SSL_RECEIVED_SHUTDOWN);
}

TEST_F(TlsLayerTest, BrokenHandshakeIsReportedAndClosed) {
  start();
  read(std::string("\x16\x03\x01\x00\x05hello", 10) + std::string(200, 'z'));
  ASSERT_EQ(wire_.failures.size(), 1u);
  EXPECT_NE(wire_.failures[0].find("TLS handshake failed"), std::string::npos) << wire_.failures[0];
  EXPECT_TRUE(wire_.closed || wire_.aborted);
  EXPECT_EQ(layer_->tls(), nullptr);
  EXPECT_TRUE(dispatcher_.seen().empty());
}

TEST_F(TlsLayerTest, HandshakeNotDoneInTimeAborts) {
  start();
  TlsClient client("a.test", {"http/1.1"});
  client.handshake();
  read(client.take_output());  // the ClientHello, and nothing more
  EXPECT_EQ(layer_->deadline(), 1000u + config_.header_timeout_ms) << "the handshake is due within header_timeout";
  EXPECT_FALSE(wire_.aborted);
  env_.now_ms = 1000 + config_.header_timeout_ms;
  layer_->on_timeout();
  EXPECT_TRUE(wire_.aborted);
}

}  // namespace
}  // namespace tiercel
