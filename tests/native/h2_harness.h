// Test support for driving Http2Connection (core/http2.h) with a real peer: a server connection over the in-memory
// transport and an nghttp2 client session (h2_client.h), the test playing the loop. The application is a
// ScriptedDispatcher unless a test hands the connection a dispatcher of its own (`use`).
#pragma once

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/http2.h"
#include "core/memory_transport.h"
#include "h2_client.h"
#include "scripted_dispatcher.h"

namespace tiercel::testing {

constexpr uint32_t kRoot = 0, kUpload = 1;
constexpr std::string_view kPeer = "203.0.113.7";

inline RouteTable make_h2_routes() {
  RouteTable t;
  std::string error;
  EXPECT_EQ(t.add(Method::kGet, "/", error), kRoot) << error;
  EXPECT_EQ(t.add(Method::kPost, "/upload", error), kUpload) << error;
  return t;
}

/// Hands every call on to the dispatcher a test chose.
class ForwardingDispatcher final : public Dispatcher {
 public:
  explicit ForwardingDispatcher(Dispatcher* to) : to(to) {}
  void dispatch(Responder& conn, uint64_t seq, const RoutedRequest& req) override { to->dispatch(conn, seq, req); }
  void cancel(void* token) noexcept override { to->cancel(token); }
  void on_writable(void* token) noexcept override { to->on_writable(token); }
  Dispatcher* to;
};

/// A server connection and the client talking to it; the test plays the loop (on_later() after wake_later()).
class Http2Harness : public ::testing::Test {
 protected:
  Http2Harness() : routes_(make_h2_routes()) { dispatcher_.answer_all_sync(); }
  ~Http2Harness() override {
    if (conn_) {
      conn_->on_transport_closed();  // as TcpConnection's close: the transport goes, then the connection
      transport_.mark_dead();
      conn_.reset();
    }
    dispatcher_.complete_all();  // late answers to what was still deferred
  }

  /// The application is `d` from now on.
  void use(Dispatcher& d) { forward_.to = &d; }

  /// Starts the server's side (its SETTINGS go out at once, as HttpSwitch starts it) and the client.
  void start(std::vector<nghttp2_settings_entry> settings = {}, bool auto_window = true) {
    conn_ = std::make_unique<Http2Connection>(env_, transport_, std::string(kPeer));
    conn_->flush();
    client_ = std::make_unique<H2Client>(std::move(settings), auto_window);
  }

  /// Carries bytes both ways until neither side has anything more to say.
  void exchange() {
    for (int round = 0; round < 100; ++round) {
      std::string up = client_->take_output();
      if (!up.empty() && !transport_.close_requested()) conn_->on_read(up);
      while (transport_.take_wake()) conn_->on_later();
      std::string down = transport_.take_sent();
      client_->receive(down);
      if (up.empty() && down.empty()) return;
    }
    ADD_FAILURE() << "the exchange did not settle";
  }

  /// Sends raw bytes (a frame the client library would never make) as if from the client.
  void send_raw(std::string_view bytes) {
    std::string copy(bytes);
    conn_->on_read(copy);
    while (transport_.take_wake()) conn_->on_later();
    client_->receive(transport_.take_sent());
  }

  bool got_goaway(uint32_t code) const {
    for (const H2Frame& f : client_->frames_of(NGHTTP2_GOAWAY)) {
      if (f.error_code == code) return true;
    }
    return false;
  }

  ServerConfig config_;
  RouteTable routes_;
  ScriptedDispatcher dispatcher_;
  ForwardingDispatcher forward_{&dispatcher_};
  ConnectionEnv env_{config_, routes_, forward_, {}, 1000, 1'700'000'000, 0, nullptr};
  MemoryTransport transport_;
  std::unique_ptr<Http2Connection> conn_;
  std::unique_ptr<H2Client> client_;
};

}  // namespace tiercel::testing
