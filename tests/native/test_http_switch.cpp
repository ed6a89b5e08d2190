// GoogleTest suite for HttpSwitch (core/http_switch.h): a cleartext connection that opens with the HTTP/2 preface
// speaks HTTP/2 (prior knowledge, h2c), anything else HTTP/1.1, however the first bytes are split across reads; over
// TLS the ALPN result decides. Input is delivered as TcpConnection delivers a socket's; HTTP/2 answers are read by a
// real nghttp2 client, HTTP/1.1 answers by the response splitter.
#include "core/http_switch.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/http2.h"
#include "core/memory_transport.h"
#include "core/tls.h"
#include "h2_client.h"
#include "response_splitter.h"
#include "scripted_dispatcher.h"

namespace tiercel {
namespace {

using testing::H2Client;
using testing::ParsedResponse;
using testing::ScriptedDispatcher;

constexpr uint32_t kRoot = 0, kUpload = 1;

RouteTable make_routes() {
  RouteTable t;
  std::string error;
  EXPECT_EQ(t.add(Method::kGet, "/", error), kRoot) << error;
  EXPECT_EQ(t.add(Method::kPost, "/upload", error), kUpload) << error;
  return t;
}

std::vector<ParsedResponse> http1_responses(std::string_view stream) {
  std::vector<ParsedResponse> out;
  std::string error;
  EXPECT_TRUE(testing::split_responses(stream, [](size_t, int) { return false; }, out, error)) << error;
  return out;
}

class HttpSwitchTest : public ::testing::Test {
 protected:
  HttpSwitchTest() : routes_(make_routes()) { dispatcher_.answer_all_sync(); }
  ~HttpSwitchTest() override {
    if (switch_) {
      switch_->on_transport_closed();
      transport_.mark_dead();
      switch_->release();
    }
    dispatcher_.complete_all();
  }

  /// `sniff_h2c`: a cleartext connection (true) or one over TLS (false).
  void start(bool sniff_h2c) { switch_ = new HttpSwitch(env_, transport_, "198.51.100.4", sniff_h2c); }

  /// One read of `bytes`, made as TcpConnection makes it: into the protocol's own space when it asks for it,
  /// else into the loop's buffer. Then the loop's next turn, when asked for.
  void read(std::string_view bytes) {
    while (!bytes.empty()) {
      auto [p, n] = switch_->own_input_space();
      size_t take;
      if (p != nullptr) {
        take = std::min(n, bytes.size());
        std::memcpy(p, bytes.data(), take);
        switch_->on_own_input(take);
      } else {
        take = std::min(sizeof loop_buffer_, bytes.size());
        std::memcpy(loop_buffer_, bytes.data(), take);
        switch_->on_input(loop_buffer_, take);
      }
      bytes.remove_prefix(take);
    }
    while (transport_.take_wake()) switch_->on_later();
  }

  /// Carries the HTTP/2 client's bytes (in reads of at most `piece` bytes) and the server's answers.
  void exchange_h2(H2Client& client, size_t piece = SIZE_MAX) {
    for (int round = 0; round < 50; ++round) {
      std::string up = client.take_output();
      for (size_t at = 0; at < up.size(); at += piece) read(std::string_view(up).substr(at, piece));
      std::string down = transport_.take_sent();
      client.receive(down);
      if (up.empty() && down.empty()) return;
    }
    ADD_FAILURE() << "the exchange did not settle";
  }

  ServerConfig config_;
  RouteTable routes_;
  ScriptedDispatcher dispatcher_;
  ConnectionEnv env_{config_, routes_, dispatcher_, {}, 1000, 1'700'000'000, 0, nullptr};
  MemoryTransport transport_;
  HttpSwitch* switch_ = nullptr;
  char loop_buffer_[64 * 1024];
};

TEST_F(HttpSwitchTest, Http11RequestIsAnsweredInHttp11) {
  start(true);
  read("GET /?v=1 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto rs = http1_responses(transport_.sent());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 200);
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(dispatcher_.seen()[0].target, "/?v=1");
  EXPECT_EQ(rs[0].body, ScriptedDispatcher::answer_body(dispatcher_.seen()[0]));
}

TEST_F(HttpSwitchTest, PrefaceInOneReadSwitchesToHttp2) {
  start(true);
  EXPECT_TRUE(transport_.sent().empty()) << "nothing is said before the client's first bytes";
  H2Client client;
  int32_t sid = client.request("GET", "/?v=2");
  exchange_h2(client);
  ASSERT_FALSE(client.frames().empty());
  EXPECT_EQ(client.frames()[0].type, NGHTTP2_SETTINGS);
  EXPECT_EQ(client.recv_error(), 0);
  EXPECT_EQ(client.response(sid).status, 200);
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(client.response(sid).body, ScriptedDispatcher::answer_body(dispatcher_.seen()[0]));
}

TEST_F(HttpSwitchTest, PrefaceSplitByteByByteStillSwitchesToHttp2) {
  start(true);
  H2Client client;
  int32_t sid = client.request("GET", "/?v=3");
  exchange_h2(client, 1);  // "P", "R", "I", ... each in a read of its own
  EXPECT_EQ(client.recv_error(), 0);
  EXPECT_EQ(client.response(sid).status, 200);
  EXPECT_TRUE(client.response(sid).closed);
}

TEST_F(HttpSwitchTest, HeldFirstBytesThatAreHttp11GoFirst) {
  start(true);
  read("P");  // could be PRI (HTTP/2) or POST: held
  read("O");  // POST after all: the held "P" must not be lost
  EXPECT_TRUE(transport_.sent().empty());
  read("ST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  auto rs = http1_responses(transport_.sent());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 200);
  ASSERT_EQ(dispatcher_.seen().size(), 1u);
  EXPECT_EQ(dispatcher_.seen()[0].method, "POST");
  EXPECT_EQ(dispatcher_.seen()[0].body, "hello");
}

TEST_F(HttpSwitchTest, OverTlsThePrefaceIsNotSniffed) {
  start(false);  // TLS without ALPN h2: HTTP/1.1, whatever the bytes
  read(kHttp2Preface);
  std::string out = transport_.sent();
  EXPECT_EQ(out.rfind("HTTP/1.1 4", 0), 0u) << "refused as HTTP/1.1: " << out;
  EXPECT_TRUE(transport_.close_requested());
}

TEST_F(HttpSwitchTest, AlpnH2SwitchesAtTheHandshake) {
  start(false);
  TlsInfo info;
  info.alpn = "h2";
  switch_->on_secured(info);
  EXPECT_FALSE(transport_.sent().empty()) << "the server's SETTINGS go out as soon as h2 is agreed";
  H2Client client;
  int32_t sid = client.request("GET", "/?v=4");
  exchange_h2(client);
  EXPECT_EQ(client.recv_error(), 0);
  ASSERT_FALSE(client.frames().empty());
  EXPECT_EQ(client.frames()[0].type, NGHTTP2_SETTINGS);
  EXPECT_EQ(client.response(sid).status, 200);
}

TEST_F(HttpSwitchTest, AlpnHttp11StaysHttp11) {
  start(false);
  TlsInfo info;
  info.alpn = "http/1.1";
  switch_->on_secured(info);
  EXPECT_TRUE(transport_.sent().empty());
  read("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  auto rs = http1_responses(transport_.sent());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 200);
}

}  // namespace
}  // namespace tiercel
